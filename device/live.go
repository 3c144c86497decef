package device

import (
	"context"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/uplink/live"
)

// openLive builds live view from the live: section, or returns nil when
// max_viewers is 0 (live view off) or it cannot start (its UDP port is
// taken: logged, and the gateway runs on without it). Its live.* commands
// go on the router; its WHEP routes on the local API (Handler).
func (g *Gateway) openLive() *live.Manager {
	lc := g.cfg.Live
	if lc.MaxViewers <= 0 {
		return nil
	}
	servers := make([]live.ICEServer, 0, len(lc.ICEServers))
	for _, s := range lc.ICEServers {
		servers = append(servers, live.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential.Reveal()})
	}
	perCamera := map[string]int{}
	var subs []*camera.Hub
	for _, c := range g.cfg.Cameras {
		perCamera[c.Name] = c.MaxViewers
		if c.SubstreamURL != "" {
			// Pulled only while a low-quality viewer watches; the main
			// hub does the health checks and raises the camera's events.
			subs = append(subs, camera.NewHub(camera.HubOptions{
				Name: c.Name, URL: c.SubstreamURL.Reveal(), CheckEvery: -1,
				Source: camera.Options{TLSFingerprint: c.TLSFingerprint},
				Logger: g.log.With("part", "camera", "stream", "sub"),
			}))
		}
	}
	nat := make([]live.NAT1To1, 0, len(lc.NAT1To1))
	for _, r := range lc.NAT1To1 {
		nat = append(nat, live.NAT1To1{External: r.External, Local: r.Local, As: r.As, KeepLocal: r.KeepLocal})
	}
	opts := live.Options{
		Cameras:            g.Camera,
		ICEServers:         servers,
		ForceRelay:         lc.ForceRelay,
		MaxViewers:         lc.MaxViewers,
		UDPPort:            lc.UDPPort,
		Interfaces:         lc.Interfaces,
		NAT1To1:            nat,
		LoopbackCandidates: lc.LoopbackCandidates,
		MDNS:               lc.MDNS,
		MaxSession:         lc.MaxSession,
		CameraMaxViewers:   func(name string) int { return perCamera[name] },
		WHEPToken:          g.cfg.API.Token.Reveal(),
		Publish:            g.session.Publish,
		Location:           g.cfg.Gateway.Location,
		Substreams:         subs,
		Logger:             g.log,
	}
	if g.rec != nil {
		// A live.offer with "from" plays the camera's recordings (continuous
		// segments and clips) over the same WebRTC path: cheaper over 4G
		// than fetching the files when only part of them is watched.
		opts.Recordings = g.rec.store
	}
	m, err := live.New(opts)
	if err != nil && opts.UDPPort != 0 {
		// The port is taken (another gateway on this machine, a stale
		// process): live view on a free port beats none, though a port
		// forwarded on the router then does not reach it.
		g.log.Warn("live view: UDP port taken, using a free one", "udp_port", opts.UDPPort, "err", err)
		opts.UDPPort = 0
		m, err = live.New(opts)
	}
	if err != nil {
		// Alarms and events matter more than live view: run without it.
		g.log.Error("live view off: cannot start it", "err", err)
		return nil
	}
	m.Register(g.router)
	return m
}

// runLive serves live view until ctx ends and returns a func that waits
// for its sessions to close.
func (g *Gateway) runLive(ctx context.Context) (wait func()) {
	if g.live == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.live.Run(ctx) // returns only when ctx ends
	}()
	return func() { <-done }
}

// viewers counts live sessions for telemetry.
func (g *Gateway) viewers() int {
	if g.live == nil {
		return 0
	}
	return g.live.Viewers()
}

// liveBytesToday is live view's media sent today, for telemetry.
func (g *Gateway) liveBytesToday() uint64 {
	if g.live == nil {
		return 0
	}
	return g.live.BytesToday()
}

// liveStats lists the live sessions for /api/status (nil when off).
func (g *Gateway) liveStats() []live.SessionStats {
	if g.live == nil {
		return nil
	}
	return g.live.AllStats()
}
