package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

func openLog(t *testing.T, path string) *Store {
	t.Helper()
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { l.Close() })
	return l
}

func ev(gw string, seq uint64, kind string, attrs map[string]any) []byte {
	b, err := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(gw, seq), Kind: kind, Source: "gate-pir",
		State: wire.StateActive, Time: time.Unix(1_800_000_000, 0).UTC(), Boot: "b1", Attrs: attrs})
	if err != nil {
		panic(err)
	}
	return b
}

func add(t *testing.T, l *Store, gw string, seq uint64, kind string, attrs map[string]any) Result {
	t.Helper()
	r, err := l.Add(gw, wire.TopicEvent, ev(gw, seq, kind, attrs))
	if err != nil {
		t.Fatalf("add %s/%d: %v", gw, seq, err)
	}
	return r
}

// gapsString renders gaps compactly: "1-3 5-5!" where ! marks explained.
func gapsString(gs []Gap) string {
	s := ""
	for i, g := range gs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d-%d", g.First, g.Last)
		if g.Explained {
			s += "!"
		}
	}
	return s
}

func wantGaps(t *testing.T, l *Store, gw, want string) {
	t.Helper()
	gs, err := l.Gaps(gw)
	if err != nil {
		t.Fatal(err)
	}
	if got := gapsString(gs); got != want {
		t.Fatalf("gaps of %s = %q, want %q", gw, got, want)
	}
}

func TestDuplicates(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	if r := add(t, l, "a", 1, wire.KindMotion, nil); r.Status != New || r.Late || len(r.NewGaps) != 0 {
		t.Fatalf("first add: %+v", r)
	}
	if r := add(t, l, "a", 1, wire.KindMotion, nil); r.Status != Duplicate || r.Conflict {
		t.Fatalf("second add: %+v", r)
	}
	// Same id, other bytes: still a duplicate, flagged.
	r, err := l.Add("a", wire.TopicEvent, ev("a", 1, wire.KindPanic, nil))
	if err != nil || r.Status != Duplicate || !r.Conflict {
		t.Fatalf("conflicting add: %+v, %v", r, err)
	}
	// The same seq from another gateway is another event.
	if r := add(t, l, "b", 1, wire.KindMotion, nil); r.Status != New {
		t.Fatalf("other gateway: %+v", r)
	}
	c, _ := l.Counters("a")
	if c.Received != 1 || c.Duplicates != 2 {
		t.Fatalf("counters %+v", c)
	}
	raw, ok, err := l.Event("a", "", 1)
	if err != nil || !ok || string(raw) != string(ev("a", 1, wire.KindMotion, nil)) {
		t.Fatalf("stored event %s %v %v", raw, ok, err)
	}
	c, _ = l.Counters("")
	if c.Received != 2 || c.Duplicates != 2 {
		t.Fatalf("total counters %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	for name, tc := range map[string]struct {
		gw  string
		raw []byte
	}{
		"not json":      {"a", []byte("{")},
		"seq 0":         {"a", []byte(`{"seq":0,"id":"a/0","kind":"motion"}`)},
		"id mismatch":   {"a", ev("b", 1, wire.KindMotion, nil)},
		"bad gateway":   {"A B", []byte(`{"seq":1,"id":"A B/1","kind":"motion"}`)},
		"negative seq":  {"a", []byte(`{"seq":-1,"id":"a/-1"}`)},
		"seq too large": {"a", []byte(`{"seq":18446744073709551615,"id":"a/18446744073709551615"}`)},
	} {
		if _, err := l.Add(tc.gw, wire.TopicEvent, tc.raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	if gws, _ := l.Gateways(); len(gws) != 0 {
		t.Fatalf("invalid events created gateways %v", gws)
	}
}

func TestGapsAndLateFill(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	add(t, l, "a", 1, wire.KindMotion, nil)
	r := add(t, l, "a", 5, wire.KindMotion, nil)
	if gapsString(r.NewGaps) != "2-4" {
		t.Fatalf("new gaps %q", gapsString(r.NewGaps))
	}
	add(t, l, "a", 6, wire.KindMotion, nil)
	r = add(t, l, "a", 10, wire.KindMotion, nil)
	if gapsString(r.NewGaps) != "7-9" {
		t.Fatalf("new gaps %q", gapsString(r.NewGaps))
	}
	wantGaps(t, l, "a", "2-4 7-9")

	// Late delivery into the middle splits, at the edges shrinks.
	if r := add(t, l, "a", 3, wire.KindMotion, nil); !r.Late || r.Status != New || len(r.NewGaps) != 0 {
		t.Fatalf("late: %+v", r)
	}
	wantGaps(t, l, "a", "2-2 4-4 7-9")
	add(t, l, "a", 7, wire.KindMotion, nil)
	wantGaps(t, l, "a", "2-2 4-4 8-9")
	add(t, l, "a", 9, wire.KindMotion, nil)
	wantGaps(t, l, "a", "2-2 4-4 8-8")
	add(t, l, "a", 2, wire.KindMotion, nil)
	add(t, l, "a", 4, wire.KindMotion, nil)
	add(t, l, "a", 8, wire.KindMotion, nil)
	wantGaps(t, l, "a", "")
	c, _ := l.Counters("a")
	if c.Received != 10 || c.GapsUnexplained != 0 || c.MaxSeq != 10 {
		t.Fatalf("counters %+v", c)
	}
}

func TestFirstEventNotOne(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	r := add(t, l, "a", 57, wire.KindBoot, nil)
	if gapsString(r.NewGaps) != "1-56" {
		t.Fatalf("new gaps %q", gapsString(r.NewGaps))
	}
	c, _ := l.Counters("a")
	if c.GapsUnexplained != 1 || c.MissingUnexplained != 56 {
		t.Fatalf("counters %+v", c)
	}
}

func overflow(first, last uint64) map[string]any {
	return map[string]any{"dropped": last - first + 1, "first_seq": first, "last_seq": last}
}

func TestOverflowAfterGap(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	add(t, l, "a", 1, wire.KindMotion, nil)
	add(t, l, "a", 20, wire.KindMotion, nil) // gap 2-19, seen before its explanation
	// The overflow event (seq 21) says 5-15 were dropped: the gap splits.
	r := add(t, l, "a", 21, wire.KindOutboxOverflow, overflow(5, 15))
	if gapsString(r.Explained) != "5-15!" || len(r.NewGaps) != 0 {
		t.Fatalf("result %+v", r)
	}
	wantGaps(t, l, "a", "2-4 5-15! 16-19")
	gs, _ := l.Gaps("a")
	if gs[1].Reason != "outbox_overflow (event 21, 11 dropped)" {
		t.Fatalf("reason %q", gs[1].Reason)
	}
	c, _ := l.Counters("a")
	if c.GapsExplained != 1 || c.GapsUnexplained != 2 || c.MissingExplained != 11 || c.MissingUnexplained != 7 {
		t.Fatalf("counters %+v", c)
	}
}

func TestOverflowBeforeGap(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	add(t, l, "a", 1, wire.KindMotion, nil)
	// Delivered out of order: the overflow event arrives, then the gap it
	// explains is seen when a higher seq comes... here the overflow event
	// itself opens the gap it explains, the usual case.
	r := add(t, l, "a", 12, wire.KindOutboxOverflow, overflow(2, 11))
	if gapsString(r.NewGaps) != "2-11!" || len(r.Explained) != 0 {
		t.Fatalf("result new %q explained %q", gapsString(r.NewGaps), gapsString(r.Explained))
	}
	// An explanation for seqs not yet missing: kept, applied when the gap
	// opens later.
	add(t, l, "a", 13, wire.KindOutboxOverflow, overflow(30, 39))
	r = add(t, l, "a", 45, wire.KindMotion, nil)
	if gapsString(r.NewGaps) != "14-29 30-39! 40-44" {
		t.Fatalf("new gaps %q", gapsString(r.NewGaps))
	}
	wantGaps(t, l, "a", "2-11! 14-29 30-39! 40-44")
	// A late event inside an explained gap still fills it.
	add(t, l, "a", 35, wire.KindMotion, nil)
	wantGaps(t, l, "a", "2-11! 14-29 30-34! 36-39! 40-44")
}

func TestStorageReset(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	add(t, l, "a", 1, wire.KindMotion, nil)
	add(t, l, "a", 2, wire.KindMotion, nil)
	r := add(t, l, "a", 1000, wire.KindStorageReset, map[string]any{"resumed_seq": 1000})
	if gapsString(r.NewGaps) != "3-999!" {
		t.Fatalf("new gaps %q", gapsString(r.NewGaps))
	}
	if r.NewGaps[0].Reason != "storage_reset (event 1000, resumed at seq 1000)" {
		t.Fatalf("reason %q", r.NewGaps[0].Reason)
	}
	// A storage_reset arriving late, after the gap was seen, explains the
	// part of the gap just before it.
	add(t, l, "b", 1, wire.KindMotion, nil)
	add(t, l, "b", 60, wire.KindMotion, nil)
	wantGaps(t, l, "b", "2-59")
	r = add(t, l, "b", 50, wire.KindStorageReset, nil)
	if !r.Late || gapsString(r.Explained) != "2-49!" {
		t.Fatalf("late reset: late %v explained %q", r.Late, gapsString(r.Explained))
	}
	wantGaps(t, l, "b", "2-49! 51-59")
	// Nothing before it missing: nothing to explain.
	r = add(t, l, "c", 1, wire.KindStorageReset, nil)
	if len(r.Explained)+len(r.NewGaps) != 0 {
		t.Fatalf("reset at 1: %+v", r)
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ev.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	add(t, l, "a", 1, wire.KindMotion, nil)
	add(t, l, "a", 2, wire.KindOutboxOverflow, overflow(10, 12)) // explanation ahead of its gap
	add(t, l, "a", 5, wire.KindMotion, nil)
	add(t, l, "a", 5, wire.KindMotion, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, path)
	wantGaps(t, l, "a", "3-4")
	if r := add(t, l, "a", 5, wire.KindMotion, nil); r.Status != Duplicate {
		t.Fatalf("after reopen: %+v", r)
	}
	r := add(t, l, "a", 14, wire.KindMotion, nil)
	if gapsString(r.NewGaps) != "6-9 10-12! 13-13" {
		t.Fatalf("new gaps after reopen %q", gapsString(r.NewGaps))
	}
	add(t, l, "a", 3, wire.KindMotion, nil)
	c, _ := l.Counters("a")
	want := Counters{Received: 5, Duplicates: 2, GapsExplained: 1, GapsUnexplained: 3,
		MissingExplained: 3, MissingUnexplained: 6, MaxSeq: 14, Epochs: 1}
	if c != want {
		t.Fatalf("counters %+v, want %+v", c, want)
	}
	if gws, _ := l.Gateways(); len(gws) != 1 || gws[0] != "a" {
		t.Fatalf("gateways %v", gws)
	}
}

func TestState(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	at := time.Unix(1_800_000_000, 0)
	l.SetStatus("a", wire.Status{Online: true, Boot: "b1", Version: "v1"}, at)
	temp := 51.5
	l.SetTelemetry("a", wire.Telemetry{UptimeS: 3, CPUTempC: &temp, Cameras: map[string]string{"gate": "ok"}}, at)
	add(t, l, "a", 3, wire.KindMotion, nil)
	s, ok := l.State("a")
	if !ok || !s.Online() || s.Status.Version != "v1" || s.Telemetry.UptimeS != 3 || s.LastSeq != 3 {
		t.Fatalf("state %+v", s)
	}
	s.Telemetry.Cameras["gate"] = "changed"
	*s.Telemetry.CPUTempC = 0
	l.SetStatus("a", wire.Status{Online: false, Boot: "b1"}, at)
	s2, _ := l.State("a")
	if s2.Online() || s2.Telemetry.Cameras["gate"] != "ok" || *s2.Telemetry.CPUTempC != 51.5 {
		t.Fatalf("state not a copy or not updated: %+v", s2)
	}
	if all := l.States(); len(all) != 1 || all[0].ID != "a" {
		t.Fatalf("states %+v", all)
	}
}

func TestAttrUint(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want uint64
		ok   bool
	}{
		{float64(7), 7, true}, {"8", 8, true}, {json.Number("9"), 9, true},
		{float64(-1), 0, false}, {1.5, 0, false}, {"x", 0, false}, {nil, 0, false}, {true, 0, false},
	} {
		got, ok := attrUint(map[string]any{"k": tc.v}, "k")
		if got != tc.want || ok != tc.ok {
			t.Errorf("attrUint(%v) = %d, %v", tc.v, got, ok)
		}
	}
	if _, _, ok := attrRange(map[string]any{"first_seq": 5.0, "last_seq": 4.0}); ok {
		t.Error("reversed range accepted")
	}
}

// An overflow event that absorbed an undelivered one lists exact runs: only
// those are explained, not the seqs between them.
func TestOverflowRunsExplainOnlyTheirSeqs(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "events.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	add := func(seq uint64, kind string, attrs map[string]any) {
		t.Helper()
		ev := wire.Event{Seq: seq, ID: wire.EventID("gw", seq), Kind: kind, Attrs: attrs}
		raw, _ := json.Marshal(ev)
		if _, err := l.Add("gw", wire.TopicEvent, raw); err != nil {
			t.Fatal(err)
		}
	}
	add(1, wire.KindMotion, nil)
	// 2..10 never arrive; 11..20 were dropped, 21..30 never arrive either.
	add(40, wire.KindOutboxOverflow, map[string]any{"dropped": 15, "first_seq": 2, "last_seq": 25,
		"ranges": []any{[]any{2, 6}, []any{15, 25}}})
	gaps, err := l.Gaps("gw")
	if err != nil {
		t.Fatal(err)
	}
	var explained, unexplained uint64
	for _, g := range gaps {
		if g.Explained {
			explained += g.Len()
		} else {
			unexplained += g.Len()
		}
	}
	if explained != 16 || unexplained != 38-16 {
		t.Fatalf("explained %d, unexplained %d, want 16 and 22; gaps %+v", explained, unexplained, gaps)
	}
}

func overflowResets(first, last uint64, resets ...any) map[string]any {
	a := overflow(first, last)
	a["resets"] = resets
	return a
}

// An overflow event that dropped an undelivered storage_reset event (seq
// 120) names it in resets: the gap before the reset is explained by it, the
// dropped seqs by the overflow, whatever the order of arrival.
func TestOverflowDroppedReset(t *testing.T) {
	const resetReason = "storage_reset 120 (dropped, reported by outbox_overflow 131)"
	check := func(t *testing.T, l *Store, gw, want string) {
		t.Helper()
		wantGaps(t, l, gw, want)
		gs, _ := l.Gaps(gw)
		if gs[0].Reason != resetReason {
			t.Fatalf("reason %q, want %q", gs[0].Reason, resetReason)
		}
		if c, _ := l.Counters(gw); c.GapsUnexplained != 0 || c.MissingUnexplained != 0 {
			t.Fatalf("counters %+v", c)
		}
	}
	t.Run("gap opened by the overflow event", func(t *testing.T) {
		l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
		for s := uint64(1); s <= 5; s++ {
			add(t, l, "a", s, wire.KindMotion, nil)
		}
		r := add(t, l, "a", 131, wire.KindOutboxOverflow, overflowResets(120, 130, 120))
		if gapsString(r.NewGaps) != "6-119! 120-130!" || len(r.Explained) != 0 {
			t.Fatalf("new %q explained %q", gapsString(r.NewGaps), gapsString(r.Explained))
		}
		check(t, l, "a", "6-119! 120-130!")
	})
	t.Run("overflow event first", func(t *testing.T) {
		l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
		add(t, l, "a", 131, wire.KindOutboxOverflow, overflowResets(120, 130, 120))
		for s := uint64(1); s <= 5; s++ {
			if r := add(t, l, "a", s, wire.KindMotion, nil); !r.Late {
				t.Fatalf("event %d not late", s)
			}
		}
		check(t, l, "a", "6-119! 120-130!")
	})
	t.Run("gap seen before the overflow event", func(t *testing.T) {
		l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
		for s := uint64(1); s <= 5; s++ {
			add(t, l, "a", s, wire.KindMotion, nil)
		}
		add(t, l, "a", 140, wire.KindMotion, nil)
		wantGaps(t, l, "a", "6-139")
		r := add(t, l, "a", 131, wire.KindOutboxOverflow, overflowResets(120, 130, 120))
		if gapsString(r.Explained) != "120-130! 6-119!" || !r.Late {
			t.Fatalf("explained %q late %v", gapsString(r.Explained), r.Late)
		}
		wantGaps(t, l, "a", "6-119! 120-130! 132-139")
		gs, _ := l.Gaps("a")
		if gs[0].Reason != resetReason {
			t.Fatalf("reason %q", gs[0].Reason)
		}
	})
	t.Run("explanation ahead of its gap", func(t *testing.T) {
		l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
		add(t, l, "a", 1, wire.KindMotion, nil)
		add(t, l, "a", 2, wire.KindMotion, nil)
		add(t, l, "a", 3, wire.KindOutboxOverflow, overflowResets(30, 39, 30))
		r := add(t, l, "a", 45, wire.KindMotion, nil)
		if gapsString(r.NewGaps) != "4-29! 30-39! 40-44" {
			t.Fatalf("new gaps %q", gapsString(r.NewGaps))
		}
		if r.NewGaps[0].Reason != "storage_reset 30 (dropped, reported by outbox_overflow 3)" {
			t.Fatalf("reason %q", r.NewGaps[0].Reason)
		}
	})
}

// Malformed resets explain nothing beyond what the overflow range does.
func TestOverflowBadResets(t *testing.T) {
	for i, resets := range []any{
		"120", 120.0, map[string]any{"r": 120}, []any{"x"}, []any{0.0}, []any{-120.0}, []any{120.5},
		[]any{1e300}, []any{"18446744073709551615"}, []any{[]any{120.0}}, []any{nil, true},
		[]any{50.0},  // outside the dropped range: event 50 was received
		[]any{131.0}, // the overflow event itself
	} {
		l := openLog(t, filepath.Join(t.TempDir(), fmt.Sprintf("ev%d.db", i)))
		add(t, l, "a", 1, wire.KindMotion, nil)
		add(t, l, "a", 50, wire.KindMotion, nil)
		a := overflow(120, 130)
		a["resets"] = resets
		add(t, l, "a", 131, wire.KindOutboxOverflow, a)
		gs, _ := l.Gaps("a")
		if gapsString(gs) != "2-49 51-119 120-130!" {
			t.Errorf("resets %#v: gaps %q", resets, gapsString(gs))
		}
	}
	// A reset at 1 follows no gap.
	l := openLog(t, filepath.Join(t.TempDir(), "one.db"))
	r := add(t, l, "a", 12, wire.KindOutboxOverflow, overflowResets(1, 11, 1.0))
	if gapsString(r.NewGaps) != "1-11!" || r.NewGaps[0].Reason != "outbox_overflow (event 12, 11 dropped)" {
		t.Fatalf("reset at 1: %+v", r.NewGaps)
	}
}
