package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/camera/snapshot"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/wire"
)

// maxSnapshotFetches bounds the fetches running at once, so a sensor that
// chatters cannot start goroutines and hold JPEGs without limit. An event
// that finds every slot busy is stored at once without a snapshot, with the
// reason in its attrs.
const maxSnapshotFetches = 4

// snapshots is the gateway's snapshot taking.
//
// Design: an edge whose sensor is in a camera's snapshot_on is not put in
// the pump's batch; a goroutine fetches the JPEG (bounded by the fetch
// timeout, 5 s) and then stores the event with the JPEG as its outbox
// attachment, or, when the fetch fails, the event alone with
// snapshot: false and the error. So other sensors' events are never delayed
// by a camera, and the event and its JPEG are one durable record (same
// bound, overflow and ack), published event first. The price: the event's
// seq is given when the fetch ends, so seq order may differ from edge order
// by up to the fetch timeout; the event's time is the edge's time.
type snapshots struct {
	fetch    snapshot.Fetcher
	bySensor map[string]config.Camera // sensor name → first camera listing it with a snapshot_url
	byCamera map[string]config.Camera
	slots    chan struct{}
	wg       sync.WaitGroup
	auth     snapshotAuth // cameras whose snapshot_url took the password as Basic in clear
}

func newSnapshots(cams []config.Camera) *snapshots {
	s := &snapshots{
		bySensor: map[string]config.Camera{},
		byCamera: map[string]config.Camera{},
		slots:    make(chan struct{}, maxSnapshotFetches),
	}
	for _, c := range cams {
		s.byCamera[c.Name] = c
		if c.SnapshotURL == "" {
			continue
		}
		for _, name := range c.SnapshotOn {
			if _, ok := s.bySensor[name]; !ok {
				s.bySensor[name] = c
			}
		}
	}
	return s
}

// take fetches cam's JPEG within the fetch timeout, if a slot is free.
func (s *snapshots) take(ctx context.Context, cam config.Camera) ([]byte, error) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		return nil, errors.New("too many snapshots in progress")
	}
	jpeg, basic, err := s.fetch.FetchAuth(ctx, cam.SnapshotURL.Reveal())
	s.auth.note(cam.Name, basic, err == nil)
	return jpeg, err
}

// snapshotEdge stores ev with a snapshot of cam, or without one and with
// the error.
func (g *Gateway) snapshotEdge(ev *wire.Event, cam config.Camera) {
	// Not tied to the gateway's context: an edge seen before a stop is
	// stored, and the fetch is bounded by its own timeout.
	ctx := context.Background()
	jpeg, fetchErr := g.snaps.take(ctx, cam)
	if _, err := g.storeSnapshot(ctx, ev, cam.Name, jpeg, fetchErr); err != nil {
		// The disk refuses for now: the event goes the way of every edge
		// (queued, retried, or counted in capture_failed), its JPEG lost.
		g.log.Error("event with snapshot not stored; queued without it", "sensor", ev.Source, "err", err)
		ev.Attrs["snapshot"] = false
		ev.Attrs["snapshot_error"] = "not stored: " + err.Error()
		g.captures.add(ev)
	} else {
		g.noteStored(ev)
	}
}

// storeSnapshot appends ev with the outcome of a fetch in its attrs.
func (g *Gateway) storeSnapshot(ctx context.Context, ev *wire.Event, camera string, jpeg []byte, fetchErr error) (uint64, error) {
	if ev.Attrs == nil {
		ev.Attrs = map[string]any{}
	}
	ev.Attrs["camera"] = camera
	if fetchErr != nil {
		// Fetch errors name the URL without its credentials.
		g.log.Warn("snapshot failed", "camera", camera, "err", fetchErr)
		ev.Attrs["snapshot"] = false
		ev.Attrs["snapshot_error"] = fetchErr.Error()
		return g.outbox.Append(ctx, ev)
	}
	ev.Attrs["snapshot"] = true
	return g.outbox.AppendAttached(ctx, ev, jpeg)
}

// SnapshotArgs are the snapshot command's arguments.
type SnapshotArgs struct {
	Camera string `json:"camera"`
}

// SnapshotReply is the snapshot command's reply: the seq of the snapshot
// event, whose JPEG follows on snapshot/{seq}.
type SnapshotReply struct {
	Seq uint64 `json:"seq"`
}

// snapshotCommand takes a snapshot now and stores it as a snapshot event.
// A failed fetch is reported to the caller and not stored.
func (g *Gateway) snapshotCommand(ctx context.Context, args json.RawMessage) (any, error) {
	var a SnapshotArgs
	if err := uplink.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	cam, ok := g.snaps.byCamera[a.Camera]
	if !ok {
		names := make([]string, 0, len(g.snaps.byCamera))
		for n := range g.snaps.byCamera {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("unknown camera %q (configured: %v)", a.Camera, names)
	}
	if cam.SnapshotURL == "" {
		return nil, fmt.Errorf("camera %q has no snapshot_url", a.Camera)
	}
	jpeg, err := g.snaps.take(ctx, cam)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", a.Camera, err)
	}
	ev := &wire.Event{Kind: wire.KindSnapshot, Source: a.Camera, Attrs: map[string]any{"camera": a.Camera, "snapshot": true}}
	// Filled as Capture does, but stored with the attachment.
	ev.Time, ev.UptimeMS = time.Now(), g.uptime().Milliseconds()
	ev.ClockSynced, ev.Boot = ClockSynced(ev.Time), g.boot
	seq, err := g.outbox.AppendAttached(ctx, ev, jpeg)
	if err != nil {
		return nil, fmt.Errorf("store snapshot of %s: %w", a.Camera, err)
	}
	return SnapshotReply{Seq: seq}, nil
}
