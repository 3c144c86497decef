package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/antt-gateway/antt/uplink/wire"
)

// FuzzAdd feeds raw payloads: Add must not panic, and what it accepts must
// be readable back.
func FuzzAdd(f *testing.F) {
	f.Add([]byte(`{"seq":1,"id":"g/1","kind":"motion"}`))
	f.Add([]byte(`{"seq":9,"id":"g/9","kind":"outbox_overflow","attrs":{"first_seq":2,"last_seq":8}}`))
	f.Add([]byte(`{"seq":9,"id":"g/9","kind":"outbox_overflow","attrs":{"first_seq":"2","last_seq":1e300}}`))
	f.Add([]byte(`{"seq":5,"id":"g/5","kind":"storage_reset","attrs":{"resumed_seq":-1}}`))
	f.Add([]byte(`{"seq":20,"id":"g/20","kind":"outbox_overflow","attrs":{"first_seq":12,"last_seq":19,"resets":[12]}}`))
	f.Add([]byte(`{"seq":30,"id":"g/30","kind":"outbox_overflow","attrs":{"first_seq":21,"last_seq":29,"ranges":[[21,22],[25,29]],"resets":[25,21,25,0,1e300,-3,"26","x",[27],null]}}`))
	f.Add([]byte(`{"seq":40,"id":"g/40","kind":"outbox_overflow","attrs":{"first_seq":1,"last_seq":18446744073709551615,"resets":"31"}}`))
	f.Add([]byte(`{"seq":41,"id":"g/41","kind":"outbox_overflow","attrs":{"first_seq":"1","last_seq":"18446744073709551615","resets":["18446744073709551615",1,2]}}`))
	f.Add([]byte(`[]`))
	l, err := Open(filepath.Join(f.TempDir(), "fuzz.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := l.Add("g", wire.TopicEvent, raw)
		if err != nil {
			return
		}
		got, ok, err := l.Event("g", r.Event.Epoch, r.Event.Seq)
		if err != nil || !ok || (r.Status == New && string(got) != string(raw)) {
			t.Fatalf("stored %q ok=%v err=%v", got, ok, err)
		}
	})
}

// FuzzGapInvariant plays a sequence of events (one per input byte: seq
// and kind from its bits; an overflow event takes its range from the next
// byte and, when the byte after has its top bit set, a reset from it) and
// checks that every seq up to the highest is
// either stored or in exactly one gap, gaps in order and apart.
func FuzzGapInvariant(f *testing.F) {
	f.Add([]byte{0, 4, 2, 0x45, 3, 0x88, 9, 1})
	f.Add([]byte{0x3f, 0x7f, 0xbf, 0xff, 0, 1, 2})
	f.Add([]byte{10, 0x41, 20, 0x8a, 15})
	f.Add([]byte{4, 0x70, 9, 0x81, 0x30, 2})
	f.Add([]byte{0x7f, 20, 0x80, 1, 0x45, 0x3f, 0x87})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		l, err := Open(filepath.Join(t.TempDir(), "g.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i, b := range ops {
			seq := uint64(b&0x3f) + 1
			kind, attrs := wire.KindMotion, map[string]any(nil)
			switch b >> 6 {
			case 1:
				kind = wire.KindOutboxOverflow
				first := uint64(ops[(i+1)%len(ops)]&0x3f) + 1
				attrs = map[string]any{"first_seq": first, "last_seq": first + uint64(b&7)}
				if r := ops[(i+2)%len(ops)]; r&0x80 != 0 {
					attrs["resets"] = []any{first + uint64(r&7), uint64(r & 0x3f)}
				}
			case 2:
				kind = wire.KindStorageReset
			}
			if _, err := l.Add("g", wire.TopicEvent, ev("g", seq, kind, attrs)); err != nil {
				t.Fatal(err)
			}
		}
		c, _ := l.Counters("g")
		gaps, _ := l.Gaps("g")
		covered := map[uint64]int{}
		var prevLast uint64
		for i, g := range gaps {
			if g.First > g.Last || g.First < 1 || g.Last >= c.MaxSeq || (i > 0 && g.First <= prevLast) {
				t.Fatalf("bad gap %+v after %d (max %d): %q", g, prevLast, c.MaxSeq, gapsString(gaps))
			}
			if g.Explained != (g.Reason != "") {
				t.Fatalf("gap %+v: explained flag and reason disagree", g)
			}
			prevLast = g.Last
			for s := g.First; s <= g.Last; s++ {
				covered[s]++
			}
		}
		var stored uint64
		for s := uint64(1); s <= c.MaxSeq; s++ {
			_, ok, _ := l.Event("g", "", s)
			if ok {
				stored++
			}
			if ok == (covered[s] == 1) {
				t.Fatalf("seq %d: stored=%v, in %d gaps: %q", s, ok, covered[s], gapsString(gaps))
			}
		}
		if stored != c.Received {
			t.Fatalf("received %d, stored %d", c.Received, stored)
		}
	})
}

// FuzzDecode feeds topics and payloads as a gateway may publish them:
// decode must not panic, what it refuses wraps ErrInvalid, and what it
// accepts is stored (and read back) under the epoch it names.
func FuzzDecode(f *testing.F) {
	f.Add("event", []byte(`{"seq":1,"id":"g/1","epoch":"0f3a9c2e4b5d6a7e","kind":"motion"}`))
	f.Add("event", []byte(`{"seq":2,"id":"g/2","epoch":"","kind":"boot"}`))
	f.Add("event", []byte(`{"seq":3,"id":"g/3","epoch":"UPPER","kind":"boot"}`))
	f.Add("snapshot/1", []byte("\xff\xd8\xff\xe0 jpeg"))
	f.Add("snapshot/001", []byte("x"))
	f.Add("snapshot/18446744073709551615", []byte("x"))
	f.Add("snapshot/", []byte("x"))
	f.Add("telemetry", []byte(`{}`))
	s, err := Open(filepath.Join(f.TempDir(), "fuzz.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, rest string, payload []byte) {
		r, err := s.Add("g", rest, payload)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: error %v does not wrap ErrInvalid", rest, err)
			}
			return
		}
		if !Claims(rest) {
			t.Fatalf("stored a payload of unclaimed topic %q", rest)
		}
		if r.Snapshot {
			got, ok, err := s.Snapshot("g", r.Event.Epoch, r.Event.Seq)
			if err != nil || !ok || (r.Status == New && !bytes.Equal(got, payload)) {
				t.Fatalf("snapshot %q: stored %q ok=%v err=%v", rest, got, ok, err)
			}
			return
		}
		got, ok, err := s.Event("g", r.Event.Epoch, r.Event.Seq)
		if err != nil || !ok || (r.Status == New && !bytes.Equal(got, payload)) {
			t.Fatalf("event: stored %q ok=%v err=%v", got, ok, err)
		}
	})
}
