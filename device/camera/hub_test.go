package camera

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp"
	"github.com/antt-gateway/antt/device/devtest"
)

// testLogger shows a hub's log with the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runHub runs h until the test ends.
func runHub(t testing.TB, h *Hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub Run: %v", err)
		}
	})
}

// recvN reads n frames from c, failing after d.
func recvN(t testing.TB, c *Consumer, n int, d time.Duration) []*HubFrame {
	t.Helper()
	out := make([]*HubFrame, 0, n)
	timeout := time.After(d)
	for len(out) < n {
		select {
		case f, ok := <-c.Frames():
			if !ok {
				t.Errorf("consumer closed after %d frames", len(out))
				return out
			}
			out = append(out, f)
		case <-timeout:
			t.Errorf("received %d of %d frames in %v", len(out), n, d)
			return out
		}
	}
	return out
}

// recv1 reads one frame or ends the test.
func recv1(t testing.TB, c *Consumer) *HubFrame {
	t.Helper()
	fs := recvN(t, c, 1, 5*time.Second)
	if len(fs) == 0 {
		t.FailNow()
	}
	return fs[0]
}

// events records a hub's health events with their times.
type events struct {
	mu   sync.Mutex
	list []event
}

type event struct {
	kind  string
	attrs map[string]any
	at    time.Time
}

func (e *events) add(kind string, attrs map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, event{kind, attrs, time.Now()})
}

func (e *events) get() []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]event(nil), e.list...)
}

// wait waits up to 10 s for the first event of kind.
func (e *events) wait(t *testing.T, kind string) event {
	t.Helper()
	devtest.WaitFor(t, 10*time.Second, kind, func() bool { _, ok := e.find(kind); return ok })
	ev, _ := e.find(kind)
	return ev
}

func (e *events) find(kind string) (event, bool) {
	for _, ev := range e.get() {
		if ev.kind == kind {
			return ev, true
		}
	}
	return event{}, false
}

// synthSource emits synthetic H.264-shaped frames: a key frame every gop
// frames, keySize and size payload bytes, as fast as period allows.
type synthSource struct {
	period        time.Duration
	gop           int
	keySize, size int
	cnt           counters
	closed        chan struct{}
	once          sync.Once
}

func newSynth(period time.Duration, gop, keySize, size int) *synthSource {
	return &synthSource{period: period, gop: gop, keySize: keySize, size: size, closed: make(chan struct{})}
}

func (s *synthSource) Tracks() []Track {
	return []Track{{Kind: Video, Codec: H264, ClockRate: 90000, Width: 320, Height: 180, FrameRate: 25}}
}

func (s *synthSource) Run(ctx context.Context, h Handler) error {
	key := make([]byte, s.keySize)
	p := make([]byte, s.size)
	key[0], p[0] = 0x65, 0x41
	tick := time.NewTicker(s.period)
	defer tick.Stop()
	var f Frame
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return errors.New("synth closed")
		case <-tick.C:
		}
		isKey := i%s.gop == 0
		f = Frame{Codec: H264, PTS: time.Duration(i) * s.period, Key: isKey, Marker: true, NALUs: [][]byte{p}}
		if isKey {
			f.NALUs = [][]byte{key}
		}
		s.cnt.frames.Add(1)
		h(&f)
	}
}

func (s *synthSource) Stats() Stats { return s.cnt.snapshot() }
func (s *synthSource) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

// feed pushes frames start..start+n-1 of a synthetic stream straight into
// the hub's delivery path; frame i is a key frame when i%gop == 0.
func feed(h *Hub, start, n, gop, keySize, size int) {
	key, p := make([]byte, keySize), make([]byte, size)
	for i := start; i < start+n; i++ {
		f := &Frame{Codec: H264, Key: i%gop == 0, NALUs: [][]byte{p}}
		if f.Key {
			f.NALUs = [][]byte{key}
		}
		h.deliver(copyFrame(f, 1))
	}
}

func TestHubGOPCache(t *testing.T) {
	const gop, keySize, size = 25, 20000, 4000
	gopBytes := keySize + (gop-1)*size
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "t"})
	h.setTracksLocked((&synthSource{}).Tracks())

	// Before any key frame a consumer waits for one.
	early, _ := h.Subscribe()
	maxCache := 0
	key, p := make([]byte, keySize), make([]byte, size)
	for i := range 3*gop + 7 {
		f := &Frame{Codec: H264, Key: i%gop == 0, NALUs: [][]byte{p}}
		if f.Key {
			f.NALUs = [][]byte{key}
		}
		h.deliver(copyFrame(f, 1))
		maxCache = max(maxCache, h.Status().GOPBytes)
	}
	if maxCache > gopBytes {
		t.Errorf("GOP cache reached %d bytes, GOP is %d", maxCache, gopBytes)
	}
	st := h.Status()
	if st.GOPFrames != 7 || st.GOPBytes != keySize+6*size {
		t.Errorf("cache holds %d frames / %d bytes, want the current GOP: 7 / %d", st.GOPFrames, st.GOPBytes, keySize+6*size)
	}
	if f := <-early.Frames(); !f.Key {
		t.Error("early consumer's first frame is not a key frame")
	}
	// A late consumer gets the cached GOP at once, from its key frame.
	late, _ := h.Subscribe()
	if n := len(late.Frames()); n != 7 {
		t.Fatalf("late consumer has %d frames queued, want the 7 of the GOP", n)
	}
	if f := <-late.Frames(); !f.Key || f.Size != keySize {
		t.Errorf("late consumer starts with %+v, want the key frame", f.Frame)
	}

	// A GOP larger than the cap is not cached: new consumers wait for the
	// next key frame rather than get a GOP with a hole.
	small := NewHub(HubOptions{Logger: testLogger(t), Name: "s", GOPCacheBytes: keySize + 5*size})
	small.setTracksLocked((&synthSource{}).Tracks())
	maxCache = 0
	for i := range 2 * gop {
		feed(small, i, 1, gop, keySize, size)
		maxCache = max(maxCache, small.Status().GOPBytes)
	}
	st = small.Status()
	if maxCache > keySize+5*size || st.GOPOverflows == 0 || st.GOPFrames != 0 {
		t.Errorf("capped cache: max %d bytes (cap %d), overflows %d, frames now %d", maxCache, keySize+5*size, st.GOPOverflows, st.GOPFrames)
	}
	c, _ := small.Subscribe()
	if len(c.Frames()) != 0 {
		t.Error("consumer got frames from an overflowed GOP")
	}
	feed(small, 0, 3, 2, keySize, size) // key, P, key
	if f := <-c.Frames(); !f.Key {
		t.Error("after an overflow the first frame is not a key frame")
	}
}

func TestHubSlowConsumerDropsToKey(t *testing.T) {
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "t", QueueFrames: 8})
	h.setTracksLocked((&synthSource{}).Tracks())
	fast, _ := h.Subscribe()
	slow, _ := h.Subscribe()
	var got []*HubFrame
	for range 100 {
		feed(h, 0, 1, 10, 100, 10) // all key frames: the slow one drops each
		got = append(got, <-fast.Frames())
	}
	if fast.Dropped() != 0 || len(got) != 100 {
		t.Errorf("reading consumer dropped %d", fast.Dropped())
	}
	if slow.Dropped() != 92 || len(slow.Frames()) != 8 {
		t.Errorf("slow consumer dropped %d, queued %d; want 92 and 8", slow.Dropped(), len(slow.Frames()))
	}

	// Once it drained its queue it resumes at a key frame, never on a P frame.
	h2 := NewHub(HubOptions{Logger: testLogger(t), Name: "t", QueueFrames: 4})
	h2.setTracksLocked((&synthSource{}).Tracks())
	c, _ := h2.Subscribe()
	key, p := make([]byte, 10), make([]byte, 10)
	push := func(k bool) {
		f := &Frame{Codec: H264, Key: k, NALUs: [][]byte{p}}
		if k {
			f.NALUs = [][]byte{key}
		}
		h2.deliver(copyFrame(f, 1))
	}
	push(true)
	for range 6 {
		push(false) // 3 fit, then the queue is full
	}
	for len(c.Frames()) > 0 {
		<-c.Frames()
	}
	push(false)
	push(false)
	if len(c.Frames()) != 0 {
		t.Fatal("P frames delivered after a drop, before the next key frame")
	}
	push(true)
	push(false)
	if f := <-c.Frames(); !f.Key {
		t.Fatal("resumed on a P frame")
	}
	if c.Dropped() != 5 {
		t.Errorf("dropped = %d, want 5 (3 while full, 2 waiting for the key frame)", c.Dropped())
	}
}

func TestHubFileSource(t *testing.T) {
	var opens atomic.Int32
	var srcs sync.Map
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "file", Linger: 50 * time.Millisecond, QueueFrames: 16,
		Open: func(ctx context.Context) (Source, error) {
			opens.Add(1)
			s, err := OpenFile(clipPath, Options{FrameRate: 100})
			if err == nil {
				srcs.Store(s, true)
			}
			return s, err
		}})
	runHub(t, h)

	// Nobody attached: the file is not opened. An absence can only be
	// observed for a while; a quarter second is many loop turns.
	time.Sleep(250 * time.Millisecond)
	if n := opens.Load(); n != 0 || h.State() != StateIdle {
		t.Fatalf("without consumers: %d opens, state %s", n, h.State())
	}

	a, _ := h.Subscribe()
	b, _ := h.Subscribe()
	never, _ := h.Subscribe() // never reads
	start := time.Now()
	var fa, fb []*HubFrame
	var wg sync.WaitGroup
	wg.Go(func() { fa = recvN(t, a, 100, 5*time.Second) })
	wg.Go(func() { fb = recvN(t, b, 100, 5*time.Second) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	rate := 99 / time.Since(start).Seconds()
	for name, fs := range map[string][]*HubFrame{"a": fa, "b": fb} {
		if !fs[0].Key {
			t.Errorf("consumer %s starts without a key frame", name)
		}
		if !paramsBeforeSlices(fs[0].NALUs) {
			t.Errorf("consumer %s: key frame without SPS/PPS", name)
		}
	}
	if rate < 80 {
		t.Errorf("reading consumers got %.0f frames/s while one consumer stalls; source sends 100", rate)
	}
	if a.Dropped() != 0 || b.Dropped() != 0 {
		t.Errorf("reading consumers dropped %d and %d", a.Dropped(), b.Dropped())
	}
	devtest.WaitFor(t, 5*time.Second, "the stuck consumer's drops", func() bool { return never.Dropped() > 10 })
	if h.State() != StateOnline || opens.Load() != 1 {
		t.Errorf("state %s after %d opens, want online after 1", h.State(), opens.Load())
	}

	// The last consumer leaving closes the session after the linger.
	a.Close()
	b.Close()
	never.Close()
	devtest.WaitFor(t, 5*time.Second, "idle after the last consumer", func() bool { return h.State() == StateIdle })
	if _, ok := <-a.Frames(); ok {
		// drained frames may remain; the channel must end closed
		for range a.Frames() {
		}
	}
	srcs.Range(func(k, _ any) bool {
		select {
		case <-k.(*fileSource).closed:
		default:
			t.Error("file source not closed when idle")
		}
		return true
	})

	// A new consumer opens a new session.
	c, _ := h.Subscribe()
	if f := recv1(t, c); !f.Key || f.Epoch != 2 {
		t.Errorf("second session: first frame key=%v epoch=%d, want a key frame of epoch 2", f.Key, f.Epoch)
	}
	if n := opens.Load(); n != 2 {
		t.Errorf("opens = %d, want 2", n)
	}
}

func TestHubPreloadAndReconnect(t *testing.T) {
	var down atomic.Bool
	var opens atomic.Int32
	var cur atomic.Pointer[synthSource]
	var ev events
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "p", Preload: true, OfflineAfter: time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, OnEvent: ev.add,
		Open: func(ctx context.Context) (Source, error) {
			opens.Add(1)
			if down.Load() {
				return nil, errors.New("dial tcp 127.0.0.1:554: connection refused")
			}
			s := newSynth(10*time.Millisecond, 10, 100, 10)
			cur.Store(s)
			return s, nil
		}})
	runHub(t, h)
	devtest.WaitFor(t, 5*time.Second, "online with preload and no consumer", func() bool { return h.State() == StateOnline })
	c, _ := h.Subscribe()
	recvN(t, c, 5, 5*time.Second)

	// A camera that stays away: connecting first, offline after OfflineAfter.
	down.Store(true)
	failed := time.Now()
	_ = cur.Load().Close()
	devtest.WaitFor(t, 5*time.Second, "camera_offline", func() bool { _, ok := ev.find(EventOffline); return ok })
	off, _ := ev.find(EventOffline)
	if d := off.at.Sub(failed); d < time.Second || d > 2*time.Second {
		t.Errorf("camera_offline %v after the failure, want offline_after (1s)", d)
	}
	if !strings.Contains(fmt.Sprint(off.attrs["error"]), "connection refused") {
		t.Errorf("offline attrs %v lack the error", off.attrs)
	}
	if h.State() != StateOffline {
		t.Errorf("state %s, want offline", h.State())
	}
	if n := opens.Load(); n < 5 {
		t.Errorf("only %d opens in a second of quick retries", n)
	}
	down.Store(false)
	devtest.WaitFor(t, 5*time.Second, "camera_online", func() bool { _, ok := ev.find(EventOnline); return ok })
	// The consumer is still attached and receives the new session from a key frame.
	var f *HubFrame
	for f = recv1(t, c); f.Epoch == 1; f = recv1(t, c) {
	}
	if !f.Key {
		t.Error("after the reconnect the first frame is not a key frame")
	}
	if got := ev.get(); len(got) != 2 || got[0].kind != EventOffline || got[1].kind != EventOnline {
		t.Errorf("events %v, want offline then online", got)
	}

	// A short failure (under OfflineAfter) reports nothing.
	n := len(ev.get())
	epoch := f.Epoch
	_ = cur.Load().Close()
	for f.Epoch == epoch {
		f = recv1(t, c)
	}
	if len(ev.get()) != n {
		t.Errorf("a short outage produced events: %v", ev.get()[n:])
	}
}

// silentCamera is an RTSP server that accepts a session and then sends
// nothing, like a camera whose encoder hung.
func silentCamera(t *testing.T) (url string, plays *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plays = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	url = "rtsp://" + ln.Addr().String() + "/cam"
	sdp := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:track1\r\n"
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				tp := textproto.NewReader(bufio.NewReader(conn))
				for {
					line, err := tp.ReadLine()
					if err != nil {
						return
					}
					hdr, err := tp.ReadMIMEHeader()
					if err != nil {
						return
					}
					method := strings.Fields(line)[0]
					resp := "RTSP/1.0 200 OK\r\nCSeq: " + hdr.Get("Cseq") + "\r\n"
					switch method {
					case "OPTIONS":
						resp += "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
					case "DESCRIBE":
						resp += "Content-Base: " + url + "/\r\nContent-Type: application/sdp\r\n" +
							fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(sdp), sdp)
					case "SETUP":
						resp += "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678;timeout=60\r\n\r\n"
					case "PLAY":
						plays.Add(1)
						resp += "Session: 12345678\r\n\r\n"
					default:
						resp += "\r\n"
					}
					if _, err := conn.Write([]byte(resp)); err != nil {
						return
					}
				}
			})
		}
	})
	return url, plays
}

func TestHubStallWatchdog(t *testing.T) {
	url, plays := silentCamera(t)
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "silent", URL: url, Preload: true,
		Source:     Options{StallTimeout: 300 * time.Millisecond, Timeout: 2 * time.Second},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	runHub(t, h)
	devtest.WaitFor(t, 10*time.Second, "the watchdog to reconnect twice", func() bool { return plays.Load() >= 3 })
	st := h.Status()
	if st.Stalls < 2 || st.State == StateOnline || !strings.Contains(st.LastError, rtsp.ErrStalled.Error()) {
		t.Errorf("status %+v: want stalls counted, not online, the stall as last error", st)
	}
}

func TestHubClosedSubscribe(t *testing.T) {
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "x", Open: func(context.Context) (Source, error) { return nil, errors.New("no") }})
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := h.Subscribe()
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	devtest.WaitFor(t, 5*time.Second, "an attempt", func() bool { return h.Status().Attempts > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := <-c.Frames(); ok {
		t.Error("consumer channel still open after the hub stopped")
	}
	c.Close()
	if _, err := h.Subscribe(); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Subscribe after stop: %v", err)
	}
}

// TestHubIdleChecks: an idle camera is checked every CheckEvery, sooner
// after a failure (backoff); failing checks for offline_after report it
// offline, a passing one online again; a consumer arriving meanwhile gets
// a session at once.
func TestHubIdleChecks(t *testing.T) {
	var fail atomic.Bool
	var calls atomic.Int32
	var ev events
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "idle", OfflineAfter: 300 * time.Millisecond,
		CheckEvery: time.Hour, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		OnEvent: ev.add,
		Check: func(ctx context.Context) error {
			calls.Add(1)
			if fail.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
		Open: func(ctx context.Context) (Source, error) { return newSynth(10*time.Millisecond, 5, 100, 50), nil }})
	fail.Store(true)
	runHub(t, h)
	// The first check comes at once, the next ones with the backoff (not
	// after CheckEvery, an hour): offline after offline_after.
	devtest.WaitFor(t, 5*time.Second, "camera_offline", func() bool { _, ok := ev.find(EventOffline); return ok })
	if n := calls.Load(); n < 5 {
		t.Errorf("%d checks before camera_offline, want retries with the backoff", n)
	}
	if st := h.Status(); st.State != StateOffline || st.LastError != "connection refused" || st.Attempts != 0 {
		t.Errorf("status %+v", st)
	}
	fail.Store(false)
	devtest.WaitFor(t, 5*time.Second, "camera_online", func() bool { _, ok := ev.find(EventOnline); return ok })
	if st := h.Status(); st.State != StateIdle || st.CheckedAt.IsZero() {
		t.Errorf("status after a passed check: %+v", st)
	}
	// Healthy: the next check waits for CheckEvery.
	n := calls.Load()
	c := mustSub(t, h)
	recvN(t, c, 10, 5*time.Second)
	if h.State() != StateOnline || calls.Load() != n {
		t.Errorf("state %s, %d checks after a passed one (want %d: the next is an hour away)", h.State(), calls.Load(), n)
	}
	c.Close()
	if got := ev.get(); len(got) != 2 {
		t.Errorf("events %v, want offline then online", got)
	}
}
