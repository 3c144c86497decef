package clips

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults of the bounds on announced-only entries (Options).
const (
	// DefaultMaxAnnounced is a week of one-minute continuous segments of
	// about ten cameras: what a gateway's recording partition holds by
	// default (device config DefaultRecordingMaxAge, a week).
	DefaultMaxAnnounced = 100_000
	// DefaultMaxAnnouncedAge is twice the gateway's default recording age:
	// past it the gateway has removed the segment, and a fetch could not
	// be answered anyway.
	DefaultMaxAnnouncedAge = 14 * 24 * time.Hour
)

// totals are running sums over the index, changed with every entry
// added, stored to or deleted, so that an announcement or a chunk learns
// whether retention has work without reading the index (review U2: a
// scan per announcement cost 3 s at 100 000 entries, under the store
// lock, on the publishing gateway's path). Guarded by Store.totMu.
type totals struct {
	held   int64            // charge of every entry
	heldGW map[string]int64 // the same per gateway
	// announced counts the announced-only entries (no byte held) per
	// gateway.
	announced map[string]int
	// oldest and oldestAnnounced are lower bounds of the Added of every
	// entry and of the announced-only ones (zero: none); a scan makes
	// them exact.
	oldest, oldestAnnounced time.Time
	// lowered, during a scan, is the oldest Added of entries emptied
	// meanwhile (a hash mismatch), so that the scan's result does not
	// lose them.
	lowered time.Time
	// After a byte pass that could not get under the bound (what is left
	// is being uploaded), the next waits for retryAbove bytes or
	// retryAt, not for the next chunk.
	retryAbove int64
	retryAt    time.Time
	// nextAge is when an age pass may run again.
	nextAge time.Time
	// pruning is the gateways whose pass of announced entries runs.
	pruning map[string]bool
}

// charge is what an entry counts against MaxBytes: nothing for a clip
// only announced (no byte of it on disk: a continuous segment nobody
// fetched), its announced length once a byte is held (a partial clip
// being fetched reserves what it will take).
func charge(st *Status) int64 {
	if st == nil || st.Have == 0 {
		return 0
	}
	return st.Bytes
}

func announcedOnly(st *Status) bool { return st != nil && st.Have == 0 }

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// account moves the totals from old to new (either may be nil: an entry
// added or deleted).
func (s *Store) account(old, new *Status) {
	s.totMu.Lock()
	defer s.totMu.Unlock()
	t := &s.tot
	for _, st := range []*Status{old, new} {
		if st == nil {
			continue
		}
		sign := int64(1)
		if st == old {
			sign = -1
		}
		t.held += sign * charge(st)
		if t.heldGW[st.Gateway] += sign * charge(st); t.heldGW[st.Gateway] == 0 {
			delete(t.heldGW, st.Gateway)
		}
		if announcedOnly(st) {
			if t.announced[st.Gateway] += int(sign); t.announced[st.Gateway] == 0 {
				delete(t.announced, st.Gateway)
			}
			if sign > 0 {
				t.oldestAnnounced = minTime(t.oldestAnnounced, st.Added)
				if old != nil { // emptied by a hash mismatch
					t.lowered = minTime(t.lowered, st.Added)
				}
			}
		}
		if sign > 0 {
			t.oldest = minTime(t.oldest, st.Added)
		}
	}
}

// loadTotals sets the totals from the whole index (at Open).
func (s *Store) loadTotals() error {
	s.tot = totals{heldGW: map[string]int64{}, announced: map[string]int{}, pruning: map[string]bool{}}
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var st Status
			if json.Unmarshal(v, &st) == nil {
				s.account(nil, &st)
			}
			return nil
		})
	})
}

func (s *Store) byteSlack() int64 { return s.opts.MaxBytes / 64 }
func (s *Store) countSlack() int  { return max(1, s.opts.MaxAnnounced/16) }
func (s *Store) ageEvery() time.Duration {
	return min(time.Hour, min(s.opts.MaxAge, s.opts.MaxAnnouncedAge)/64)
}

// pruneIfOver applies retention if a running total is past its bound:
// held bytes above MaxBytes by a slack of 1/64 (each pass then frees at
// least that) or an entry past its age (an age pass at most every
// ageEvery). Below every bound it reads nothing. count is whether gw's
// announced-only entries are above MaxAnnounced by 1/16: the caller runs
// pruneAnnounced once it has let go of s.mu. Called with s.mu held.
func (s *Store) pruneIfOver(gw string) (count bool) {
	now := s.opts.Now()
	full := s.overBytes(now)
	s.totMu.Lock()
	t := &s.tot
	if !now.Before(t.nextAge) &&
		(!t.oldest.IsZero() && t.oldest.Before(now.Add(-s.opts.MaxAge)) ||
			!t.oldestAnnounced.IsZero() && t.oldestAnnounced.Before(now.Add(-s.opts.MaxAnnouncedAge))) {
		full = true
	}
	count = gw != "" && t.announced[gw] > s.opts.MaxAnnounced+s.countSlack() && !t.pruning[gw]
	s.totMu.Unlock()
	if full {
		s.pruneLocked()
	}
	return count
}

// Prune applies retention now, reading the whole index.
func (s *Store) Prune() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked()
}

// pruneAnnounced deletes gw's oldest announced-only entries above
// MaxAnnounced, reading only gw's entries (one pass at a time per
// gateway). Called without s.mu: entries are added under it, never
// changed, and deleteAnnounced checks each again as it deletes.
func (s *Store) pruneAnnounced(gw string) {
	s.totMu.Lock()
	if s.tot.pruning[gw] {
		s.totMu.Unlock()
		return
	}
	s.tot.pruning[gw] = true
	s.totMu.Unlock()
	defer func() {
		s.totMu.Lock()
		delete(s.tot.pruning, gw)
		s.totMu.Unlock()
	}()
	var l []Status
	prefix := []byte(gw + "/")
	_ = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var st Status
			if json.Unmarshal(v, &st) == nil && announcedOnly(&st) {
				l = append(l, st)
			}
		}
		return nil
	})
	sort.SliceStable(l, func(i, j int) bool { return l[i].Added.Before(l[j].Added) })
	s.deleteAnnounced(l[:max(0, len(l)-s.opts.MaxAnnounced)], "announced-count")
}

// pruneLocked deletes what the bounds no longer allow, reading the whole
// index. Past MaxAge a clip goes whatever it is. Entries only announced
// (no byte held) take no disk: they go past MaxAnnouncedAge, and above
// MaxAnnounced per gateway its oldest announced go; they never count for
// bytes, so never push a held clip out. Above MaxBytes (bytes held, a
// partial clip counted at its announced length), the clips of the
// gateway holding the most go first; of a gateway's, clips the station
// asked for (or that say nothing) go before the evidence of armed-mode
// alarms (upload "auto"), each least recently stored first (a segment an
// officer just fetched from last month is not the first to go); never
// deleted for bytes are the newest announced clip and a clip being
// uploaded (partial, a chunk within Uploading). Called with s.mu held.
func (s *Store) pruneLocked() {
	s.totMu.Lock()
	s.tot.lowered = time.Time{}
	s.totMu.Unlock()
	var all []Status
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var st Status
			if json.Unmarshal(v, &st) == nil {
				all = append(all, st)
			}
			return nil
		})
	})
	sort.SliceStable(all, func(i, j int) bool { return all[i].Added.Before(all[j].Added) })
	now := s.opts.Now()
	cutoff, announcedCutoff := now.Add(-s.opts.MaxAge), now.Add(-s.opts.MaxAnnouncedAge)
	s.totMu.Lock()
	s.tot.nextAge = now.Add(s.ageEvery()) // also after a pass that failed
	s.totMu.Unlock()
	var keep, old []Status
	announcedGW := map[string]int{}
	for _, st := range all {
		switch {
		case announcedOnly(&st) && (st.Added.Before(announcedCutoff) || st.Added.Before(cutoff)):
			old = append(old, st) // deleted in batches, below
		case st.Added.Before(cutoff):
			deleted, ok := s.deleteOne(st, "age")
			if !ok {
				return
			}
			if !deleted {
				keep = append(keep, st)
			}
		default:
			keep = append(keep, st)
			if announcedOnly(&st) {
				announcedGW[st.Gateway]++
			}
		}
	}
	// Announced-only entries above MaxAnnounced of a gateway: its oldest.
	var many []Status
	kept := keep[:0]
	for _, st := range keep {
		if announcedOnly(&st) && announcedGW[st.Gateway] > s.opts.MaxAnnounced {
			announcedGW[st.Gateway]--
			many = append(many, st)
			continue
		}
		kept = append(kept, st)
	}
	keep = kept
	stored, ok := s.deleteAnnounced(old, "announced-age")
	if !ok {
		return
	}
	stored2, ok := s.deleteAnnounced(many, "announced-count")
	if !ok {
		return
	}
	s.pruneBytes(keep, now)
	// The lower bounds are now exact.
	var oldest, oldestAnnounced time.Time
	// Added never changes; entries stored to since only raise the bound.
	// Those found stored to while deleting are entries still.
	keep = append(append(keep, stored...), stored2...)
	for _, st := range keep {
		oldest = minTime(oldest, st.Added)
		if announcedOnly(&st) {
			oldestAnnounced = minTime(oldestAnnounced, st.Added)
		}
	}
	s.totMu.Lock()
	s.tot.oldest = oldest
	s.tot.oldestAnnounced = minTime(oldestAnnounced, s.tot.lowered)
	s.tot.lowered = time.Time{}
	s.totMu.Unlock()
}

// pruneBytes deletes held clips while the bytes held are above MaxBytes
// (see pruneLocked for the order).
func (s *Store) pruneBytes(keep []Status, now time.Time) {
	var total int64
	for i := range keep {
		total += charge(&keep[i])
	}
	if total <= s.opts.MaxBytes || len(keep) == 0 {
		s.totMu.Lock()
		s.tot.retryAbove, s.tot.retryAt = 0, time.Time{}
		s.totMu.Unlock()
		return
	}
	newest := keep[len(keep)-1]
	uploading := uploadingOf(keep[:len(keep)-1], now)
	var byClass [2][]Status // on request first, then alarm evidence
	for _, st := range keep[:len(keep)-1] {
		if charge(&st) == 0 || uploading[st.Gateway+"/"+st.ID] {
			continue
		}
		c := 0
		if st.Upload == uploadAuto {
			c = 1
		}
		byClass[c] = append(byClass[c], st)
	}
	// A gateway's clips compete with its own first: the clips of the
	// gateway holding the most bytes go (in the order above), so one
	// gateway uploading huge clips (a stolen board's credentials) makes
	// room from its own, never from another gateway's evidence.
	perGW := map[string]int64{}
	order := map[string][]Status{}
	for i := range keep {
		if n := charge(&keep[i]); n > 0 {
			perGW[keep[i].Gateway] += n
		}
	}
	for _, class := range byClass {
		sort.SliceStable(class, func(i, j int) bool { return class[i].Touched.Before(class[j].Touched) })
		for _, st := range class {
			order[st.Gateway] = append(order[st.Gateway], st)
		}
	}
	for total > s.opts.MaxBytes {
		gw := ""
		for g, n := range perGW {
			if gw == "" || n > perGW[gw] || n == perGW[gw] && g < gw {
				gw = g
			}
		}
		if len(order[gw]) == 0 {
			break // what it has left is being uploaded or just announced
		}
		st := order[gw][0]
		order[gw] = order[gw][1:]
		deleted, ok := s.deleteOne(st, "bytes")
		if !ok {
			return
		}
		if deleted {
			total -= charge(&st)
			perGW[gw] -= charge(&st)
		}
	}
	s.totMu.Lock()
	defer s.totMu.Unlock()
	if total <= s.opts.MaxBytes {
		s.tot.retryAbove, s.tot.retryAt = 0, time.Time{}
		return
	}
	s.tot.retryAbove, s.tot.retryAt = s.tot.held+s.byteSlack(), now.Add(time.Minute)
	s.log.Warn("clip store above its bound: what is left is being uploaded or just announced",
		"bytes", total, "max_bytes", s.opts.MaxBytes, "newest", newest.ID)
}

// uploadAuto is the upload attr of armed-mode alarms' clips (device
// record.UploadAuto).
const uploadAuto = "auto"

// deleteOne deletes st for retention (why: "age" or "bytes"), taking its
// clip lock so no chunk is being written. deleted is false for a clip
// kept once the lock was taken (a chunk came meanwhile: being uploaded),
// ok false if the deletion failed (logged).
func (s *Store) deleteOne(st Status, why string) (deleted, ok bool) {
	unlock := s.lockClip(st.Gateway, st.ID)
	defer unlock()
	cur, found, _ := s.Status(st.Gateway, st.ID)
	switch {
	case !found:
		return false, true
	case why == "bytes" && cur.State == Partial && s.opts.Now().Sub(cur.Touched) < Uploading && cur.Touched.After(st.Touched):
		return false, true
	}
	if err := s.deleteLocked(st); err != nil {
		s.log.Error("clip not deleted", "gateway", st.Gateway, "clip", st.ID, "error", err)
		return false, false
	}
	s.log.Info("clip deleted (retention)", "gateway", st.Gateway, "clip", st.ID, "bytes", st.Bytes, "added", st.Added, "why", why)
	return true, true
}

// deleteAnnounced deletes entries only announced (for their count or age,
// why) in index transactions of up to 1000: one fsync per thousand, not
// one per entry (a pass drops a sixteenth of the bound at once). The
// clips' locks are held across, so no chunk lands in between; an entry
// found holding a byte is kept and returned in stored. ok is false if a
// transaction failed (logged). Batches take turns on s.annMu (two
// holding many clips' locks must not meet).
func (s *Store) deleteAnnounced(l []Status, why string) (stored []Status, ok bool) {
	s.annMu.Lock()
	defer s.annMu.Unlock()
	for len(l) > 0 {
		batch := l[:min(len(l), 1000)]
		l = l[len(batch):]
		unlock := make([]func(), 0, len(batch))
		for _, st := range batch {
			unlock = append(unlock, s.lockClip(st.Gateway, st.ID))
		}
		var gone []*Status
		var got []Status
		err := s.db.Update(func(tx *bolt.Tx) error {
			for _, st := range batch {
				cur, err := get(tx, st.Gateway, st.ID)
				switch {
				case err != nil || cur == nil:
					continue // gone, or counted nothing
				case !announcedOnly(cur):
					got = append(got, *cur)
					continue
				}
				if err := tx.Bucket(bucket).Delete(key(st.Gateway, st.ID)); err != nil {
					return err
				}
				gone = append(gone, cur)
			}
			return nil
		})
		if err == nil {
			stored = append(stored, got...)
			for _, st := range gone {
				// No byte is held; a file is left by a hash mismatch only.
				if err := os.Remove(s.Path(st.Gateway, st.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
					s.log.Warn("empty clip file not removed", "gateway", st.Gateway, "clip", st.ID, "error", err)
				}
				s.account(st, nil)
			}
		}
		for _, u := range unlock {
			u()
		}
		if err != nil {
			s.log.Error("index entries of clips only announced not deleted", "entries", len(batch), "why", why, "error", err)
			return stored, false
		}
		s.log.Info("index entries of clips only announced deleted (retention)", "entries", len(gone), "why", why)
	}
	return stored, true
}

// deleteLocked removes st's file and entry and its part of the totals.
// Called with st's clip lock held.
func (s *Store) deleteLocked(st Status) error {
	if err := os.Remove(s.Path(st.Gateway, st.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var cur *Status
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, _ = get(tx, st.Gateway, st.ID) // an entry that does not decode counted nothing
		return tx.Bucket(bucket).Delete(key(st.Gateway, st.ID))
	})
	if err == nil && cur != nil {
		s.account(cur, nil)
	}
	return err
}

// overBytes reports whether the bytes held are past MaxBytes and its
// slack, and a byte pass may run (not within a minute of one that could
// not get under, unless the bytes grew by the slack since).
func (s *Store) overBytes(now time.Time) bool {
	s.totMu.Lock()
	defer s.totMu.Unlock()
	t := &s.tot
	return t.held > s.opts.MaxBytes+s.byteSlack() && (t.held > t.retryAbove || !now.Before(t.retryAt))
}
