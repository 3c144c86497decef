package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// EventKey names one stored event for ReadEvents.
type EventKey struct {
	Gateway string
	Epoch   string
	Seq     uint64
	// Body asks for the event's stored JSON as well: false when the
	// caller holds it already (a full read, a record without a Line).
	Body bool
}

// EventRead is what ReadEvents found of one event.
type EventRead struct {
	// Body is the event's stored JSON when asked for and stored, else nil.
	Body []byte
	// Snapshot describes the event's kept snapshot when HasSnapshot.
	Snapshot    SnapshotInfo
	HasSnapshot bool
}

// ReadEvents reads, for each key, what Event (when Body) and SnapshotInfo
// give, in one read transaction: a console page of 500 events then costs
// one transaction rather than one or two per event, and each (gateway,
// epoch)'s bucket is looked up once. The answer is in the order of keys.
func (s *Store) ReadEvents(keys []EventKey) ([]EventRead, error) {
	out := make([]EventRead, len(keys))
	err := s.db.View(func(tx *bolt.Tx) error {
		type gwEpoch struct{ gw, epoch string }
		events := map[gwEpoch]*bolt.Bucket{}
		meta := tx.Bucket(bktSnapMeta)
		for i, k := range keys {
			if k.Body {
				key := gwEpoch{k.Gateway, k.Epoch}
				eb, ok := events[key]
				if !ok {
					if e := epochBucket(tx, k.Gateway, k.Epoch); e != nil {
						eb = e.Bucket(bktEvents)
					}
					events[key] = eb
				}
				if eb != nil {
					if v := eb.Get(be(k.Seq)); v != nil {
						out[i].Body = bytes.Clone(v)
					}
				}
			}
			v := meta.Get(snapKey(k.Gateway, k.Epoch, k.Seq))
			if v == nil {
				continue
			}
			var m snapMeta
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("snapshot info of %s (epoch %q): %w", wire.EventID(k.Gateway, k.Seq), k.Epoch, err)
			}
			out[i].Snapshot, out[i].HasSnapshot = SnapshotInfo(m), true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d events: %w", len(keys), err)
	}
	return out, nil
}
