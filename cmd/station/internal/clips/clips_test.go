package clips

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
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
