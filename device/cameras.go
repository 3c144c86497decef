package device

import (
	"context"
	"sync"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/uplink/wire"
)

// openCameras builds one hub per configured camera. Nothing connects until
// runCameras, and then only preloaded cameras or those with a consumer.
func (g *Gateway) openCameras() []*camera.Hub {
	hubs := make([]*camera.Hub, 0, len(g.cfg.Cameras))
	for _, cc := range g.cfg.Cameras {
		name := cc.Name
		hubs = append(hubs, camera.NewHub(camera.HubOptions{
			Name:         name,
			URL:          cc.URL.Reveal(),
			Source:       camera.Options{TLSFingerprint: cc.TLSFingerprint},
			Preload:      cc.Preload,
			OfflineAfter: cc.OfflineAfter,
			Logger:       g.log.With("part", "camera"),
			OnEvent:      func(kind string, attrs map[string]any) { g.cameraEvent(name, kind, attrs) },
		}))
	}
	return hubs
}

// cameraEvent hands a hub's health event to the capture queue, which makes
// it durable like any sensor edge.
func (g *Gateway) cameraEvent(name, kind string, attrs map[string]any) {
	e := &wire.Event{Source: name, Attrs: attrs}
	switch kind {
	case camera.EventOffline:
		e.Kind, e.State = wire.KindCameraOffline, wire.StateActive
	case camera.EventOnline:
		e.Kind, e.State = wire.KindCameraOnline, wire.StateInactive
	default:
		return
	}
	// Queued, not stored here: the hub's loop never waits for an fsync, and
	// an event the disk refuses for now is retried, or counted in a
	// capture_failed event, like a sensor edge.
	g.stamp(e)
	g.captures.add(e)
}

// runCameras runs every hub until ctx ends; the returned func waits for them.
func (g *Gateway) runCameras(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, h := range g.cameras {
		wg.Go(func() { _ = h.Run(ctx) }) // Run only ends with ctx
	}
	return wg.Wait
}

// Camera returns the hub of the named camera, for live view and snapshots.
func (g *Gateway) Camera(name string) (*camera.Hub, bool) {
	for _, h := range g.cameras {
		if h.Name() == name {
			return h, true
		}
	}
	return nil, false
}

// cameraStates is the telemetry's name → state map.
func (g *Gateway) cameraStates() map[string]string {
	m := make(map[string]string, len(g.cameras))
	for _, h := range g.cameras {
		m[h.Name()] = string(h.State())
	}
	return m
}

// cameraStatuses is the cameras part of Status.
func (g *Gateway) cameraStatuses() []camera.HubStatus {
	out := make([]camera.HubStatus, 0, len(g.cameras))
	for _, h := range g.cameras {
		st := h.Status()
		st.Warnings = append(st.Warnings, g.snaps.auth.warnings(h.Name())...)
		out = append(out, st)
	}
	return out
}
