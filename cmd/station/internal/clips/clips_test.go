package clips

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

func announce(t *testing.T, s *Store, gw, id string, data []byte) {
	t.Helper()
	sum := sha256.Sum256(data)
	if err := s.Announce(Info{Gateway: gw, ID: id, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
}

func TestPutRefusals(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := bytes.Repeat([]byte("0123456789"), 100)
	announce(t, s, "gw1", "c1", data)
	if _, err := s.Put("gw1", "c1", 0, data[:300]); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		gw, clip string
		off      int64
		b        []byte
		want     string
	}{
		"unknown":   {"gw1", "nope", 0, data[:10], "which no clip event announced"},
		"other gw":  {"gw2", "c1", 0, data[:10], "which no clip event announced"},
		"beyond":    {"gw1", "c1", 900, data[:200], "beyond its announced length 1000"},
		"empty":     {"gw1", "c1", 0, nil, "empty"},
		"too big":   {"gw1", "c1", 0, make([]byte, wire.ClipChunkMax+1), "more than"},
		"different": {"gw1", "c1", 200, bytes.Repeat([]byte("x"), 200), "differs from the bytes held at [200,300)"},
		"bad id":    {"gw1", "../c1", 0, data[:10], "clip id"},
	} {
		_, err := s.Put(tc.gw, tc.clip, tc.off, tc.b)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrRefused with %q", name, err, tc.want)
		}
	}
	// A resend of held bytes, and an overlap that agrees, are fine.
	if _, err := s.Put("gw1", "c1", 100, data[100:200]); err != nil {
		t.Fatal(err)
	}
	st, err := s.Put("gw1", "c1", 200, data[200:700])
	if err != nil || st.State != Partial || st.Next != 700 || st.Have != 700 {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := s.Put("gw1", "c1", 800, data[800:]); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := s.Status("gw1", "c1"); st.Next != 700 || len(st.Spans) != 2 {
		t.Fatalf("spans %+v", st.Spans)
	}
	st, err = s.Put("gw1", "c1", 700, data[700:800])
	if err != nil || st.State != Complete {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := s.Put("gw1", "c1", 0, data[:10]); err != nil {
		t.Fatalf("a resend after completion: %v", err)
	}
	if err := s.Announce(Info{Gateway: "gw1", ID: "c1", Bytes: 5, SHA256: strings.Repeat("0", 64)}); !errors.Is(err, ErrRefused) {
		t.Fatalf("re-announce with another length: %v", err)
	}
}

// Bytes that do not hash to the announced SHA-256 are emptied: the clip
// must be fetched again, never shown as complete.
func TestHashMismatchEmpties(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Announce(Info{Gateway: "gw1", ID: "c1", Bytes: 4, SHA256: strings.Repeat("ab", 32)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Put("gw1", "c1", 0, []byte("abcd"))
	if err != nil || st.State != Missing || st.Have != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	if _, _, err := s.Open("gw1", "c1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open: %v", err)
	}
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{MaxBytes: 250, MaxAge: 48 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, id := range []string{"a", "b", "c"} {
		now = now.Add(time.Duration(i) * time.Hour)
		d := bytes.Repeat([]byte{byte(i)}, 100)
		announce(t, s, "gw1", id, d)
		if _, err := s.Put("gw1", id, 0, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := s.Status("gw1", "a"); ok {
		t.Fatal("the oldest clip kept beyond the byte bound")
	}
	now = now.Add(47 * time.Hour)
	s.Prune()
	l, _ := s.List("")
	if len(l) != 1 || l[0].ID != "c" {
		t.Fatalf("after the age bound: %+v", l)
	}
}

type fakeNext struct{ kind string }

func (f fakeNext) Submit(gw, rest string, p []byte, done func(store.Result, error)) {
	done(store.Result{Event: wire.Event{Kind: f.kind, Seq: 7}}, nil)
}

// A clip event announces its clip before done; chunks then store, and a
// chunk the store refuses is store.ErrInvalid (acknowledged, dropped).
func TestIngest(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := Ingest{Next: fakeNext{wire.KindClip}, Clips: s}
	data := []byte("hello clip")
	sum := sha256.Sum256(data)
	ev := `{"seq":7,"kind":"clip","source":"cong","attrs":{"clip":"c9","bytes":10,"sha256":"` + hex.EncodeToString(sum[:]) + `","upload":"auto"}}`
	var got error = errors.New("not called")
	in.Submit("gw1", wire.TopicEvent, []byte(ev), func(_ store.Result, err error) { got = err })
	if got != nil {
		t.Fatal(got)
	}
	if st, ok, _ := s.Status("gw1", "c9"); !ok || st.Camera != "cong" || st.Upload != "auto" || st.Seq != 7 {
		t.Fatalf("announced %+v %v", st, ok)
	}
	in.Submit("gw1", "clip/c9/0", data, func(_ store.Result, err error) { got = err })
	if got != nil {
		t.Fatal(got)
	}
	in.Submit("gw1", "clip/c9/5", []byte("HELLO"), func(_ store.Result, err error) { got = err })
	if !errors.Is(got, store.ErrInvalid) {
		t.Fatalf("a wrong chunk: %v, want store.ErrInvalid", got)
	}
	in.Submit("gw1", "clip/c9/x", data, func(_ store.Result, err error) { got = err })
	if !errors.Is(got, store.ErrInvalid) {
		t.Fatalf("a bad topic: %v, want store.ErrInvalid", got)
	}
	if st, _, _ := s.Status("gw1", "c9"); st.State != Complete {
		t.Fatalf("state %s", st.State)
	}
}

func FuzzClipOfEvent(f *testing.F) {
	f.Add([]byte(`{"seq":1,"kind":"clip","attrs":{"clip":"c","bytes":10,"sha256":"00"}}`))
	f.Add([]byte(`{"kind":"clip","attrs":{"clip":"c","bytes":1.5}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := ClipOfEvent("gw", b)
		if err == nil && (!wire.ValidClipID(in.ID) || in.Bytes <= 0) {
			t.Fatalf("accepted %+v", in)
		}
	})
}

// Above the byte bound, clips asked for go before armed-mode alarms'
// evidence (upload "auto"), and a clip being uploaded (a chunk within
// Uploading) is kept until it stops moving. Each clip is stored whole: an
// entry only announced holds no byte and pushes nothing out (review U1).
func TestRetentionKeepsUploadsAndEvidence(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{MaxBytes: 300, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	add := func(id, upload string, put int) {
		t.Helper()
		now = now.Add(time.Minute)
		d := bytes.Repeat([]byte(id), 100/len(id)+1)[:100]
		sum := sha256.Sum256(d)
		if err := s.Announce(Info{Gateway: "gw1", ID: id, Bytes: 100, SHA256: hex.EncodeToString(sum[:]), Upload: upload}); err != nil {
			t.Fatal(err)
		}
		if put > 0 {
			if _, err := s.Put("gw1", id, 0, d[:put]); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := func() string {
		l, _ := s.List("gw1")
		var out []string
		for _, st := range l {
			out = append(out, st.ID)
		}
		return strings.Join(out, " ")
	}
	add("alarm1", uploadAuto, 100)
	add("req1", "on_request", 100)
	add("up1", "on_request", 50) // partial, being uploaded
	add("req2", "on_request", 100)
	if got := ids(); got != "alarm1 up1 req2" {
		t.Fatalf("after req2: %s, want the older request deleted before the alarm's clip and the upload", got)
	}
	add("req3", "on_request", 100)
	if got := ids(); got != "alarm1 up1 req3" {
		t.Fatalf("after req3: %s", got)
	}
	now = now.Add(Uploading) // up1 stopped moving
	add("req4", "on_request", 100)
	if got := ids(); got != "alarm1 req3 req4" {
		t.Fatalf("after req4: %s, want the stalled upload deleted", got)
	}
	add("alarm2", uploadAuto, 100)
	add("alarm3", uploadAuto, 100)
	if got := ids(); got != "alarm1 alarm2 alarm3" {
		t.Fatalf("after alarm3: %s, want the requests gone before any alarm's clip", got)
	}
	add("alarm4", uploadAuto, 100)
	if got := ids(); got != "alarm2 alarm3 alarm4" {
		t.Fatalf("after alarm4: %s, want the oldest alarm's clip deleted last", got)
	}
}

// Chunks of different clips are stored at once (per-clip locks) and all
// end complete; the index agrees with the files.
func TestPutConcurrentClips(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const clips, chunk, n = 8, 1000, 5
	data := map[string][]byte{}
	for c := range clips {
		id := "c" + strconv.Itoa(c)
		data[id] = bytes.Repeat([]byte{byte(c)}, chunk*n)
		announce(t, s, "gw1", id, data[id])
	}
	var wg sync.WaitGroup
	for id, d := range data {
		wg.Go(func() {
			// Out of order within the clip too: the last chunk first.
			for _, k := range []int{n - 1, 0, 2, 1, 3} {
				if _, err := s.Put("gw1", id, int64(k*chunk), d[k*chunk:(k+1)*chunk]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for id, d := range data {
		f, st, err := s.Open("gw1", id)
		if err != nil {
			t.Fatalf("%s: %v (%+v)", id, err, st)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(b, d) {
			t.Fatalf("%s: bytes differ", id)
		}
	}
	if len(s.clipLk) != 0 {
		t.Fatalf("%d clip locks left", len(s.clipLk))
	}
}
