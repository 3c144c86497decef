package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Record types in the arrival index.
const (
	RecordEvent    = "event"
	RecordSnapshot = "snapshot"
	RecordNotice   = "notice"
	RecordGap      = "gap"
)

// Record is one entry of the arrival index: something stored, in the order
// the station stored it.
type Record struct {
	Arrival uint64    `json:"arrival"`
	Type    string    `json:"type"`
	Gateway string    `json:"gateway"`
	Epoch   string    `json:"epoch,omitempty"`
	Time    time.Time `json:"time"` // when the station committed it
	// Seq is the event's (RecordEvent, RecordSnapshot).
	Seq uint64 `json:"seq,omitempty"`
	// Late marks an event that filled (part of) a gap.
	Late bool `json:"late,omitempty"`
	// Gap is the gap as it stood then (RecordGap); Later marks a gap seen
	// before and now explained.
	Gap    *Gap    `json:"gap,omitempty"`
	Later  bool    `json:"later,omitempty"`
	Notice *Notice `json:"notice,omitempty"`
	// Bytes and SHA256 describe a snapshot.
	Bytes  int    `json:"bytes,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Event is the stored JSON of the event (RecordEvent), filled in by
	// the reader (by AfterBrief only when Line is nil).
	Event json.RawMessage `json:"-"`
	// Line is what the event's console line shows (RecordEvent), kept in
	// the record itself; nil in records stored before it was.
	Line *Line `json:"-"`
}

// Line is the part of an event a one-line summary shows (the console's
// line, a feed's row): kept in the event's arrival record, it is read
// without decoding the event's JSON again.
type Line struct {
	Kind   string
	Source string
	State  string
	// Time is the event's as its gateway stamped it, in UTC.
	Time        time.Time
	ClockSynced bool
	Test        bool
}

// LineOf is the Line of ev.
func LineOf(ev *wire.Event) *Line {
	return &Line{Kind: ev.Kind, Source: ev.Source, State: ev.State, Time: ev.Time.UTC(), ClockSynced: ev.ClockSynced, Test: ev.Test}
}

// Reader is what the console, "station dump" and (later) the web page read
// from the station's store. It is an interface so that another store (a
// later issue adds PostgreSQL) can stand in.
type Reader interface {
	// After returns up to limit records with an arrival number above n,
	// oldest first.
	After(n uint64, limit int) ([]Record, error)
	// Changed returns a channel closed when records are committed after
	// the call: take it, read After, and wait on it when nothing was new.
	Changed() <-chan struct{}
	// LastArrival is the newest arrival number (0 for an empty store).
	LastArrival() (uint64, error)
	Event(gw, epoch string, seq uint64) ([]byte, bool, error)
	Snapshot(gw, epoch string, seq uint64) ([]byte, bool, error)
	SnapshotInfo(gw, epoch string, seq uint64) (SnapshotInfo, bool, error)
	Gaps(gw string) ([]Gap, error)
	Gateways() ([]string, error)
	Epochs(gw string) ([]EpochInfo, error)
	Counters(gw string) (Counters, error)
}

var _ Reader = (*Store)(nil)

// After implements Reader.
func (s *Store) After(n uint64, limit int) ([]Record, error) {
	return s.after(nil, n, limit, true, nil)
}

// AfterBrief is After for readers that print lines: an event's Record.Event
// is read only when its record has no Line (stored before Lines were),
// which saves looking up and copying every event.
func (s *Store) AfterBrief(n uint64, limit int) ([]Record, error) {
	return s.after(nil, n, limit, false, nil)
}

// Page holds the memory of one page of records for AfterBriefInto.
type Page struct {
	// Records are the records the last read found.
	Records []Record
	lines   []Line
}

// AfterBriefInto is AfterBrief reading into p's memory, which the previous
// read's records were in: for a reader done with a page before it reads
// the next (the console's feed, which reads every stored event).
func (s *Store) AfterBriefInto(p *Page, n uint64, limit int) error {
	recs, err := s.after(p, n, limit, false, nil)
	p.Records = recs
	return err
}

// after reads up to limit records after arrival n, with every event's body
// when bodies, into p's memory if p is not nil; a non-nil f passes over the
// binary event records of the gateways it refuses (AfterBriefOf).
func (s *Store) after(p *Page, n uint64, limit int, bodies bool, f *GatewayFilter) ([]Record, error) {
	if limit <= 0 {
		limit = 1000
	}
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		// The page and its events' lines are allocated once, sized by the
		// last arrival: the feed reads a page per commit, and a page grown
		// by append, a Line allocated per record, were a fifth of what the
		// station allocated while 200 gateways drained.
		size := limit
		if last := getU64(tx.Bucket(bktMeta), keyArrival); last <= n {
			size = 0
		} else if last-n < uint64(limit) {
			size = int(last - n)
		}
		var lines []Line
		if p != nil && cap(p.Records) >= size && len(p.lines) >= size {
			clear(p.Records) // the old page's strings are not kept alive
			out, lines = p.Records[:0], p.lines
		} else {
			out = make([]Record, 0, size)
			if f == nil { // a filter passes over most records: the kept ones get a Line each
				lines = make([]Line, size)
			}
			if p != nil {
				p.lines = lines
			}
		}
		c := tx.Bucket(bktArrivals).Cursor()
		// A page holds many events of few (gateway, epoch)s: their events
		// buckets are looked up once each.
		type gwEpoch struct{ gw, epoch string }
		events := map[gwEpoch]*bolt.Bucket{}
		intern := map[string]string{}
		for k, v := c.Seek(be(n + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			a := binary.BigEndian.Uint64(k)
			if f != nil {
				if gw, ok := recordGateway(v); ok && !f.keeps(gw) {
					out = append(out, Record{Arrival: a})
					continue
				}
			}
			// Decoded in place: a Record on the stack would escape (the
			// JSON form of older records is decoded into it).
			out = append(out, Record{})
			r := &out[len(out)-1]
			var ln *Line
			if len(lines) > 0 {
				ln, lines = &lines[0], lines[1:]
			}
			if err := decodeRecordIn(a, v, r, ln, intern); err != nil {
				return fmt.Errorf("arrival %d: %w", a, err)
			}
			if r.Type == RecordEvent && (bodies || r.Line == nil) {
				key := gwEpoch{r.Gateway, r.Epoch}
				eb, ok := events[key]
				if !ok {
					if e := epochBucket(tx, r.Gateway, r.Epoch); e != nil {
						eb = e.Bucket(bktEvents)
					}
					events[key] = eb
				}
				if eb != nil {
					if v := eb.Get(be(r.Seq)); v != nil {
						r.Event = bytes.Clone(v)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read records after %d: %w", n, err)
	}
	return out, nil
}

// Changed implements Reader.
func (s *Store) Changed() <-chan struct{} {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	return s.changed
}

// LastArrival implements Reader.
func (s *Store) LastArrival() (uint64, error) {
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = getU64(tx.Bucket(bktMeta), keyArrival)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read last arrival: %w", err)
	}
	return n, nil
}

func epochBucket(tx *bolt.Tx, gw, epoch string) *bolt.Bucket {
	g := tx.Bucket(bktRoot).Bucket([]byte(gw))
	if g == nil || g.Bucket(bktEpochs) == nil {
		return nil
	}
	return g.Bucket(bktEpochs).Bucket(epochKey(epoch))
}

func eventIn(tx *bolt.Tx, gw, epoch string, seq uint64) []byte {
	eb := epochBucket(tx, gw, epoch)
	if eb == nil {
		return nil
	}
	if v := eb.Bucket(bktEvents).Get(be(seq)); v != nil {
		return bytes.Clone(v)
	}
	return nil
}

// Event returns the stored JSON of one event.
func (s *Store) Event(gw, epoch string, seq uint64) (raw []byte, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		raw = eventIn(tx, gw, epoch, seq)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read event %s (epoch %q): %w", wire.EventID(gw, seq), epoch, err)
	}
	return raw, raw != nil, nil
}

// Snapshot returns the JPEG stored for event (gw, epoch, seq), if any (it
// may have been deleted by retention).
func (s *Store) Snapshot(gw, epoch string, seq uint64) (jpeg []byte, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bktSnaps).Get(snapKey(gw, epoch, seq)); v != nil {
			jpeg, ok = bytes.Clone(v), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read snapshot of %s (epoch %q): %w", wire.EventID(gw, seq), epoch, err)
	}
	return jpeg, ok, nil
}

// SnapshotInfo describes a stored snapshot.
type SnapshotInfo struct {
	Bytes   int       `json:"bytes"`
	SHA256  string    `json:"sha256"`
	Arrival uint64    `json:"arrival"`
	Time    time.Time `json:"time"`
}

// SnapshotInfo returns the size and hash of the snapshot of (gw, epoch,
// seq) without reading it: how an event lists its snapshot.
func (s *Store) SnapshotInfo(gw, epoch string, seq uint64) (info SnapshotInfo, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktSnapMeta).Get(snapKey(gw, epoch, seq))
		if v == nil {
			return nil
		}
		var m snapMeta
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		info, ok = SnapshotInfo(m), true
		return nil
	})
	if err != nil {
		return SnapshotInfo{}, false, fmt.Errorf("read snapshot info of %s (epoch %q): %w", wire.EventID(gw, seq), epoch, err)
	}
	return info, ok, nil
}

// forEachEpoch calls fn for every epoch bucket of gw.
func forEachEpoch(tx *bolt.Tx, gw string, fn func(epoch string, eb *bolt.Bucket) error) error {
	g := tx.Bucket(bktRoot).Bucket([]byte(gw))
	if g == nil || g.Bucket(bktEpochs) == nil {
		return nil
	}
	epochs := g.Bucket(bktEpochs)
	return epochs.ForEachBucket(func(k []byte) error { return fn(epochOfKey(k), epochs.Bucket(k)) })
}

// Gaps lists gw's gaps, by epoch (in the order of epoch names) and seq.
func (s *Store) Gaps(gw string) ([]Gap, error) {
	var out []Gap
	err := s.db.View(func(tx *bolt.Tx) error {
		return forEachEpoch(tx, gw, func(epoch string, eb *bolt.Bucket) error {
			return eb.Bucket(bktGaps).ForEach(func(_, v []byte) error {
				var x Gap
				if err := json.Unmarshal(v, &x); err != nil {
					return err
				}
				x.Epoch = epoch // gaps migrated from the previous layout lack it
				out = append(out, x)
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read gaps of %s: %w", gw, err)
	}
	return out, nil
}

// Gateways lists the gateways that have sent at least one event or
// snapshot.
func (s *Store) Gateways() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktRoot).ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list gateways: %w", err)
	}
	return out, nil
}

// EpochInfo sums up one epoch of a gateway.
type EpochInfo struct {
	Epoch      string `json:"epoch"`
	Current    bool   `json:"current"`
	MaxSeq     uint64 `json:"max_seq"`
	Received   uint64 `json:"received"`
	Duplicates uint64 `json:"duplicates"`
}

// Epochs lists gw's epochs in the order of their names; Current marks the
// one of the latest stored event.
func (s *Store) Epochs(gw string) ([]EpochInfo, error) {
	var out []EpochInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		var cur string
		if g := tx.Bucket(bktRoot).Bucket([]byte(gw)); g != nil {
			cur = epochOfKey(g.Get(keyCurrent))
		}
		return forEachEpoch(tx, gw, func(epoch string, eb *bolt.Bucket) error {
			out = append(out, EpochInfo{Epoch: epoch, Current: epoch == cur, MaxSeq: getU64(eb, keyMax),
				Received: getU64(eb, keyRecv), Duplicates: getU64(eb, keyDup)})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list epochs of %s: %w", gw, err)
	}
	return out, nil
}

// Counters sums up gw over its epochs, or every gateway when gw is "";
// the snapshot counts are station-wide.
func (s *Store) Counters(gw string) (Counters, error) {
	var c Counters
	err := s.db.View(func(tx *bolt.Tx) error {
		one := func(name []byte) error {
			return forEachEpoch(tx, string(name), func(_ string, eb *bolt.Bucket) error {
				c.Epochs++
				c.Received += getU64(eb, keyRecv)
				c.Duplicates += getU64(eb, keyDup)
				c.MaxSeq = max(c.MaxSeq, getU64(eb, keyMax))
				return eb.Bucket(bktGaps).ForEach(func(_, v []byte) error {
					var x Gap
					if err := json.Unmarshal(v, &x); err != nil {
						return err
					}
					if x.Explained {
						c.GapsExplained++
						c.MissingExplained += x.Len()
					} else {
						c.GapsUnexplained++
						c.MissingUnexplained += x.Len()
					}
					return nil
				})
			})
		}
		meta := tx.Bucket(bktMeta)
		c.Snapshots, c.SnapshotBytes = getU64(meta, keySnapCount), getU64(meta, keySnapBytes)
		if gw != "" {
			return one([]byte(gw))
		}
		return tx.Bucket(bktRoot).ForEachBucket(one)
	})
	if err != nil {
		return Counters{}, fmt.Errorf("read counters: %w", err)
	}
	return c, nil
}
