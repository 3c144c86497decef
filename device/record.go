package device

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/uplink/wire"
)

// recordingMargin is what the clip store leaves free beyond the outbox's
// own need: room for logs, the sidecar files and the uploader's state.
const recordingMargin = 16 << 20

// outboxHeadroom is the outbox's reserve file and the headroom it leaves
// the rest of the gateway, at their largest (uplink/outbox: 4 MiB each).
const outboxHeadroom = 8 << 20

// recording is the gateway's recording part: the clip store and one
// recorder per camera with a record key (docs/recording.md).
type recording struct {
	// store is nil when it could not be opened (err says why): the
	// gateway runs on without recording.
	store    *record.Store
	err      string
	recs     map[string]*record.Recorder   // camera → recorder
	bySensor map[string][]*record.Recorder // sensor → recorders whose clip_on lists it
	all      []*record.Recorder
	// seqs maps a causing event to the seq the outbox gave it: set by the
	// goroutine that stored the event (noteStored), read when the clip is
	// complete.
	seqs sync.Map // *wire.Event → *atomic.Uint64
}

// openRecording opens the clip store when a camera records; the
// recorders start with Run. g.cameras must be open.
func (g *Gateway) openRecording() error {
	var cams []config.Camera
	for _, c := range g.cfg.Cameras {
		if c.Record != "" {
			cams = append(cams, c)
		}
	}
	if len(cams) == 0 {
		return nil
	}
	rc := g.cfg.Recording
	keepFree := g.outboxNeed
	if !samePartition(rc.Dir, g.cfg.Gateway.DataDir) {
		// A partition of its own (a USB stick, a second card): the outbox
		// is elsewhere and needs nothing there.
		keepFree = func() int64 { return recordingMargin }
	}
	st, err := record.OpenStore(record.StoreOptions{
		Dir:      rc.Dir,
		MaxBytes: rc.MaxBytes,
		MaxAge:   rc.MaxAge,
		KeepFree: keepFree,
		Location: g.cfg.Gateway.Location,
		Logger:   g.log.With("part", "recording"),
		// Evidence evicted before it left the site is said, never silent.
		OnEvidenceLost: g.clipLost,
	})
	if err != nil {
		// The site must stay guarded: run on without recording, and say
		// so (event, status, log) rather than refuse to start.
		g.log.Error("recording off: the clip store cannot be opened; fix or replace the card, or move the recordings directory aside",
			"dir", rc.Dir, "error", err)
		g.rec = &recording{err: fmt.Sprintf("recording off: %v", err)}
		e := &wire.Event{Kind: record.KindRecordingFailed, Source: g.cfg.Gateway.ID, Attrs: map[string]any{"error": g.rec.err}}
		g.stamp(e)
		g.captures.add(e)
		return nil
	}
	r := &recording{store: st, recs: map[string]*record.Recorder{}, bySensor: map[string][]*record.Recorder{}}
	for _, c := range cams {
		hub, ok := g.Camera(c.Name)
		if !ok {
			continue
		}
		mode := record.ModeClips
		if c.Record == config.RecordContinuous {
			mode = record.ModeContinuous
		}
		pre := c.PreRoll
		if pre == 0 { // pre_roll: 0s (the recorder's zero is its default)
			pre = record.NoPreRoll
		}
		rec := record.NewRecorder(record.RecorderOptions{
			Camera: c.Name, Hub: hub, Store: st, Mode: mode,
			PreRoll: pre, PostRoll: c.PostRoll, MaxClip: c.MaxClip, Segment: rc.Segment,
			OnClip: g.clipDone,
			Logger: g.log.With("part", "recording"),
		})
		r.recs[c.Name] = rec
		r.all = append(r.all, rec)
		for _, s := range c.ClipOn {
			r.bySensor[s] = append(r.bySensor[s], rec)
		}
	}
	g.rec = r
	return nil
}

// recordingOn tells whether the gateway records (a camera has a record
// key and the clip store is open).
func (g *Gateway) recordingOn() bool { return g.rec != nil && g.rec.store != nil }

// samePartition tells whether dir (made if missing) is on the file
// system of dataDir; when either cannot be read it answers yes, the safe
// side (the outbox keeps its room).
func samePartition(dir, dataDir string) bool {
	_ = os.MkdirAll(dir, 0o750)
	a, err1 := os.Stat(dir)
	b, err2 := os.Stat(dataDir)
	if err1 != nil || err2 != nil {
		return true
	}
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return !ok1 || !ok2 || sa.Dev == sb.Dev
}

// outboxNeed is what the clip store must leave free on the data partition:
// the room the outbox may still grow into up to its bound, its reserve and
// headroom, and a margin. The outbox comes first: events are the record.
func (g *Gateway) outboxNeed() int64 {
	held := int64(0)
	if fi, err := os.Stat(filepath.Join(g.cfg.Gateway.DataDir, OutboxFile)); err == nil {
		held = fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			held = int64(st.Blocks) * 512
		}
	}
	return max(0, g.cfg.Outbox.MaxBytes-held) + outboxHeadroom + recordingMargin
}

// runRecording starts the recorders (each keeps its camera pulled) and
// announces the complete clips whose clip event was never stored: a crash
// cut them (Recovered), or came between a clip's end and its event's
// append. The returned func waits for them and closes the store.
func (g *Gateway) runRecording(ctx context.Context) (wait func()) {
	if !g.recordingOn() {
		return func() {}
	}
	for _, in := range g.rec.store.Unannounced() {
		g.clipDone(in)
	}
	var wg sync.WaitGroup
	for _, r := range g.rec.all {
		wg.Go(func() { _ = r.Run(ctx) })
	}
	return func() {
		wg.Wait()
		_ = g.rec.store.Close()
	}
}

// recordEdge asks the cameras whose clip_on lists the sensor of ev (an
// active edge) for a clip; ev's seq becomes the clip's for_seq.
func (g *Gateway) recordEdge(ev *wire.Event) {
	if !g.recordingOn() || ev.State != wire.StateActive {
		return
	}
	recs := g.rec.bySensor[ev.Source]
	if len(recs) == 0 {
		return
	}
	seq := g.rec.watch(ev)
	for _, r := range recs {
		r.Trigger(record.Trigger{Time: ev.Time, Reason: record.ReasonEvent, Upload: record.UploadOnRequest, Seq: seq})
	}
}

// recordAlarm asks every recording camera for a clip when the alarm logic
// triggers (an armed-mode intrusion or a 24-hour zone: panic, tamper).
// Those clips are uploaded at once: the evidence must leave the site
// before the board can be smashed. Test-mode alarms stay on request.
func (g *Gateway) recordAlarm(ev *wire.Event) {
	if !g.recordingOn() || ev.Kind != alarm.KindAlarm || ev.State != alarm.Triggered {
		return
	}
	upload := record.UploadAuto
	if ev.Test {
		upload = record.UploadOnRequest
	}
	seq := g.rec.watch(ev)
	for _, r := range g.rec.all {
		r.Trigger(record.Trigger{Time: ev.Time, Reason: record.ReasonAlarm, Upload: upload, Seq: seq})
	}
}

// watch registers ev so that noteStored records its seq.
func (r *recording) watch(ev *wire.Event) func() uint64 {
	v := new(atomic.Uint64)
	r.seqs.Store(ev, v)
	return v.Load
}

// noteStored is told by whoever stored evs (in the goroutine that did)
// that they now have their seqs.
func (g *Gateway) noteStored(evs ...*wire.Event) {
	g.uploadStored(evs) // automatic clip uploads (upload.go)
	if !g.recordingOn() {
		return
	}
	for _, ev := range evs {
		if v, ok := g.rec.seqs.LoadAndDelete(ev); ok {
			v.(*atomic.Uint64).Store(ev.Seq)
		}
		// The clip event is durable: the clip is not announced again at
		// the next start. A crash before this line announces it twice,
		// never zero times; the station keeps a clip by its id.
		if id, ok := ev.Attrs[wire.ClipAttrID].(string); ok && ev.Kind == wire.KindClip {
			if err := g.rec.store.MarkAnnounced(id); err != nil && !errors.Is(err, record.ErrNotFound) {
				g.log.Warn("clip announcement not recorded; it is announced again at the next start", "clip", id, "error", err)
			}
		}
	}
}

// clipLost reports evidence the clip store evicted before it was
// uploaded (record.KindClipLost): the station must know the recording of
// an alarm is gone, not find it missing.
func (g *Gateway) clipLost(in record.Info) {
	e := &wire.Event{Kind: record.KindClipLost, Source: in.Camera, Attrs: in.Attrs()}
	e.Attrs["lost"] = "evicted before upload: recording.max_bytes or the data partition is full"
	g.stamp(e)
	g.captures.add(e)
	g.log.Warn("evidence clip evicted before it was uploaded", "clip", in.ID, "camera", in.Camera)
}

// clipDone announces a complete recording with a KindClip event through
// the capture queue, like any event.
func (g *Gateway) clipDone(in record.Info) {
	e := &wire.Event{Kind: wire.KindClip, Source: in.Camera, Attrs: in.Attrs()}
	if in.Recovered {
		e.Attrs["recovered"] = true
	}
	g.stamp(e)
	g.captures.add(e)
}

// Clips is the clip store (nil when no camera records), for the uploader.
func (g *Gateway) Clips() *record.Store {
	if !g.recordingOn() {
		return nil
	}
	return g.rec.store
}

// recordingStats is the recording part of status (nil without recording).
func (g *Gateway) recordingStats() *record.StoreStats {
	if !g.recordingOn() {
		if g.rec != nil {
			return &record.StoreStats{Error: g.rec.err}
		}
		return nil
	}
	st := g.rec.store.Stats()
	return &st
}

// recordingBytesToday is the telemetry's SD-card wear figure.
func (g *Gateway) recordingBytesToday() int64 {
	if !g.recordingOn() {
		return 0
	}
	return g.rec.store.Stats().BytesToday
}
