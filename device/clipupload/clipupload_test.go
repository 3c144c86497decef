package clipupload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// memSource is a clip store of files in memory.
type memSource struct {
	clips map[string][]byte
	cams  map[string]string
	start map[string]time.Time

	mu       sync.Mutex
	uploaded []string // MarkUploaded calls
}

func (m *memSource) MarkUploaded(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploaded = append(m.uploaded, id)
	return nil
}

func (m *memSource) marked() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.uploaded, " ")
}

func newMemSource() *memSource {
	return &memSource{clips: map[string][]byte{}, cams: map[string]string{}, start: map[string]time.Time{}}
}

func (m *memSource) add(id, cam string, start time.Time, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	m.clips[id], m.cams[id], m.start[id] = b, cam, start
	return b
}

func (m *memSource) Info(id string) (wire.ClipInfo, error) {
	b, ok := m.clips[id]
	if !ok {
		return wire.ClipInfo{}, fmt.Errorf("no clip %q", id)
	}
	s := sha256.Sum256(b)
	return wire.ClipInfo{ID: id, Camera: m.cams[id], Start: m.start[id].Format(time.RFC3339), Bytes: int64(len(b)), SHA256: hex.EncodeToString(s[:])}, nil
}

func (m *memSource) List(cam string, from, to time.Time) ([]wire.ClipInfo, error) {
	var out []wire.ClipInfo
	for id := range m.clips {
		if m.cams[id] == cam && !m.start[id].Before(from) && !m.start[id].After(to) {
			i, _ := m.Info(id)
			out = append(out, i)
		}
	}
	return out, nil
}

func (m *memSource) Open(id string) (io.ReadCloser, error) {
	b, ok := m.clips[id]
	if !ok {
		return nil, fmt.Errorf("no clip %q", id)
	}
	return readAtCloser{bytes.NewReader(b)}, nil
}

type readAtCloser struct{ *bytes.Reader }

func (readAtCloser) Close() error { return nil }

// recorder is a Publisher that keeps what it was given, and fails on
// demand.
type recorder struct {
	mu     sync.Mutex
	got    map[string][]byte // clip → bytes assembled at their offsets
	topics []string
	fail   func(topic string) error
}

func (r *recorder) Publish(_ context.Context, levels string, qos byte, p []byte) error {
	if qos != 1 {
		return fmt.Errorf("qos %d", qos)
	}
	if len(p) > wire.ClipChunkMax {
		return fmt.Errorf("chunk of %d bytes", len(p))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(levels); err != nil {
			return err
		}
	}
	clip, off, err := wire.ParseClipChunk(levels)
	if err != nil {
		return err
	}
	if r.got == nil {
		r.got = map[string][]byte{}
	}
	b := r.got[clip]
	if int64(len(b)) < off+int64(len(p)) {
		b = append(b, make([]byte, off+int64(len(p))-int64(len(b)))...)
	}
	copy(b[off:], p)
	r.got[clip] = b
	r.topics = append(r.topics, levels)
	return nil
}

func (r *recorder) bytesOf(clip string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.got[clip]...)
}

func (r *recorder) sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.topics...)
}

func run(t *testing.T, u *Uploader) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}
}

// A clip asked for goes in order, in chunks of at most ClipChunkMax, and
// the reply names it.
func TestRequestSendsInOrder(t *testing.T) {
	src := newMemSource()
	want := src.add("c1", "cong", time.Now(), 3*wire.ClipChunkMax+1000)
	pub := &recorder{}
	u, err := New(src, pub, Options{Dir: t.TempDir(), Window: 1}) // one in flight: a strict order to check
	if err != nil {
		t.Fatal(err)
	}
	defer run(t, u)()
	res, err := u.Handler(context.Background(), json.RawMessage(`{"clip":"c1"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.(Reply); len(r.Clips) != 1 || r.Clips[0].ID != "c1" || r.Clips[0].Bytes != int64(len(want)) {
		t.Fatalf("reply %+v", r)
	}
	devtest.WaitFor(t, 10*time.Second, "the clip sent", func() bool { return u.Stats().Pending == 0 && len(pub.sent()) == 4 })
	wantTopics := fmt.Sprintf("clip/c1/0 clip/c1/%d clip/c1/%d clip/c1/%d", wire.ClipChunkMax, 2*wire.ClipChunkMax, 3*wire.ClipChunkMax)
	if got := strings.Join(pub.sent(), " "); got != wantTopics {
		t.Fatalf("topics %s, want %s", got, wantTopics)
	}
	if !bytes.Equal(pub.bytesOf("c1"), want) {
		t.Fatal("bytes differ")
	}
	if s := u.Stats(); s.BytesToday != int64(len(want)) || s.AutoToday != 0 {
		t.Fatalf("stats %+v", s)
	}
	// The store learns that the clip left the site (no longer evidence
	// to keep before everything else).
	devtest.WaitFor(t, 5*time.Second, "MarkUploaded(c1)", func() bool { return src.marked() == "c1" })
}

// A publish that fails is retried from the last acknowledged chunk; a new
// uploader on the same directory (a restart) resumes where the first
// one's last PUBACK left it, not from 0.
func TestResumeAfterFailureAndRestart(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource()
	want := src.add("c2", "cong", time.Now(), 6*wire.ClipChunkMax)
	var n int
	pub := &recorder{fail: func(topic string) error {
		n++
		if n == 3 {
			return errors.New("link cut")
		}
		if n >= 5 {
			return errors.New("link down")
		}
		return nil
	}}
	u, err := New(src, pub, Options{Dir: dir, Retry: time.Millisecond, Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, u)
	if _, err := u.Handler(context.Background(), json.RawMessage(`{"clip":"c2"}`)); err != nil {
		t.Fatal(err)
	}
	// The third publish fails and is sent again; from the fifth on the link is down.
	devtest.WaitFor(t, 10*time.Second, "3 chunks acknowledged", func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return len(pub.topics) == 3 && n > 6
	})
	stop()
	if got := strings.Join(pub.sent(), " "); got != fmt.Sprintf("clip/c2/0 clip/c2/%d clip/c2/%d", wire.ClipChunkMax, 2*wire.ClipChunkMax) {
		t.Fatalf("retry did not resend the failed chunk: %s", got)
	}
	pub2 := &recorder{}
	u2, err := New(src, pub2, Options{Dir: dir, Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer run(t, u2)()
	devtest.WaitFor(t, 10*time.Second, "the rest sent", func() bool { return u2.Stats().Pending == 0 })
	if first := pub2.sent()[0]; first != fmt.Sprintf("clip/c2/%d", 3*wire.ClipChunkMax) {
		t.Fatalf("after a restart the upload began at %s, want the end of the last acknowledged chunk", first)
	}
	got := pub.bytesOf("c2")
	rest := pub2.bytesOf("c2")
	if !bytes.Equal(rest[3*wire.ClipChunkMax:], want[3*wire.ClipChunkMax:]) || !bytes.Equal(got[:3*wire.ClipChunkMax], want[:3*wire.ClipChunkMax]) {
		t.Fatal("bytes differ")
	}
}

// With several chunks in flight, the offset kept is the end of the run of
// acknowledged chunks from the start: a chunk that fails while later ones
// are acknowledged is where a restart resumes, and the whole clip arrives.
func TestWindowKeepsAcknowledgedRun(t *testing.T) {
	dir := t.TempDir()
	src := newMemSource()
	want := src.add("w2", "cong", time.Now(), 6*wire.ClipChunkMax)
	second := fmt.Sprintf("clip/w2/%d", wire.ClipChunkMax)
	var calls int
	pub := &recorder{fail: func(topic string) error {
		calls++
		if _, off, _ := wire.ParseClipChunk(topic); topic == second || off >= 4*wire.ClipChunkMax {
			return errors.New("link cut")
		}
		return nil
	}}
	u, err := New(src, pub, Options{Dir: dir, Retry: time.Millisecond, Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, u)
	if _, err := u.Handler(context.Background(), json.RawMessage(`{"clip":"w2"}`)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the window sent and the link down", func() bool {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return calls > 6
	})
	stop()
	// Each retry sends the window again from the failed chunk; the ones
	// after it are acknowledged again (the station takes them as no-ops).
	acked := slices.Compact(slices.Sorted(slices.Values(pub.sent())))
	if len(acked) != 3 || slices.Contains(acked, second) {
		t.Fatalf("chunks acknowledged %v, want the first window less the failed one", acked)
	}
	pub2 := &recorder{}
	u2, err := New(src, pub2, Options{Dir: dir, Window: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer run(t, u2)()
	devtest.WaitFor(t, 10*time.Second, "the rest sent", func() bool { return u2.Stats().Pending == 0 })
	sent := pub2.sent()
	if len(sent) != 5 || !slices.Contains(sent, second) || slices.Contains(sent, "clip/w2/0") {
		t.Fatalf("after a restart sent %v, want the five chunks from the failed one", sent)
	}
	got := pub.bytesOf("w2")
	rest := pub2.bytesOf("w2")
	if !bytes.Equal(got[:wire.ClipChunkMax], want[:wire.ClipChunkMax]) || !bytes.Equal(rest[wire.ClipChunkMax:], want[wire.ClipChunkMax:]) {
		t.Fatal("bytes differ")
	}
}

// Automatic uploads stop at the daily budget and are reported held; a
// request from the station sends the clip anyway; the next day the held
// upload goes on.
func TestBudget(t *testing.T) {
	src := newMemSource()
	src.add("a1", "cong", time.Now(), 4*wire.ClipChunkMax)
	src.add("a2", "cong", time.Now(), 4*wire.ClipChunkMax)
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pub := &recorder{}
	u, err := New(src, pub, Options{Dir: t.TempDir(), Budget: 5 * wire.ClipChunkMax / 2, Now: clock, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer run(t, u)()
	if err := u.Auto("a1", 0); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "held by the budget", func() bool { s := u.Stats(); return s.Held == 1 && s.Sending == "" })
	if s := u.Stats(); s.AutoToday != 2*wire.ClipChunkMax || s.Pending != 1 || s.Budget != 5*wire.ClipChunkMax/2 {
		t.Fatalf("stats %+v, want 2 chunks sent and the rest held", s)
	}
	// The station asks for another clip: it goes beyond the budget.
	if _, err := u.Handler(context.Background(), json.RawMessage(`{"clip":"a2"}`)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the asked clip sent", func() bool { return len(pub.bytesOf("a2")) == 4*wire.ClipChunkMax && u.Stats().Pending == 1 })
	if s := u.Stats(); s.BytesToday != 6*wire.ClipChunkMax || s.AutoToday != 2*wire.ClipChunkMax || s.Held != 1 {
		t.Fatalf("stats %+v", s)
	}
	mu.Lock()
	now = now.Add(24 * time.Hour)
	mu.Unlock()
	if err := u.Auto("a2", 0); err != nil { // any wake-up; a2 is sent again as automatic
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the held clip sent the next day", func() bool { return len(pub.bytesOf("a1")) == 4*wire.ClipChunkMax })
}

func TestHandlerErrors(t *testing.T) {
	src := newMemSource()
	src.add("c3", "cong", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), 100)
	src.add("c4", "cong", time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC), 100)
	u, err := New(src, &recorder{}, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		`{}`:                                    `missing "clip" or "camera"`,
		`{"clip":"../x"}`:                       "is not a clip id",
		`{"clip":"c3","offset":-1}`:             "is negative",
		`{"clip":"c3","offset":101}`:            "beyond the clip's 100 bytes",
		`{"clip":"nope"}`:                       `no clip "nope"`,
		`{"clip":"c3","camera":"cong"}`:         "not both",
		`{"camera":"cong"}`:                     `needs "from" and "to"`,
		`{"camera":"cong","from":"x","to":"y"}`: `"from": "x" is not an RFC 3339 time`,
		`{"camera":"cong","from":"2026-12-02T00:00:00Z","to":"2026-12-01T00:00:00Z"}`: `"to" is before "from"`,
		`{"clip":1}`:    `argument "clip"`,
		`{"clips":"c"}`: `unknown argument "clips"`,
	} {
		if _, err := u.Handler(context.Background(), json.RawMessage(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
	res, err := u.Handler(context.Background(), json.RawMessage(`{"camera":"cong","from":"2026-12-01T09:30:00Z","to":"2026-12-01T10:30:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.(Reply); len(r.Clips) != 1 || r.Clips[0].ID != "c3" {
		t.Fatalf("range reply %+v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(u.opts.Dir, StateFile)); !bytes.Contains(b, []byte(`"c3"`)) {
		t.Fatalf("state file %s does not hold the request", b)
	}
}

func FuzzDecodeGet(f *testing.F) {
	for _, s := range []string{`{"clip":"a","offset":3}`, `{"camera":"c","from":"2026-12-01T00:00:00Z","to":"2026-12-01T01:00:00+07:00"}`, `{}`, `[]`, `{"clip":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := DecodeGet(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if (g.Clip == "") == (g.Camera == "") {
			t.Fatalf("%s: decoded %+v: want exactly one of clip and camera", b, g)
		}
		if g.Clip != "" && (!wire.ValidClipID(g.Clip) || g.Offset < 0) {
			t.Fatalf("%s: bad clip accepted: %+v", b, g)
		}
		if g.Camera != "" && g.To.Before(g.From) {
			t.Fatalf("%s: to before from accepted", b)
		}
		if g.Skip != nil && (g.Camera == "" || len(g.Skip) > wire.ClipGetMaxSkip) {
			t.Fatalf("%s: skip of %d accepted for %+v", b, len(g.Skip), g)
		}
		for id := range g.Skip {
			if !wire.ValidClipID(id) {
				t.Fatalf("%s: bad skip id %q accepted", b, id)
			}
		}
	})
}

// An automatic upload waits until its clip event has reached the station
// (the station refuses chunks of a clip it was not told of).
func TestAutoWaitsForItsEvent(t *testing.T) {
	src := newMemSource()
	src.add("w1", "cong", time.Now(), 1000)
	var mu sync.Mutex
	delivered := false
	pub := &recorder{}
	u, err := New(src, pub, Options{Dir: t.TempDir(), Poll: time.Millisecond, Delivered: func(seq uint64) bool {
		mu.Lock()
		defer mu.Unlock()
		if seq != 42 {
			t.Errorf("Delivered(%d), want 42", seq)
		}
		return delivered
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer run(t, u)()
	if err := u.Auto("w1", 42); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // a window in which nothing may go; not a synchronisation
	if n := len(pub.sent()); n != 0 {
		t.Fatalf("%d chunks sent before the clip event was delivered", n)
	}
	mu.Lock()
	delivered = true
	mu.Unlock()
	devtest.WaitFor(t, 10*time.Second, "sent once delivered", func() bool { return len(pub.bytesOf("w1")) == 1000 })
}

// The station asking again from another offset while a clip is being
// sent moves the upload there.
func TestAskAgainMoves(t *testing.T) {
	src := newMemSource()
	want := src.add("m1", "cong", time.Now(), 8*wire.ClipChunkMax)
	var u *Uploader
	asked := false
	pub := &recorder{}
	pub.fail = func(topic string) error {
		if topic == fmt.Sprintf("clip/m1/%d", 4*wire.ClipChunkMax) && !asked {
			asked = true
			pub.mu.Unlock() // Handler takes the uploader's lock, not the recorder's
			_, err := u.Handler(context.Background(), json.RawMessage(`{"clip":"m1","offset":262144}`))
			pub.mu.Lock()
			return err
		}
		return nil
	}
	var err error
	if u, err = New(src, pub, Options{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	defer run(t, u)()
	if _, err := u.Handler(context.Background(), json.RawMessage(`{"clip":"m1"}`)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "sent", func() bool { return u.Stats().Pending == 0 })
	// Chunks go a few at a time (Options.Window) and may leave in any
	// order within the window; the ones in flight at the request finish,
	// then the upload starts again from the asked offset to the end.
	sent := pub.sent()
	var tail []string
	if len(sent) >= 7 {
		tail = append(tail, sent[len(sent)-7:]...)
	}
	sort.Slice(tail, func(i, j int) bool {
		return len(tail[i]) < len(tail[j]) || len(tail[i]) == len(tail[j]) && tail[i] < tail[j]
	})
	var want7 []string
	for k := 1; k < 8; k++ {
		want7 = append(want7, fmt.Sprintf("clip/m1/%d", k*wire.ClipChunkMax))
	}
	if strings.Join(tail, " ") != strings.Join(want7, " ") || len(sent) > 8+7 {
		t.Fatalf("after the second request: %v", sent)
	}
	if !bytes.Equal(pub.bytesOf("m1"), want) {
		t.Fatal("bytes differ")
	}
}
