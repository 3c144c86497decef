package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Refused sums up the payloads of one gateway the store refused as
// invalid (its quarantine entries) over a span: for a notice in plain
// words on the console, without reading the payloads themselves.
type Refused struct {
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
	// Error is the newest entry's.
	Error string `json:"error"`
}

// RefusedSince sums up, per gateway, the quarantine entries refused at
// since or later. It reads the newest entries first and stops at the
// first older one, so a quiet store costs one seek.
func (s *Store) RefusedSince(since time.Time) (map[string]Refused, error) {
	out := map[string]Refused{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktQuarantine)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var q struct {
				Time    time.Time `json:"time"`
				Gateway string    `json:"gateway"`
				Error   string    `json:"error"`
			}
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if q.Time.Before(since) {
				return nil
			}
			r := out[q.Gateway]
			if r.Count == 0 {
				r.Last, r.Error = q.Time, q.Error
			}
			r.Count++
			out[q.Gateway] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read quarantine since %v: %w", since, err)
	}
	return out, nil
}
