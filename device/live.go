package device

import (
	"context"

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
	m, err := live.New(live.Options{
		Cameras:    g.Camera,
		ICEServers: servers,
		ForceRelay: lc.ForceRelay,
		MaxViewers: lc.MaxViewers,
		Logger:     g.log,
	})
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

// liveStats lists the live sessions for /api/status (nil when off).
func (g *Gateway) liveStats() []live.SessionStats {
	if g.live == nil {
		return nil
	}
	return g.live.AllStats()
}
