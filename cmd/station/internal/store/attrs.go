package store

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/antt-gateway/antt/uplink/wire"
)

// attrRuns reads the seqs an outbox_overflow event reports lost: its
// "ranges" ([[first,last],...]) when present (an overflow event that
// absorbed an undelivered earlier one), else first_seq..last_seq. Runs
// outside first_seq..last_seq or malformed are ignored. The runs come back
// sorted, overlapping ones merged: a gateway's outbox sends them so, and
// for a payload that does not, the work per run stays O(log n) rather than
// every run walking the same gaps again.
func attrRuns(attrs map[string]any) [][2]uint64 {
	return mergeRuns(rawRuns(attrs))
}

// mergeRuns sorts runs and merges those that overlap (not those that only
// touch: they explain the same seqs either way, and a gateway's runs are
// apart).
func mergeRuns(runs [][2]uint64) [][2]uint64 {
	if len(runs) < 2 {
		return runs
	}
	slices.SortFunc(runs, func(a, b [2]uint64) int {
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		return cmp.Compare(a[1], b[1])
	})
	out := runs[:1]
	for _, r := range runs[1:] {
		last := &out[len(out)-1]
		if r[0] <= last[1] {
			last[1] = max(last[1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

func rawRuns(attrs map[string]any) [][2]uint64 {
	first, last, ok := attrRange(attrs)
	if !ok {
		return nil
	}
	rs, isList := attrs["ranges"].([]any)
	if !isList {
		return [][2]uint64{{first, last}}
	}
	var runs [][2]uint64
	for _, r := range rs {
		ab, _ := r.([]any)
		if len(ab) != 2 {
			continue
		}
		lo, ok1 := uintOf(ab[0])
		hi, ok2 := uintOf(ab[1])
		if ok1 && ok2 && first <= lo && lo <= hi && hi <= last {
			runs = append(runs, [2]uint64{lo, hi})
		}
	}
	return runs
}

// attrResets reads the seqs of the storage_reset events an outbox_overflow
// event reports dropped ("resets"), sorted and without repeats. Only those
// above 1 (a reset at 1 follows no gap) and inside the reported runs (a
// dropped event is among the dropped seqs; runs as attrRuns gives them)
// count; anything else, like a value that is no list, is ignored.
func attrResets(attrs map[string]any, runs [][2]uint64) []uint64 {
	rs, _ := attrs["resets"].([]any)
	var out []uint64
	for _, x := range rs {
		r, ok := uintOf(x)
		if !ok || r < 2 {
			continue
		}
		// runs are sorted and apart (attrRuns): the one that may hold r is
		// the last starting at or before it.
		i, _ := slices.BinarySearchFunc(runs, r, func(run [2]uint64, r uint64) int {
			if run[0] <= r {
				return -1
			}
			return 1
		})
		if i > 0 && r <= runs[i-1][1] {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// attrRange reads first_seq and last_seq of an outbox_overflow event.
func attrRange(attrs map[string]any) (first, last uint64, ok bool) {
	first, ok1 := attrUint(attrs, "first_seq")
	last, ok2 := attrUint(attrs, "last_seq")
	return first, last, ok1 && ok2 && first >= 1 && first <= last
}

// attrUint reads a non-negative integer attribute, written as a JSON number
// or a decimal string.
func attrUint(attrs map[string]any, k string) (uint64, bool) { return uintOf(attrs[k]) }

// AttrUint reads a whole non-negative number from an event's attrs as the
// store does when it explains a gap (a JSON number below 2^53, or its
// decimal text), so the console words a count as the store counted it.
func AttrUint(attrs map[string]any, k string) (uint64, bool) { return attrUint(attrs, k) }

// uintOf reads a non-negative integer from a decoded JSON value.
func uintOf(x any) (uint64, bool) {
	switch v := x.(type) {
	case float64:
		if v < 0 || v != math.Trunc(v) || v >= 1<<53 {
			return 0, false
		}
		return uint64(v), true
	case string:
		n, err := strconv.ParseUint(v, 10, 64)
		return n, err == nil
	case json.Number:
		n, err := strconv.ParseUint(v.String(), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func overflowReason(ev wire.Event) string {
	n, ok := attrUint(ev.Attrs, "dropped")
	return overflowText(Cause{Seq: ev.Seq, Dropped: n, HasDropped: ok})
}

// droppedResetReason names both the storage_reset event at r that explains
// a gap and the outbox_overflow event that reported it dropped.
func droppedResetReason(r uint64, ev wire.Event) string {
	return droppedResetText(Cause{ResetSeq: r, Seq: ev.Seq})
}

func resetReason(ev wire.Event) string {
	n, ok := attrUint(ev.Attrs, "resumed_seq")
	return resetText(Cause{Seq: ev.Seq, ResumedSeq: n}, ok)
}
