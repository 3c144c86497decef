package record

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/mp4/mp4test"
	"github.com/antt-gateway/antt/device/devtest"
)

// fileHub is a hub on the looped test clip: 320x180, 25 frames/s, a key
// frame every second.
func fileHub(t *testing.T) *camera.Hub {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "camera", "clip-320x180-25fps.h264")
	return camera.NewHub(camera.HubOptions{Name: "cam1", Logger: slog.New(slog.DiscardHandler),
		Open: func(context.Context) (camera.Source, error) { return camera.OpenFile(path, camera.Options{}) }})
}

type clips struct {
	mu  sync.Mutex
	got []Info
}

func (c *clips) add(in Info) { c.mu.Lock(); c.got = append(c.got, in); c.mu.Unlock() }
func (c *clips) list() []Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Info(nil), c.got...)
}

// runRecorder starts a hub and a recorder on the test clip.
func runRecorder(t *testing.T, opt RecorderOptions) (*Recorder, *camera.Hub, *clips) {
	t.Helper()
	return startRecorder(t, fileHub(t), opt)
}

// startRecorder runs hub and a recorder of camera cam1 on it (opt with a
// fresh store unless it names one) until the test ends; the clips it
// reports are collected in the returned *clips.
func startRecorder(t *testing.T, hub *camera.Hub, opt RecorderOptions) (*Recorder, *camera.Hub, *clips) {
	t.Helper()
	got := &clips{}
	if opt.Store == nil {
		opt.Store = openStore(t, StoreOptions{})
	}
	opt.Camera, opt.Hub, opt.OnClip = "cam1", hub, got.add
	opt.Logger = slog.New(slog.DiscardHandler)
	r := NewRecorder(opt)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = hub.Run(ctx) })
	wg.Go(func() { _ = r.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r, hub, got
}

func TestRecorderEventClip(t *testing.T) {
	const pre, post, gop = 2 * time.Second, time.Second, time.Second
	store := openStore(t, StoreOptions{})
	r, hub, got := runRecorder(t, RecorderOptions{Store: store, PreRoll: pre, PostRoll: post})
	devtest.WaitFor(t, 10*time.Second, "pre-roll to fill", func() bool { return hub.Status().Frames >= 85 })
	ev := time.Now()
	var seq atomic.Uint64
	r.Trigger(Trigger{Time: ev, Reason: ReasonEvent, Upload: UploadOnRequest, Seq: seq.Load})
	seq.Store(42) // stored after the trigger, before the clip completes
	devtest.WaitFor(t, 10*time.Second, "the clip", func() bool { return len(got.list()) == 1 })
	in := got.list()[0]
	if in.Start.After(ev.Add(-pre+gop)) || in.Start.Before(ev.Add(-pre-gop-200*time.Millisecond)) {
		t.Fatalf("clip starts %v before the event, want about %v (one GOP)", ev.Sub(in.Start), pre)
	}
	want := ev.Sub(in.Start) + post
	if d := in.Duration - want; d < -300*time.Millisecond || d > 300*time.Millisecond {
		t.Fatalf("duration %v, want %v", in.Duration, want)
	}
	if in.ForSeq != 42 || in.Reason != ReasonEvent || in.Upload != UploadOnRequest || !in.Complete {
		t.Fatalf("info %+v", in)
	}
	p := mp4test.Run(t, filepath.Join(store.opt.Dir, in.ID+".mp4"))
	if p.Errors != "" || p.Codec != "h264" || p.Width != 320 || p.Height != 180 || !p.FirstKey || p.Frames != in.Frames {
		t.Fatalf("probe %+v, info %+v", p, in)
	}
	if d := p.Duration - in.Duration; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Fatalf("ffprobe duration %v, index %v", p.Duration, in.Duration)
	}
	if fi, err := store.Info(in.ID); err != nil || fi.Bytes != in.Bytes {
		t.Fatalf("store info %+v %v", fi, err)
	}
}

// A second trigger within the post-roll extends the clip, and an alarm
// makes it an alarm clip uploaded at once.
func TestRecorderRetriggerExtends(t *testing.T) {
	const post = time.Second
	r, hub, got := runRecorder(t, RecorderOptions{PreRoll: time.Second, PostRoll: post})
	devtest.WaitFor(t, 10*time.Second, "pre-roll to fill", func() bool { return hub.Status().Frames >= 50 })
	first := time.Now()
	r.Trigger(Trigger{Time: first, Reason: ReasonEvent, Upload: UploadOnRequest})
	devtest.WaitFor(t, 5*time.Second, "half the post-roll", func() bool { return time.Since(first) >= post/2 })
	second := time.Now()
	r.Trigger(Trigger{Time: second, Reason: ReasonAlarm, Upload: UploadAuto})
	devtest.WaitFor(t, 10*time.Second, "the clip", func() bool { return len(got.list()) >= 1 })
	in := got.list()[0]
	if end := in.Start.Add(in.Duration); end.Before(second.Add(post - 200*time.Millisecond)) {
		t.Fatalf("clip ends %v after the second trigger, want %v", end.Sub(second), post)
	}
	if in.Reason != ReasonAlarm || in.Upload != UploadAuto {
		t.Fatalf("info %+v, want alarm/auto", in)
	}
	if n := len(got.list()); n != 1 {
		t.Fatalf("%d clips, want one", n)
	}
}

// MaxClip cuts a long activity into clips that follow each other.
func TestRecorderMaxClip(t *testing.T) {
	r, hub, got := runRecorder(t, RecorderOptions{PreRoll: time.Second, PostRoll: 3 * time.Second, MaxClip: 1500 * time.Millisecond})
	devtest.WaitFor(t, 10*time.Second, "pre-roll to fill", func() bool { return hub.Status().Frames >= 50 })
	r.Trigger(Trigger{Time: time.Now()})
	devtest.WaitFor(t, 15*time.Second, "the clips", func() bool { return len(got.list()) >= 2 })
	l := got.list()
	for _, in := range l {
		if in.Duration > 2500*time.Millisecond { // MaxClip, rounded up to the next key frame
			t.Fatalf("clip of %v, max_clip 1.5s", in.Duration)
		}
	}
	if gap := l[1].Start.Sub(l[0].Start.Add(l[0].Duration)); gap > 200*time.Millisecond || gap < -200*time.Millisecond {
		t.Fatalf("gap of %v between the clips", gap)
	}
}

func TestRecorderContinuousSegments(t *testing.T) {
	store := openStore(t, StoreOptions{})
	_, _, got := runRecorder(t, RecorderOptions{Store: store, Mode: ModeContinuous, Segment: time.Second})
	devtest.WaitFor(t, 15*time.Second, "three segments", func() bool { return len(got.list()) >= 3 })
	var sum int64
	for _, in := range got.list()[:3] {
		if in.Reason != ReasonContinuous || in.ForSeq != 0 || in.Frames != 25 {
			t.Fatalf("segment %+v, want continuous of 25 frames", in)
		}
		sum += in.Bytes
	}
	if st := store.Stats(); st.BytesToday < sum {
		t.Fatalf("bytes today %d, the first three segments alone hold %d", st.BytesToday, sum)
	}
}

func TestRingKeepsPreRollFromKeyFrame(t *testing.T) {
	var g ring
	t0 := time.Now()
	for i := range 250 { // 10 s at 25 fps, a key frame every 25
		f := &camera.HubFrame{Frame: camera.Frame{Key: i%25 == 0}, Size: 1000}
		g.push(ringFrame{f: f, at: t0.Add(time.Duration(i) * 40 * time.Millisecond)}, 5*time.Second, 1<<20)
	}
	last := g.frames[len(g.frames)-1].at
	first := g.frames[0]
	if !first.f.Key || last.Sub(first.at) < 5*time.Second || last.Sub(first.at) >= 6*time.Second {
		t.Fatalf("ring spans %v from a key frame %v, want [5s, 6s)", last.Sub(first.at), first.f.Key)
	}
	// The byte bound drops whole GOPs.
	g.reset()
	for i := range 250 {
		f := &camera.HubFrame{Frame: camera.Frame{Key: i%25 == 0}, Size: 1000}
		g.push(ringFrame{f: f, at: t0.Add(time.Duration(i) * 40 * time.Millisecond)}, 5*time.Second, 60_000)
	}
	if g.bytes > 60_000 || !g.frames[0].f.Key {
		t.Fatalf("ring holds %d bytes, starts on key %v", g.bytes, g.frames[0].f.Key)
	}
}

// A flood of triggers on a camera recording continuously keeps the store
// within max_bytes at every moment (clips being written included), and
// what is left on disk matches the index.
func TestRecorderFloodKeepsBound(t *testing.T) {
	const bound = 96 << 10
	store := openStore(t, StoreOptions{MaxBytes: bound})
	r, hub, got := runRecorder(t, RecorderOptions{Store: store, Mode: ModeContinuous, Segment: time.Second,
		PreRoll: 500 * time.Millisecond, PostRoll: 300 * time.Millisecond, MaxClip: 5 * time.Second})
	devtest.WaitFor(t, 10*time.Second, "frames", func() bool { return hub.Status().Frames >= 25 })
	start := time.Now()
	devtest.WaitFor(t, 30*time.Second, "a flood of 6 s", func() bool {
		r.Trigger(Trigger{Time: time.Now(), Reason: ReasonEvent})
		if b := store.Stats().Bytes; b > bound {
			t.Fatalf("store holds %d bytes, bound %d", b, bound)
		}
		return time.Since(start) > 6*time.Second
	})
	st := store.Stats()
	if st.Evicted == 0 || len(got.list()) < 4 {
		t.Fatalf("stats %+v, %d recordings: the flood did not reach the bound", st, len(got.list()))
	}
	list, _ := store.List("", time.Time{}, time.Time{})
	var sum int64
	for _, in := range list {
		fi, err := os.Stat(filepath.Join(store.opt.Dir, in.ID+".mp4"))
		if err != nil || fi.Size() != in.Bytes {
			t.Fatalf("clip %s: %v, size %v, index %d", in.ID, err, fi, in.Bytes)
		}
		sum += in.Bytes
	}
	if sum > bound {
		t.Fatalf("complete recordings hold %d bytes, bound %d", sum, bound)
	}
}
