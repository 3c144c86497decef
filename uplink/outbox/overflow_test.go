package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/antt-gateway/antt/uplink/wire"
)

// dropRange is what one overflow event (at seq) reported lost: runs of
// seqs and their count.
type dropRange struct {
	seq  uint64
	runs [][2]uint64
	n    uint64
}

// TestOverflowDropsOldestExactly writes ten times the bound and checks that
// the file stays within it and that every seq ever given out is accounted
// for: still present, acked, or inside exactly one reported overflow range.
// An overflow event that was itself dropped before delivery does not count:
// the overflow event that dropped it reports its ranges too.
func TestOverflowDropsOldestExactly(t *testing.T) {
	opt := testOptions()
	opt.MaxBytes = 256 << 10
	overflow(t, opt, opt.MaxBytes/2)
}

// TestOverflowAtFileBound lets records use more than the file can hold, so
// bbolt's MaxSize is what stops growth: the fallback (drop in a commit of
// its own, retry) must keep the same promises.
func TestOverflowAtFileBound(t *testing.T) {
	opt := testOptions()
	opt.MaxBytes = 256 << 10
	opt.payloadBudget = 4 * opt.MaxBytes
	o := overflow(t, opt, opt.MaxBytes)
	if o.boundHits.Load() == 0 {
		t.Fatal("the file bound was never reached")
	}
}

func overflow(t *testing.T, opt Options, maxPayload int64) *Outbox {
	maxBytes := opt.MaxBytes
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, opt)
	ctx := context.Background()

	acked := map[uint64]bool{}
	var ranges []dropRange
	var seen uint64 // highest seq looked at for overflow events
	var written int64
	scan := func() {
		recs, err := o.Peek(seen, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			e := decode(t, r)
			seen = r.Seq
			if e.Kind != wire.KindOutboxOverflow {
				continue
			}
			if e.Boot != "boot-1" || e.Time.IsZero() || e.Source != "outbox" {
				t.Fatalf("overflow event not filled in: %+v", e)
			}
			first, last := uint64(e.Attrs["first_seq"].(float64)), uint64(e.Attrs["last_seq"].(float64))
			runs := [][2]uint64{{first, last}}
			if rs, ok := e.Attrs["ranges"].([]any); ok {
				runs = runs[:0]
				for _, r := range rs {
					ab := r.([]any)
					runs = append(runs, [2]uint64{uint64(ab[0].(float64)), uint64(ab[1].(float64))})
				}
				if runs[0][0] != first || runs[len(runs)-1][1] != last {
					t.Fatalf("overflow %d: ranges %v do not span first_seq..last_seq %d..%d", r.Seq, runs, first, last)
				}
			}
			ranges = append(ranges, dropRange{r.Seq, runs, uint64(e.Attrs["dropped"].(float64))})
		}
	}
	pad := strings.Repeat("p", 200)
	for i := 0; written < 10*maxBytes; i++ {
		var seqs []uint64
		if i%5 == 0 {
			evs := make([]*wire.Event, 20)
			for j := range evs {
				evs[j] = motion(i*100 + j)
				evs[j].Attrs["pad"] = pad
			}
			s, err := o.AppendBatch(ctx, evs)
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			seqs = s
		} else {
			e := motion(i)
			e.Attrs["pad"] = pad[:i%200]
			s, err := o.Append(ctx, e)
			if err != nil {
				t.Fatalf("append %d: %v", i, err)
			}
			seqs = []uint64{s}
		}
		written += int64(len(seqs)) * 300
		scan()
		if i%7 == 3 {
			// Ack the oldest present record, like a slow uplink.
			if recs, _ := o.Peek(0, 1); len(recs) == 1 {
				if err := o.Ack(recs[0].Seq); err != nil {
					t.Fatal(err)
				}
				acked[recs[0].Seq] = true
			}
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() > maxBytes {
			t.Fatalf("file size %d > %d (%v)", fi.Size(), maxBytes, err)
		}
	}
	if len(ranges) == 0 {
		t.Fatal("no overflow happened")
	}
	present := map[uint64]bool{}
	for _, r := range all(t, o) {
		present[r.Seq] = true
	}
	st := o.Stats()
	var dropped uint64
	inRange := map[uint64]int{}
	// Runs of different overflow events may come in any order (one that
	// absorbed an undelivered predecessor reports older seqs), but each seq
	// is in at most one of them: the count below proves it.
	for _, r := range ranges {
		if !present[r.seq] && !acked[r.seq] {
			continue // dropped itself; its successor reports its ranges
		}
		var n uint64
		for i, run := range r.runs {
			if run[0] > run[1] || (i > 0 && run[0] <= r.runs[i-1][1]+1) {
				t.Fatalf("overflow %d: bad or unmerged runs %v", r.seq, r.runs)
			}
			for s := run[0]; s <= run[1]; s++ {
				inRange[s]++
				if !acked[s] {
					n++
				}
			}
		}
		if n != r.n || n == 0 {
			t.Fatalf("overflow %d reports %d dropped, but %d unacked seqs lie in its runs %v", r.seq, r.n, n, r.runs)
		}
		dropped += r.n
	}
	for s := uint64(1); s < st.NextSeq; s++ {
		k := 0
		if present[s] {
			k++
		}
		if acked[s] {
			k++
		}
		k += inRange[s]
		if k != 1 {
			t.Fatalf("seq %d: present %v, acked %v, in %d ranges", s, present[s], acked[s], inRange[s])
		}
	}
	if st.Dropped != dropped {
		t.Fatalf("Stats.Dropped %d, ranges sum to %d", st.Dropped, dropped)
	}
	if st.Bytes > maxPayload || st.FileSize > maxBytes {
		t.Fatalf("stats beyond bound: %+v", st)
	}
	t.Logf("%d overflow events, %d dropped, final %+v, %d commits, %d bound hits", len(ranges), dropped, st, o.Commits(), o.boundHits.Load())
	o.Close()
	o2 := open(t, path, opt)
	if o2.Stats().Dropped != dropped {
		t.Fatalf("Dropped not durable: %d after restart, want %d", o2.Stats().Dropped, dropped)
	}
	return o
}

// TestOverflowConcurrent floods a small outbox from many goroutines: no
// Append fails, the file stays in bounds, and seqs stay unique.
func TestOverflowConcurrent(t *testing.T) {
	const maxBytes = 256 << 10
	path := filepath.Join(t.TempDir(), "outbox.db")
	opt := testOptions()
	opt.MaxBytes = maxBytes
	opt.NoSync = true
	o := open(t, path, opt)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[uint64]bool{}
	for g := range 16 {
		wg.Go(func() {
			for i := range 600 {
				e := motion(g*1000 + i)
				e.Attrs["pad"] = strings.Repeat("z", 300)
				seq, err := o.Append(context.Background(), e)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[seq] {
					t.Errorf("seq %d given twice", seq)
				}
				seen[seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := o.Stats()
	if st.FileSize > maxBytes || st.Dropped == 0 || st.Bytes > maxBytes/2 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := verify(o.db); err != nil {
		t.Fatalf("file no longer verifies: %v", err)
	}
}

// TestDiskFullKeepsWorking: a commit failing with ENOSPC fails its callers,
// and the next commit first drops the oldest eighth (reported) and succeeds.
func TestDiskFullKeepsWorking(t *testing.T) {
	var fail atomic.Bool
	opt := testOptions()
	opt.FailCommit = func() error {
		if fail.Load() {
			return fmt.Errorf("write page: %w", syscall.ENOSPC)
		}
		return nil
	}
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), opt)
	ctx := context.Background()
	for i := range 80 {
		if _, err := o.Append(ctx, motion(i)); err != nil {
			t.Fatal(err)
		}
	}
	fail.Store(true)
	if _, err := o.Append(ctx, motion(100)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	if st := o.Stats(); st.Depth != 80 || st.NextSeq != 81 {
		t.Fatalf("failed commit changed the state: %+v", st)
	}
	fail.Store(false)
	seq, err := o.Append(ctx, motion(101))
	if err != nil {
		t.Fatal(err)
	}
	recs := all(t, o)
	if recs[0].Seq != 11 || len(recs) != 80-10+2 {
		t.Fatalf("after disk full: first %d, %d records", recs[0].Seq, len(recs))
	}
	ov := decode(t, recs[len(recs)-2])
	if ov.Kind != wire.KindOutboxOverflow || ov.Attrs["first_seq"] != float64(1) || ov.Attrs["last_seq"] != float64(10) || ov.Attrs["dropped"] != float64(10) {
		t.Fatalf("overflow event %+v", ov)
	}
	if seq != ov.Seq+1 || o.Stats().Dropped != 10 {
		t.Fatalf("seq %d after overflow %d; stats %+v", seq, ov.Seq, o.Stats())
	}
}

// TestOverflowReportsDroppedReset: a storage_reset event that an overflow
// drops before delivery is named in the overflow event's resets, and an
// overflow event that absorbs that one carries its resets on, so the
// station can still explain the gap before the reset. Both ways to drop are
// tried: the payload budget and bbolt's file bound.
func TestOverflowReportsDroppedReset(t *testing.T) {
	for _, c := range []struct {
		name  string
		bound bool
	}{{"budget", false}, {"file bound", true}} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			filled(t, path)
			overwrite(t, path, 0, make([]byte, 2*4096)) // damaged: moved aside on Open
			opt := testOptions()
			opt.NoSync = true
			opt.MaxBytes = MinMaxBytes
			opt.payloadBudget = 16 << 10
			if c.bound {
				opt.payloadBudget = 4 * opt.MaxBytes
			}
			o := open(t, path, opt)
			recs := all(t, o)
			if len(recs) != 1 || decode(t, recs[0]).Kind != wire.KindStorageReset {
				t.Fatalf("fresh file: %d records, want the storage_reset event", len(recs))
			}
			reset := recs[0].Seq

			// Append, delivering nothing, until an overflow event is itself
			// dropped; remember every overflow event on the way.
			overflows := map[uint64]wire.Event{}
			var first, seen uint64
			for i := 0; first == 0 || o.Stats().Depth == 0 || all(t, o)[0].Seq <= first; i++ {
				if i > 20000 {
					t.Fatal("no overflow event was dropped")
				}
				e := motion(i)
				e.Attrs["pad"] = strings.Repeat("p", 200)
				if _, err := o.Append(context.Background(), e); err != nil {
					t.Fatal(err)
				}
				recs, err := o.Peek(seen, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					seen = r.Seq
					if e := decode(t, r); e.Kind == wire.KindOutboxOverflow {
						overflows[r.Seq] = e
						if first == 0 {
							first = r.Seq
						}
					}
				}
			}
			if c.bound && o.boundHits.Load() == 0 {
				t.Fatal("the file bound was never reached")
			}
			resetsOf := func(e wire.Event) string { return fmt.Sprint(e.Attrs["resets"]) }
			want := fmt.Sprint([]any{float64(reset)})
			if e := overflows[first]; e.Attrs["first_seq"] != float64(reset) || resetsOf(e) != want {
				t.Fatalf("first overflow event %d: attrs %v, want first_seq %d and resets %s", first, e.Attrs, reset, want)
			}
			// The overflow event that dropped the first one reports both its
			// ranges and its resets; the ones between report no reset.
			var absorber uint64
			for s, e := range overflows {
				if s == first {
					continue
				}
				lo, hi := uint64(e.Attrs["first_seq"].(float64)), uint64(e.Attrs["last_seq"].(float64))
				if lo <= first && first <= hi {
					absorber = s
					if lo != reset || resetsOf(e) != want {
						t.Fatalf("absorbing overflow event %d: attrs %v, want first_seq %d and resets %s", s, e.Attrs, reset, want)
					}
				} else if _, ok := e.Attrs["resets"]; ok {
					t.Fatalf("overflow event %d dropped no reset but says resets %v", s, e.Attrs["resets"])
				}
			}
			if absorber == 0 {
				t.Fatalf("no overflow event reports dropping overflow event %d", first)
			}
			t.Logf("reset %d, first overflow %d, absorbed by %d, %d overflow events", reset, first, absorber, len(overflows))
		})
	}
}
