package record

import (
	"context"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/devtest"
)

// ptsSource is the looped test clip with its PTS rewritten: a camera
// whose clock misbehaves within one session.
type ptsSource struct {
	camera.Source
	pts func(time.Duration) time.Duration
}

func (p ptsSource) Run(ctx context.Context, h camera.Handler) error {
	return p.Source.Run(ctx, func(f *camera.Frame) {
		if f.Codec == camera.H264 {
			f.PTS = p.pts(f.PTS)
		}
		h(f)
	})
}

// runGarbage runs a recorder on the test clip with its PTS rewritten by
// pts (nil: as is).
func runGarbage(t *testing.T, opt RecorderOptions, pts func(time.Duration) time.Duration) (*Recorder, *camera.Hub, *clips) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "camera", "clip-320x180-25fps.h264")
	hub := camera.NewHub(camera.HubOptions{Name: "cam1", Logger: slog.New(slog.DiscardHandler),
		Open: func(context.Context) (camera.Source, error) {
			src, err := camera.OpenFile(path, camera.Options{})
			if err != nil || pts == nil {
				return src, err
			}
			return ptsSource{src, pts}, nil
		}})
	return startRecorder(t, hub, opt)
}

// retrigger triggers r every 200 ms until the test ends: activity that
// goes on.
func retrigger(t *testing.T, r *Recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			r.Trigger(Trigger{Time: time.Now(), Reason: ReasonEvent, Upload: UploadOnRequest})
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// A camera whose clock is stuck or jumps back within a session must not
// make one clip grow without end while activity goes on: MaxClip holds in
// the gateway's own (monotonic) time too.
func TestMaxClipHoldsWhenPTSMisbehaves(t *testing.T) {
	for name, pts := range map[string]func(time.Duration) time.Duration{
		"stuck": func(time.Duration) time.Duration { return time.Minute },
		// Back by 10 s every 2 s of media.
		"jumps back": func(p time.Duration) time.Duration {
			return time.Hour + p%(2*time.Second) - 10*time.Second*(p/(2*time.Second))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const maxClip = 2 * time.Second
			r, hub, got := runGarbage(t, RecorderOptions{PreRoll: time.Second, PostRoll: time.Second, MaxClip: maxClip}, pts)
			devtest.WaitFor(t, 10*time.Second, "the camera", func() bool { return hub.Status().Frames >= 30 })
			retrigger(t, r)
			devtest.WaitFor(t, 15*time.Second, "a clip cut by max_clip", func() bool { return len(got.list()) >= 1 })
			in := got.list()[0]
			// MaxClip from its first frame, plus the pre-roll (one GOP) and
			// up to a GOP to the next key frame.
			if max := int((maxClip + 2*time.Second + 500*time.Millisecond) / (40 * time.Millisecond)); in.Frames > max {
				t.Fatalf("clip of %d frames, want at most %d (max_clip %v)", in.Frames, max, maxClip)
			}
		})
	}
}

// A trigger stamped with a wrong time (a sensor whose clock is a year
// ahead, or still at 1970) is taken at its arrival: the clip is its
// pre-roll and post-roll, not MaxClip after MaxClip until next year, nor
// the pre-roll alone.
func TestTriggerWithWrongClock(t *testing.T) {
	for name, at := range map[string]time.Time{
		"a year ahead": time.Now().AddDate(1, 0, 0),
		"1970":         time.Unix(0, 0),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const pre, post = time.Second, 3 * time.Second
			r, hub, got := runGarbage(t, RecorderOptions{PreRoll: pre, PostRoll: post, MaxClip: 20 * time.Second}, nil)
			devtest.WaitFor(t, 10*time.Second, "pre-roll to fill", func() bool { return hub.Status().Frames >= 60 })
			r.Trigger(Trigger{Time: at, Reason: ReasonEvent, Upload: UploadOnRequest})
			devtest.WaitFor(t, 30*time.Second, "the clip", func() bool { return len(got.list()) >= 1 })
			in := got.list()[0]
			if in.Duration < post || in.Duration > pre+post+time.Second+500*time.Millisecond {
				t.Fatalf("clip of %v, want pre-roll %v (from a key frame) + post-roll %v", in.Duration, pre, post)
			}
		})
	}
}

// pre_roll: 0s (allowed by the config) means no pre-roll beyond the key
// frame the clip must start at, not the default 5 s.
func TestNoPreRoll(t *testing.T) {
	t.Parallel()
	const post = time.Second
	r, hub, got := runGarbage(t, RecorderOptions{PreRoll: NoPreRoll, PostRoll: post}, nil)
	devtest.WaitFor(t, 10*time.Second, "frames", func() bool { return hub.Status().Frames >= 200 }) // 8 s
	var n atomic.Int32
	r.Trigger(Trigger{Time: time.Now(), Seq: func() uint64 { n.Add(1); return 0 }})
	devtest.WaitFor(t, 10*time.Second, "the clip", func() bool { return len(got.list()) >= 1 })
	if d := got.list()[0].Duration; d > post+time.Second+300*time.Millisecond {
		t.Fatalf("clip of %v, want at most one GOP before the trigger and %v after", d, post)
	}
}

// countHandler counts log records at warning level or above.
type countHandler struct{ n *atomic.Int32 }

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// A flood of events while the recorder is stuck (a card whose fsync
// stalls) drops triggers, and says so once, not once per event: the log
// of a small board is not to be flooded.
func TestTriggerFloodLogsOnce(t *testing.T) {
	var n atomic.Int32
	r := NewRecorder(RecorderOptions{Camera: "cam1", Logger: slog.New(countHandler{&n})})
	for range 10000 {
		r.Trigger(Trigger{Time: time.Now()})
	}
	if got := n.Load(); got > 1 {
		t.Fatalf("%d warnings for one flood, want one", got)
	}
	if got := r.Dropped(); got != uint64(10000-cap(r.triggers)) {
		t.Fatalf("dropped %d, want %d", got, 10000-cap(r.triggers))
	}
}
