// Package eventlog is the station's durable record of the events gateways
// send, in its own bbolt file.
//
// What it promises:
//   - Add stores an event and returns only after the bbolt commit (fsync),
//     so the caller may acknowledge the MQTT message afterwards and lose
//     nothing on power loss;
//   - an event id (gateway/seq) is stored once; a second copy is reported as
//     a Duplicate and not stored again;
//   - every seq the station has not seen below the highest one seen is in
//     exactly one gap; a gap opens when a seq jumps, shrinks or splits when a
//     late event fills it, and becomes explained when an outbox_overflow
//     event covers it (before or after the gap is seen) or a storage_reset
//     event follows it; an outbox_overflow event whose resets name a
//     storage_reset event it dropped explains the gap before that one the
//     same way. The first event of a gateway opens a gap from seq 1
//     if it is not seq 1: the station has not seen those events, whatever
//     the reason;
//   - gaps, explanations and counters are persisted with the events, so a
//     restart resumes exactly.
//
// Gateway status and last telemetry are kept in memory only: the broker's
// retained status gives them back after a restart.
package eventlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// ErrInvalid is wrapped by Add's error for an event that cannot be stored.
var ErrInvalid = errors.New("invalid event")

// Status says what Add did with an event.
type Status int

// What Add did.
const (
	New       Status = iota + 1 // stored for the first time
	Duplicate                   // already stored; nothing changed
)

func (s Status) String() string {
	switch s {
	case New:
		return "new"
	case Duplicate:
		return "duplicate"
	}
	return "unknown"
}

// Gap is a range of seqs, First to Last inclusive, that the station has not
// received from Gateway.
type Gap struct {
	Gateway   string    `json:"gateway"`
	First     uint64    `json:"first"`
	Last      uint64    `json:"last"`
	Explained bool      `json:"explained"`
	Reason    string    `json:"reason,omitempty"`
	Opened    time.Time `json:"opened"`
}

// Len is the number of missing seqs.
func (g Gap) Len() uint64 { return g.Last - g.First + 1 }

// Result tells what one Add did.
type Result struct {
	Event  wire.Event
	Status Status
	// Conflict marks a Duplicate whose bytes differ from the stored copy.
	Conflict bool
	// Late marks an event that arrived after a higher seq and filled (part
	// of) a gap.
	Late bool
	// NewGaps are the gaps this event opened, as they stand after it was
	// applied (an overflow or storage_reset event may explain its own gap).
	NewGaps []Gap
	// Explained are parts of earlier gaps this event explained.
	Explained []Gap
}

// Counters sums up one gateway (or all of them).
type Counters struct {
	Received           uint64 `json:"received"`
	Duplicates         uint64 `json:"duplicates"`
	GapsExplained      int    `json:"gaps_explained"`
	GapsUnexplained    int    `json:"gaps_unexplained"`
	MissingExplained   uint64 `json:"missing_explained"`
	MissingUnexplained uint64 `json:"missing_unexplained"`
	MaxSeq             uint64 `json:"max_seq"`
}

// Log is an open event log. Its methods are safe for concurrent use.
type Log struct {
	db  *bolt.DB
	now func() time.Time

	mu    sync.Mutex
	state map[string]*GatewayState
}

var (
	bktRoot    = []byte("gateways")
	bktEvents  = []byte("events")
	bktGaps    = []byte("gaps")
	bktExplain = []byte("explain")
	keyMax     = []byte("max_seq")
	keyRecv    = []byte("received")
	keyDup     = []byte("duplicates")
)

// Open opens (creating if needed) the event log at path.
func Open(path string) (*Log, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bktRoot)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init event log %s: %w", path, err)
	}
	return &Log{db: db, now: time.Now, state: map[string]*GatewayState{}}, nil
}

// Close closes the file.
func (l *Log) Close() error { return l.db.Close() }

func be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Add stores one event received on gw's event topic. The gateway is the
// one named by the topic (the broker checked who may publish there); the
// event's id must agree with it.
func (l *Log) Add(gw string, raw []byte) (Result, error) {
	var ev wire.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Result{}, fmt.Errorf("%w from %s: %v", ErrInvalid, gw, err)
	}
	if !wire.ValidID(gw) {
		return Result{}, fmt.Errorf("%w: gateway id %.70q", ErrInvalid, gw)
	}
	if ev.Seq == 0 || ev.Seq == math.MaxUint64 {
		return Result{}, fmt.Errorf("%w from %s: seq %d", ErrInvalid, gw, ev.Seq)
	}
	if want := wire.EventID(gw, ev.Seq); ev.ID != want {
		return Result{}, fmt.Errorf("%w from %s: id %.80q, want %q", ErrInvalid, gw, ev.ID, want)
	}
	res := Result{Event: ev}
	now := l.now()
	err := l.db.Update(func(tx *bolt.Tx) error {
		g, err := tx.Bucket(bktRoot).CreateBucketIfNotExists([]byte(gw))
		if err != nil {
			return err
		}
		events, err := g.CreateBucketIfNotExists(bktEvents)
		if err != nil {
			return err
		}
		gaps, err := g.CreateBucketIfNotExists(bktGaps)
		if err != nil {
			return err
		}
		expl, err := g.CreateBucketIfNotExists(bktExplain)
		if err != nil {
			return err
		}
		s := gapSet{gw: gw, gaps: gaps, expl: expl}
		key := be(ev.Seq)
		if old := events.Get(key); old != nil {
			res.Status = Duplicate
			res.Conflict = !bytes.Equal(old, raw)
			return g.Put(keyDup, be(getU64(g, keyDup)+1))
		}
		res.Status = New
		if err := events.Put(key, raw); err != nil {
			return err
		}
		if err := g.Put(keyRecv, be(getU64(g, keyRecv)+1)); err != nil {
			return err
		}

		var ovRuns [][2]uint64
		var ovResets []uint64
		if ev.Kind == wire.KindOutboxOverflow {
			ovRuns = attrRuns(ev.Attrs)
			for _, r := range ovRuns {
				if err := s.addExplanation(r[0], r[1], overflowReason(ev)); err != nil {
					return err
				}
			}
			ovResets = attrResets(ev.Attrs, ovRuns)
			for _, r := range ovResets {
				if err := s.addResetExplanation(r, droppedResetReason(r, ev)); err != nil {
					return err
				}
			}
		}

		maxSeq := getU64(g, keyMax)
		var opened bool
		switch {
		case ev.Seq > maxSeq+1:
			if err := s.open(maxSeq+1, ev.Seq-1, now); err != nil {
				return err
			}
			opened = true
		case ev.Seq <= maxSeq:
			filled, err := s.fill(ev.Seq)
			if err != nil {
				return err
			}
			res.Late = filled
		}
		if ev.Seq > maxSeq {
			if err := g.Put(keyMax, be(ev.Seq)); err != nil {
				return err
			}
		}

		for _, r := range ovRuns {
			ex, err := s.explain(r[0], r[1], overflowReason(ev))
			if err != nil {
				return err
			}
			res.Explained = append(res.Explained, ex...)
		}
		// After the runs: they end the gap before each dropped reset at it.
		for _, r := range ovResets {
			ex, err := s.explainEndingAt(r-1, droppedResetReason(r, ev))
			if err != nil {
				return err
			}
			res.Explained = append(res.Explained, ex...)
		}
		if ev.Kind == wire.KindStorageReset && ev.Seq > 1 {
			ex, err := s.explainEndingAt(ev.Seq-1, resetReason(ev))
			if err != nil {
				return err
			}
			res.Explained = append(res.Explained, ex...)
		}
		if opened {
			res.NewGaps, err = s.overlapping(maxSeq+1, ev.Seq-1)
			if err != nil {
				return err
			}
			// Parts of the new gap explained by this very event are told
			// in NewGaps; Explained keeps to gaps seen before.
			res.Explained = slices.DeleteFunc(res.Explained, func(x Gap) bool {
				return x.First >= maxSeq+1 && x.Last <= ev.Seq-1
			})
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	if res.Status == New {
		l.noteEvent(gw, ev, now)
	}
	return res, nil
}

// attrRuns reads the seqs an outbox_overflow event reports lost: its
// "ranges" ([[first,last],...]) when present (an overflow event that
// absorbed an undelivered earlier one), else first_seq..last_seq. Runs
// outside first_seq..last_seq or malformed are ignored.
func attrRuns(attrs map[string]any) [][2]uint64 {
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
// dropped event is among the dropped seqs) count; anything else, like a
// value that is no list, is ignored.
func attrResets(attrs map[string]any, runs [][2]uint64) []uint64 {
	rs, _ := attrs["resets"].([]any)
	var out []uint64
	for _, x := range rs {
		r, ok := uintOf(x)
		if !ok || r < 2 {
			continue
		}
		in := slices.ContainsFunc(runs, func(run [2]uint64) bool { return run[0] <= r && r <= run[1] })
		if in {
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
	r := fmt.Sprintf("outbox_overflow (event %d", ev.Seq)
	if n, ok := attrUint(ev.Attrs, "dropped"); ok {
		r += fmt.Sprintf(", %d dropped", n)
	}
	return r + ")"
}

// droppedResetReason names both the storage_reset event at r that explains
// a gap and the outbox_overflow event that reported it dropped.
func droppedResetReason(r uint64, ev wire.Event) string {
	return fmt.Sprintf("storage_reset %d (dropped, reported by outbox_overflow %d)", r, ev.Seq)
}

func resetReason(ev wire.Event) string {
	r := fmt.Sprintf("storage_reset (event %d", ev.Seq)
	if n, ok := attrUint(ev.Attrs, "resumed_seq"); ok {
		r += fmt.Sprintf(", resumed at seq %d", n)
	}
	return r + ")"
}

// Event returns the stored JSON of one event.
func (l *Log) Event(gw string, seq uint64) (raw []byte, ok bool, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		g := tx.Bucket(bktRoot).Bucket([]byte(gw))
		if g == nil || g.Bucket(bktEvents) == nil {
			return nil
		}
		if v := g.Bucket(bktEvents).Get(be(seq)); v != nil {
			raw, ok = bytes.Clone(v), true
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read event %s: %w", wire.EventID(gw, seq), err)
	}
	return raw, ok, nil
}

// Gaps lists gw's gaps in seq order.
func (l *Log) Gaps(gw string) ([]Gap, error) {
	var out []Gap
	err := l.db.View(func(tx *bolt.Tx) error {
		g := tx.Bucket(bktRoot).Bucket([]byte(gw))
		if g == nil || g.Bucket(bktGaps) == nil {
			return nil
		}
		return g.Bucket(bktGaps).ForEach(func(_, v []byte) error {
			var x Gap
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			out = append(out, x)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read gaps of %s: %w", gw, err)
	}
	return out, nil
}

// Gateways lists the gateways that have sent at least one event.
func (l *Log) Gateways() ([]string, error) {
	var out []string
	err := l.db.View(func(tx *bolt.Tx) error {
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

// Counters sums up gw, or every gateway when gw is "".
func (l *Log) Counters(gw string) (Counters, error) {
	var c Counters
	err := l.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bktRoot)
		one := func(name []byte) error {
			g := root.Bucket(name)
			if g == nil {
				return nil
			}
			c.Received += getU64(g, keyRecv)
			c.Duplicates += getU64(g, keyDup)
			c.MaxSeq = max(c.MaxSeq, getU64(g, keyMax))
			gaps := g.Bucket(bktGaps)
			if gaps == nil {
				return nil
			}
			return gaps.ForEach(func(_, v []byte) error {
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
		}
		if gw != "" {
			return one([]byte(gw))
		}
		return root.ForEachBucket(one)
	})
	if err != nil {
		return Counters{}, fmt.Errorf("read counters: %w", err)
	}
	return c, nil
}

// GatewayState is what the station knows of a gateway right now.
type GatewayState struct {
	ID          string          `json:"id"`
	Status      *wire.Status    `json:"status,omitempty"`
	StatusAt    time.Time       `json:"status_at,omitzero"`
	Telemetry   *wire.Telemetry `json:"telemetry,omitempty"`
	TelemetryAt time.Time       `json:"telemetry_at,omitzero"`
	LastSeq     uint64          `json:"last_seq,omitempty"`
	LastEventAt time.Time       `json:"last_event_at,omitzero"`
}

// Online reports the last status the gateway (or its will) published.
func (s GatewayState) Online() bool { return s.Status != nil && s.Status.Online }

func (l *Log) stateOf(gw string) *GatewayState {
	s, ok := l.state[gw]
	if !ok {
		s = &GatewayState{ID: gw}
		l.state[gw] = s
	}
	return s
}

func (l *Log) noteEvent(gw string, ev wire.Event, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stateOf(gw)
	s.LastSeq = max(s.LastSeq, ev.Seq)
	s.LastEventAt = at
}

// SetStatus records a status message (birth, will or clean stop).
func (l *Log) SetStatus(gw string, st wire.Status, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stateOf(gw)
	s.Status, s.StatusAt = &st, at
}

// SetTelemetry records the latest telemetry.
func (l *Log) SetTelemetry(gw string, t wire.Telemetry, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stateOf(gw)
	s.Telemetry, s.TelemetryAt = &t, at
}

// State returns a copy of what is known of gw.
func (l *Log) State(gw string) (GatewayState, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.state[gw]
	if !ok {
		return GatewayState{ID: gw}, false
	}
	return s.clone(), true
}

// States returns a copy of every gateway's state, sorted by id.
func (l *Log) States() []GatewayState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]GatewayState, 0, len(l.state))
	for _, s := range l.state {
		out = append(out, s.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *GatewayState) clone() GatewayState {
	c := *s
	if s.Status != nil {
		st := *s.Status
		c.Status = &st
	}
	if s.Telemetry != nil {
		t := *s.Telemetry
		if t.CPUTempC != nil {
			v := *t.CPUTempC
			t.CPUTempC = &v
		}
		if t.Cameras != nil {
			t.Cameras = maps.Clone(t.Cameras)
		}
		c.Telemetry = &t
	}
	return c
}
