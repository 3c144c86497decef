package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// gapSet is the gaps of one gateway's epoch (keyed by big-endian First, never
// overlapping) and explanations (keyed by First||Last, or by 'r'||R for a
// dropped storage_reset event at R; value the reason), inside one write
// transaction.
//
// Explanations are kept only for seqs above the highest seq of the epoch
// (a gap there is not seen yet); an explanation of seqs below it is applied
// at once and never needed again. At most maxAhead are kept per epoch, and
// open deletes those it used up, so that opening a gap, which reads them
// all, costs at most that many reads whatever a gateway sends.
type gapSet struct {
	gw    string
	epoch string
	gaps  *bolt.Bucket
	expl  *bolt.Bucket
	// ahead counts the explanations in expl, once counted (-1 before).
	ahead *int
}

// maxAhead bounds the explanations an epoch keeps for gaps not yet seen.
// A gateway's outbox reports only seqs below its overflow event's own, so
// it needs none; beyond the bound, further ones are not kept and the gaps
// they would have explained show as unexplained (not lost: the overflow
// event is stored with its attrs).
const maxAhead = 1024

// room reports whether one more explanation may be kept.
func (s gapSet) room() bool {
	if *s.ahead < 0 {
		n := 0
		c := s.expl.Cursor()
		for k, _ := c.First(); k != nil && n < maxAhead; k, _ = c.Next() {
			n++
		}
		*s.ahead = n
	}
	return *s.ahead < maxAhead
}

func (s gapSet) put(g Gap) error {
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return s.gaps.Put(be(g.First), v)
}

func (s gapSet) del(g Gap) error { return s.gaps.Delete(be(g.First)) }

// overlapping returns the gaps that share a seq with [a, z], in order.
func (s gapSet) overlapping(a, z uint64) ([]Gap, error) {
	var out []Gap
	c := s.gaps.Cursor()
	// The gap starting before a may reach into [a, z].
	var pk, pv []byte
	if k, _ := c.Seek(be(a)); k == nil {
		pk, pv = c.Last()
	} else if binary.BigEndian.Uint64(k) > a {
		pk, pv = c.Prev()
	}
	if pk != nil {
		var g Gap
		if err := json.Unmarshal(pv, &g); err != nil {
			return nil, err
		}
		if g.Last >= a {
			out = append(out, g)
		}
	}
	k, v := c.Seek(be(a))
	for ; k != nil && binary.BigEndian.Uint64(k) <= z; k, v = c.Next() {
		var g Gap
		if err := json.Unmarshal(v, &g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// open records the new gap [a, z] and applies every stored explanation
// that reaches into it: an overflow event may arrive before the gap.
func (s gapSet) open(a, z uint64, now time.Time) error {
	if err := s.put(Gap{Gateway: s.gw, Epoch: s.epoch, First: a, Last: z, Opened: now.UTC()}); err != nil {
		return err
	}
	type expl struct {
		a, z   uint64
		reason string
	}
	var todo, resets []expl
	// Gaps open only above z from now on: what ends at or below it is
	// used up.
	var spent [][]byte
	err := s.expl.ForEach(func(k, v []byte) error {
		switch {
		case len(k) == 16:
			ea, ez := binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:])
			if ea <= z && ez >= a {
				todo = append(todo, expl{ea, ez, string(v)})
			}
			if ez <= z {
				spent = append(spent, bytes.Clone(k))
			}
		case len(k) == 9 && k[0] == resetPrefix:
			// The gap it explains ends at R-1.
			r := binary.BigEndian.Uint64(k[1:])
			if r > a && r-1 <= z {
				resets = append(resets, expl{r - 1, r - 1, string(v)})
			}
			if r-1 <= z {
				spent = append(spent, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range spent {
		if err := s.expl.Delete(k); err != nil {
			return err
		}
	}
	if *s.ahead >= 0 {
		*s.ahead -= len(spent)
	}
	for _, e := range todo {
		if _, err := s.explain(e.a, e.z, e.reason); err != nil {
			return err
		}
	}
	// After the ranges: they split the gap at the dropped reset's seq.
	for _, e := range resets {
		if _, err := s.explainEndingAt(e.z, e.reason); err != nil {
			return err
		}
	}
	return nil
}

// addExplanation remembers that [a, z] is accounted for, for gaps not yet
// seen, and reports false if the epoch has no room for it (maxAhead).
func (s gapSet) addExplanation(a, z uint64, reason string) (bool, error) {
	return s.keep(binary.BigEndian.AppendUint64(be(a), z), reason)
}

func (s gapSet) keep(k []byte, reason string) (bool, error) {
	if s.expl.Get(k) != nil {
		return true, s.expl.Put(k, []byte(reason))
	}
	if !s.room() {
		return false, nil
	}
	*s.ahead++
	return true, s.expl.Put(k, []byte(reason))
}

// resetPrefix starts the key of a dropped reset's explanation.
const resetPrefix = 'r'

// addResetExplanation remembers that the gap ending at r-1 is accounted for
// by a storage_reset event at r that an outbox_overflow event reported
// dropped, for a gap not yet seen.
func (s gapSet) addResetExplanation(r uint64, reason string) (bool, error) {
	return s.keep(append([]byte{resetPrefix}, be(r)...), reason)
}

// explain marks the unexplained seqs of [a, z] explained, splitting gaps
// that reach beyond it, and returns the parts it marked.
func (s gapSet) explain(a, z uint64, reason string) ([]Gap, error) {
	over, err := s.overlapping(a, z)
	if err != nil {
		return nil, err
	}
	var marked []Gap
	for _, g := range over {
		if g.Explained {
			continue
		}
		// No delete: the first piece (before, or else mid) is keyed by
		// g.First and overwrites g. A delete and a put of the same key
		// would each move every later key of the node, and bbolt splits
		// nodes only at commit: thousands of explanations in one event
		// would cost quadratic time in the writer every gateway shares.
		lo, hi := max(g.First, a), min(g.Last, z)
		if g.First < lo {
			before := g
			before.Last = lo - 1
			if err := s.put(before); err != nil {
				return nil, err
			}
		}
		mid := g
		mid.First, mid.Last, mid.Explained, mid.Reason = lo, hi, true, reason
		if err := s.put(mid); err != nil {
			return nil, err
		}
		marked = append(marked, mid)
		if hi < g.Last {
			after := g
			after.First = hi + 1
			if err := s.put(after); err != nil {
				return nil, err
			}
		}
	}
	return marked, nil
}

// explainEndingAt explains the unexplained gap whose last seq is seq: the
// one a storage_reset event at seq+1 accounts for (received, or reported
// dropped by an outbox_overflow event).
func (s gapSet) explainEndingAt(seq uint64, reason string) ([]Gap, error) {
	over, err := s.overlapping(seq, seq)
	if err != nil || len(over) == 0 || over[0].Explained || over[0].Last != seq {
		return nil, err
	}
	return s.explain(over[0].First, seq, reason)
}

// fill removes seq from the gap holding it, if any, and reports whether
// there was one.
func (s gapSet) fill(seq uint64) (bool, error) {
	over, err := s.overlapping(seq, seq)
	if err != nil || len(over) == 0 {
		return false, err
	}
	g := over[0]
	if err := s.del(g); err != nil {
		return false, err
	}
	if g.First < seq {
		before := g
		before.Last = seq - 1
		if err := s.put(before); err != nil {
			return false, err
		}
	}
	if seq < g.Last {
		after := g
		after.First = seq + 1
		if err := s.put(after); err != nil {
			return false, err
		}
	}
	return true, nil
}
