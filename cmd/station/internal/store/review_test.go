package store

import (
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// explanations counts the explanations kept for the epoch "" of gw.
func explanations(t *testing.T, l *Store, gw string) int {
	t.Helper()
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		eb := epochBucket(tx, gw, "")
		if eb == nil {
			t.Fatalf("no epoch bucket for %s", gw)
		}
		return eb.Bucket(bktExplain).ForEach(func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// An explanation of seqs already in gaps is applied and not kept; one of
// seqs ahead is kept until the gap it explains opens, and then deleted: the
// explanations opening a gap reads stay few.
func TestExplanationsKeptOnlyAhead(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	add(t, l, "a", 1, wire.KindMotion, nil)
	add(t, l, "a", 20, wire.KindMotion, nil)
	add(t, l, "a", 21, wire.KindOutboxOverflow, overflow(5, 15))
	add(t, l, "a", 25, wire.KindOutboxOverflow, overflow(22, 24))
	if n := explanations(t, l, "a"); n != 0 {
		t.Fatalf("%d explanations kept for seqs already missing, want 0", n)
	}
	add(t, l, "a", 26, wire.KindOutboxOverflow, overflowResets(30, 39, 30))
	if n := explanations(t, l, "a"); n != 2 {
		t.Fatalf("%d explanations kept for seqs ahead, want 2 (the run and the reset)", n)
	}
	add(t, l, "a", 45, wire.KindMotion, nil)
	wantGaps(t, l, "a", "2-4 5-15! 16-19 22-24! 27-29! 30-39! 40-44")
	if n := explanations(t, l, "a"); n != 0 {
		t.Fatalf("%d explanations kept after their gap opened, want 0", n)
	}
}

// A payload with thousands of runs ahead keeps at most maxAhead of them;
// the first maxAhead still explain their gaps, the others show unexplained,
// and the overflow event itself is stored.
func TestExplanationsAheadBounded(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	add(t, l, "a", 1, wire.KindMotion, nil)
	const runs = maxAhead + 500
	var ranges []any
	for i := range runs {
		lo := 1000 + 10*i
		ranges = append(ranges, []any{lo, lo + 4})
	}
	last := uint64(1000 + 10*(runs-1) + 4)
	r := add(t, l, "a", 2, wire.KindOutboxOverflow, map[string]any{"dropped": 5 * runs, "first_seq": 1000, "last_seq": last, "ranges": ranges})
	if r.Status != New {
		t.Fatalf("overflow event %+v", r)
	}
	if n := explanations(t, l, "a"); n != maxAhead {
		t.Fatalf("%d explanations kept, want the bound %d", n, maxAhead)
	}
	add(t, l, "a", last+1, wire.KindMotion, nil)
	c, err := l.Counters("a")
	if err != nil {
		t.Fatal(err)
	}
	if c.MissingExplained != 5*maxAhead || c.GapsExplained != maxAhead {
		t.Fatalf("counters %+v: want %d explained gaps of 5", c, maxAhead)
	}
	if c.MissingUnexplained+c.MissingExplained != last-2 {
		t.Fatalf("counters %+v: missing %d in all, want %d", c, c.MissingUnexplained+c.MissingExplained, last-2)
	}
	if n := explanations(t, l, "a"); n != 0 {
		t.Fatalf("%d explanations kept after the gap opened", n)
	}
}

// An overflow event built to make gap bookkeeping explode: many runs, each
// repeated, the whole range repeated, and a reset in every run. Each run
// must cost O(log n), not a walk over every gap per run (the writer, shared
// by every gateway, would stall for minutes); the result is still exact.
//
// Events are bounded by MaxEventBytes since; n is as large as fits in it
// (gateway b's event is the larger, about 50 bytes per n).
func TestOverflowAttrsHuge(t *testing.T) {
	n := 1200
	if testing.Short() {
		n = 600
	}
	l := openLog(t, filepath.Join(t.TempDir(), "ev.db"))
	// Runs [3i+2, 3i+3] for i < n (each given twice) leave 3i+4 out; the
	// reset at 3i+5 (the start of the next run, given twice) explains that
	// one seq. Gateway b's event also repeats the whole range n times after
	// the runs.
	first, last := uint64(2), uint64(3*n)
	for _, gw := range []string{"a", "b"} {
		add(t, l, gw, 1, wire.KindMotion, nil)
		var ranges, resets []any
		for i := range n {
			lo := uint64(3*i + 2)
			ranges = append(ranges, []any{lo, lo + 1}, []any{lo, lo + 1})
			if i > 0 {
				resets = append(resets, lo, lo)
			}
		}
		if gw == "b" {
			for range n {
				ranges = append(ranges, []any{first, last})
			}
		}
		attrs := map[string]any{"dropped": 2 * n, "first_seq": first, "last_seq": last, "ranges": ranges, "resets": resets}
		add(t, l, gw, last+1, wire.KindOutboxOverflow, attrs)
		c, err := l.Counters(gw)
		if err != nil {
			t.Fatal(err)
		}
		if c.GapsUnexplained != 0 || c.MissingExplained != last-1 {
			t.Fatalf("%s: counters %+v, want every seq of %d-%d explained", gw, c, first, last)
		}
		if gw == "a" && c.GapsExplained != 2*n-1 {
			t.Fatalf("%s: %d explained gaps, want %d (the runs and the seqs between them)", gw, c.GapsExplained, 2*n-1)
		}
	}
}

// The queue is bounded in bytes as well as in requests: with the writer
// stuck, Submit of large snapshots blocks once DefaultQueueBytes are
// waiting, instead of holding 8,192 of up to 4 MiB each (32 GiB) in memory
// and committing up to 4,096 of them (16 GiB of dirty pages) in one
// transaction.
func TestQueueBoundedInBytes(t *testing.T) {
	s := openWith(t, Options{SnapshotMaxBytes: 1 << 30})
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var maxBatch atomic.Int64
	setHook(s, func() error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	})
	s.batchSeen = func(bytes int) {
		if int64(bytes) > maxBatch.Load() {
			maxBatch.Store(int64(bytes))
		}
	}
	jpeg := make([]byte, MaxSnapshotBytes)
	var firstDone atomic.Bool
	var seq atomic.Uint64
	snap := func(done func(Result, error)) {
		s.Submit("a", "snapshot/"+itoa(seq.Add(1)), jpeg, done)
	}
	snap(func(Result, error) { firstDone.Store(true) })
	<-entered
	// The first is in the stuck commit; these fill the queue's bytes.
	fit := int(DefaultQueueBytes/MaxSnapshotBytes) - 1
	var answered atomic.Int64
	noop := func(_ Result, err error) {
		if err != nil {
			t.Error(err)
		}
		answered.Add(1)
	}
	for range fit {
		snap(noop)
	}
	returned := make(chan bool)
	go func() {
		snap(noop)
		returned <- firstDone.Load()
	}()
	close(release)
	if !<-returned {
		t.Fatalf("Submit with %d bytes queued returned before the writer committed the batch ahead", DefaultQueueBytes)
	}
	devtest.WaitFor(t, time.Minute, "all stored", func() bool { return answered.Load() == int64(fit+1) })
	if got := maxBatch.Load(); got > DefaultMaxBatchBytes+MaxSnapshotBytes {
		t.Fatalf("a batch of %d bytes, bound %d", got, DefaultMaxBatchBytes+MaxSnapshotBytes)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
