package camera

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

// watcher reads a consumer in the background and remembers, per epoch,
// whether its first video frame was a key frame and how many video frames came.
type watcher struct {
	c    *Consumer
	done chan struct{}

	mu     sync.Mutex
	video  map[uint64]int
	keyed  map[uint64]bool
	frames atomic.Int64
}

func watch(c *Consumer) *watcher {
	w := &watcher{c: c, done: make(chan struct{}), video: map[uint64]int{}, keyed: map[uint64]bool{}}
	go func() {
		defer close(w.done)
		for f := range c.Frames() {
			if f.Codec != H264 {
				continue
			}
			w.mu.Lock()
			if w.video[f.Epoch] == 0 {
				w.keyed[f.Epoch] = f.Key
			}
			w.video[f.Epoch]++
			w.mu.Unlock()
			w.frames.Add(1)
		}
	}()
	return w
}

func (w *watcher) stop() {
	w.c.Close()
	<-w.done
}

func (w *watcher) epoch(e uint64) (frames int, keyFirst bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.video[e], w.keyed[e]
}

func TestHubRealCamera(t *testing.T) {
	t.Parallel()
	cam := rtsptest.StartCamera(t, "--fps", "25", "--key-int-max", "10")
	var opens atomic.Int32
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "real", QueueFrames: 16, Linger: 100 * time.Millisecond,
		Open: func(ctx context.Context) (Source, error) {
			opens.Add(1)
			return Open(ctx, cam.URL, Options{Timeout: 5 * time.Second})
		},
		Check:      func(ctx context.Context) error { return Check(ctx, cam.URL, Options{Timeout: 5 * time.Second}) },
		CheckEvery: 50 * time.Millisecond})
	runHub(t, h)
	// Idle, the camera is checked (OPTIONS, DESCRIBE) but not pulled.
	devtest.WaitFor(t, 10*time.Second, "checks of the idle camera", func() bool { return h.Status().Checks >= 3 })
	if st := h.Status(); opens.Load() != 0 || st.State != StateIdle || st.CheckedAt.IsZero() {
		t.Fatalf("idle camera: %d opens, status %+v", opens.Load(), st)
	}
	ca, _ := h.Subscribe()
	cb, _ := h.Subscribe()
	never, _ := h.Subscribe()
	a, b := watch(ca), watch(cb)
	defer a.stop()
	defer b.stop()
	devtest.WaitFor(t, 10*time.Second, "first frames", func() bool { return a.frames.Load() > 0 && b.frames.Load() > 0 })
	start, na, nb := time.Now(), a.frames.Load(), b.frames.Load()
	devtest.WaitFor(t, 10*time.Second, "two seconds of video", func() bool { return time.Since(start) >= 2*time.Second })
	el := time.Since(start).Seconds()
	for name, w := range map[string]*watcher{"a": a, "b": b} {
		n0 := na
		if name == "b" {
			n0 = nb
		}
		rate := float64(w.frames.Load()-n0) / el
		if rate < 22.5 || rate > 27.5 {
			t.Errorf("consumer %s: %.1f frames/s beside a stuck consumer, want 25", name, rate)
		}
		if _, key := w.epoch(1); !key {
			t.Errorf("consumer %s did not start on a key frame", name)
		}
		if w.c.Dropped() != 0 {
			t.Errorf("consumer %s dropped %d", name, w.c.Dropped())
		}
	}
	if never.Dropped() == 0 {
		t.Error("the stuck consumer's drop counter did not grow")
	}
	if st := h.Status(); st.State != StateOnline || st.Sessions != 1 || st.Video != "H264 320x180 25fps" {
		t.Errorf("status %+v", st)
	}
	never.Close()
	a.stop()
	b.stop()
	devtest.WaitFor(t, 5*time.Second, "the session to close after the last consumer", func() bool { return h.State() == StateIdle })
	// One session served all three. (An open may have failed first: a
	// check cut short by the first Subscribe can leave GStreamer preparing
	// its media, and it answers the session's DESCRIBE with 503.)
	if n := h.Status().Sessions; n != 1 {
		t.Errorf("%d sessions for three consumers, want 1", n)
	}
}

func TestHubCameraRestart(t *testing.T) {
	t.Parallel()
	cam := rtsptest.StartCamera(t, "--fps", "25", "--key-int-max", "10")
	var ev events
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "restart", URL: cam.URL, OfflineAfter: time.Second,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, OnEvent: ev.add,
		Source: Options{Timeout: 2 * time.Second}})
	runHub(t, h)
	a, b := watch(mustSub(t, h)), watch(mustSub(t, h))
	defer a.stop()
	defer b.stop()
	devtest.WaitFor(t, 10*time.Second, "frames", func() bool { return a.frames.Load() > 10 && b.frames.Load() > 10 })

	// Measured from the start of the kill: the hub may notice the dead
	// session before kill() has reaped the process and returned.
	killed := time.Now()
	cam.Kill()
	off := ev.wait(t, EventOffline)
	if d := off.at.Sub(killed); d < time.Second || d > 3*time.Second {
		t.Errorf("camera_offline %v after the kill, want about offline_after (1s)", d)
	}
	if h.State() != StateOffline {
		t.Errorf("state %s while the camera is down", h.State())
	}

	cam.Start()
	restarted := time.Now()
	on := ev.wait(t, EventOnline)
	if d := on.at.Sub(restarted); d > 3*time.Second {
		t.Errorf("camera_online %v after the restart", d)
	}
	epoch := h.Status().Sessions // sessions and epochs count alike
	for name, w := range map[string]*watcher{"a": a, "b": b} {
		devtest.WaitFor(t, 10*time.Second, "frames after the reconnect", func() bool { n, _ := w.epoch(epoch); return n >= 25 })
		if _, key := w.epoch(epoch); !key {
			t.Errorf("consumer %s: first frame after the reconnect is not a key frame", name)
		}
	}
	if got := ev.get(); len(got) != 2 {
		t.Errorf("events %v, want exactly offline then online", got)
	}
}

func mustSub(t *testing.T, h *Hub) *Consumer {
	c, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestHubIdleCameraRestart: a camera nobody watches is still reported
// offline when it dies, and online when it is back, by checks alone.
func TestHubIdleCameraRestart(t *testing.T) {
	t.Parallel()
	cam := rtsptest.StartCamera(t, "--fps", "25")
	var ev events
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "idle", URL: cam.URL, OfflineAfter: time.Second,
		CheckEvery: 200 * time.Millisecond, MinBackoff: 50 * time.Millisecond, OnEvent: ev.add,
		Source: Options{Timeout: 2 * time.Second}})
	runHub(t, h)
	devtest.WaitFor(t, 10*time.Second, "a passed check", func() bool { return !h.Status().CheckedAt.IsZero() })

	killed := time.Now()
	cam.Kill()
	off := ev.wait(t, EventOffline)
	// At most one check period to notice, then offline_after.
	if d := off.at.Sub(killed); d < time.Second || d > time.Second+200*time.Millisecond+time.Second {
		t.Errorf("camera_offline %v after the kill, want 1–1.2 s", d)
	}
	if st := h.Status(); st.State != StateOffline || st.LastError == "" {
		t.Errorf("status while down: %+v", st)
	}

	cam.Start()
	restarted := time.Now()
	on := ev.wait(t, EventOnline)
	if d := on.at.Sub(restarted); d > 3*time.Second {
		t.Errorf("camera_online %v after the restart", d)
	}
	if st := h.Status(); st.State != StateIdle || st.Sessions != 0 || st.Attempts != 0 {
		t.Errorf("status after the restart: %+v (the idle camera must never be pulled)", st)
	}
	if got := ev.get(); len(got) != 2 {
		t.Errorf("events %v, want exactly offline then online", got)
	}
}
