package clips

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CoverGap is the widest gap between announced clips that Held still
// counts as covered: one camera's consecutive segments meet within a
// frame (the next starts at the key frame that ends the last; a start is
// its first frame's arrival, a duration the media's, in milliseconds),
// and a gap wider than this may be a segment whose clip event has not
// arrived yet.
const CoverGap = 2 * time.Second

// Held is what the station holds of one camera's recordings over a time
// range, as its clip events announced them.
type Held struct {
	// Complete is the ids of the announced clips in the range the store
	// holds complete, oldest first: a range fetch need not send them.
	Complete []string
	// Announced is the announced clips in the range, held or not.
	Announced int
	// Covered is whether the announced clips span the whole range, with
	// no gap wider than CoverGap: if every one is complete too, the
	// gateway has nothing to send that the station would take.
	Covered bool
}

// All reports whether the station holds every clip the gateway could
// send for the range: every announced clip complete, and announcements
// covering it.
func (h Held) All() bool { return h.Covered && h.Announced > 0 && len(h.Complete) == h.Announced }

// Held lists gw's announced clips of camera whose media overlaps
// [from, to] (as the gateway's own range query, device/camera/record,
// bounds included) and tells which the store holds complete, reading only
// gw's entries of the index. A clip whose announcement has no start time
// is not in any range.
func (s *Store) Held(gw, camera string, from, to time.Time) (Held, error) {
	type span struct {
		id         string
		start, end time.Time
		complete   bool
	}
	var l []span
	prefix := []byte(gw + "/")
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var st Status
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("clip index entry %s: %w", k, err)
			}
			if st.Gateway != gw || st.Camera != camera {
				continue
			}
			start, err := time.Parse(time.RFC3339Nano, st.Start)
			if err != nil {
				continue
			}
			end := start.Add(time.Duration(st.Duration) * time.Millisecond)
			if end.Before(from) || start.After(to) {
				continue
			}
			l = append(l, span{id: st.ID, start: start, end: end, complete: st.State == Complete})
		}
		return nil
	})
	if err != nil {
		return Held{}, fmt.Errorf("clips of %s camera %s held: %w", gw, camera, err)
	}
	sort.Slice(l, func(i, j int) bool {
		if !l[i].start.Equal(l[j].start) {
			return l[i].start.Before(l[j].start)
		}
		return l[i].id < l[j].id
	})
	h := Held{Announced: len(l), Complete: []string{}}
	reach := from // the range is covered up to here
	for _, sp := range l {
		if sp.complete {
			h.Complete = append(h.Complete, sp.id)
		}
		if sp.start.Sub(reach) <= CoverGap && sp.end.After(reach) {
			reach = sp.end
		}
	}
	h.Covered = len(l) > 0 && to.Sub(reach) <= CoverGap
	return h, nil
}
