package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Outages: every span during which a gateway was offline (from its status
// messages: a will or clean stop, then a birth), or one of its cameras was
// (its camera_offline and camera_online events), kept durably so the
// console can draw a gateway's history and a station restart does not
// forget an outage in progress. Short blips are kept too: the console
// decides what is long enough to be an alarm (its offline grace).
//
// What they promise and cost:
//   - A status change, and a stored camera event, is queued for the
//     outage writer (a goroutine of the store), which commits everything
//     queued in one transaction: neither the console's message handler
//     nor the event writer waits for that commit, and a gateway flapping
//     its link or its cameras costs one commit per round of the outage
//     writer, not one per message. A crash before that commit loses the
//     outage record, never the event, which stays the authority; the
//     readers (Outages, OpenOutages) wait for what was queued before.
//   - A gateway outage opens at the time the offline status reached the
//     station and closes when a birth does. A birth with a new boot while
//     the gateway was online (it restarted before the broker noticed it
//     gone, so no will came) is kept as a restart: when it went down is
//     not known, so the outage runs from the birth's started time (when
//     that falls after the last message heard) to the birth.
//     A camera outage's times are the gateway's (event times), with the
//     clock flag of the events; an unsynced time that cannot be right is
//     replaced by the event's arrival (cameraTime).
//   - Each gateway keeps at most MaxOutages records and none that ended
//     more than OutageMaxAge ago; the oldest closed ones go first, then
//     (a gateway naming ever new cameras offline) the oldest open camera
//     outages; the gateway's own open outage stays.
const (
	MaxOutages   = 1000
	OutageMaxAge = 31 * 24 * time.Hour
)

// Outage is one span during which a gateway, or one of its cameras, was
// offline.
type Outage struct {
	Gateway string `json:"gateway"`
	// Camera is the camera's name; "" for the gateway itself.
	Camera string    `json:"camera,omitempty"`
	Start  time.Time `json:"start"`
	// End is zero while the outage lasts.
	End time.Time `json:"end,omitzero"`
	// Restart marks a gateway that came back with a new boot while the
	// station still had it online: its start is the gateway's own start.
	Restart bool `json:"restart,omitempty"`
	// Unsynced marks a camera outage stamped by a gateway whose clock was
	// not synchronised.
	Unsynced bool `json:"unsynced,omitempty"`
}

// Open reports whether the outage lasts.
func (o Outage) Open() bool { return o.End.IsZero() }

// Until is the outage's end, or now while it lasts.
func (o Outage) Until(now time.Time) time.Time {
	if o.Open() {
		return now
	}
	return o.End
}

var bktOutages = []byte("outages")

// outageKey orders a gateway's outages by start, the gateway's own
// before its cameras' at the same instant.
func outageKey(start time.Time, camera string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(camera)), uint64(start.UnixNano()))
	return append(k, camera...)
}

// noteStatus records what status st, arriving at at after prev (nil for
// the first since Open), says about gw's outages. lastSeen is the newest
// time the station heard from gw before st.
func (s *Store) noteStatus(gw string, prev *wire.Status, lastSeen time.Time, st wire.Status, at time.Time) {
	if s.opts.ReadOnly {
		return
	}
	what := "offline"
	if st.Online {
		what = "online"
	}
	s.updateOutages(gw, "", what, func(open *Outage) (*Outage, bool) {
		switch {
		case !st.Online && open == nil:
			return &Outage{Gateway: gw, Start: at}, false
		case st.Online && open != nil:
			open.End = maxTime(at, open.Start)
			return open, true
		case st.Online && prev != nil && prev.Online && prev.Boot != st.Boot && st.Boot != "":
			// When it went down is not known; it was up again from its
			// start, if the birth's (the gateway's clock) is plausible.
			start := at
			if t := st.Started; !t.IsZero() && !t.Before(lastSeen) && t.Before(at) {
				start = t
			}
			return &Outage{Gateway: gw, Start: start, End: at, Restart: true}, false
		}
		return nil, false
	})
}

// noteCamera records what a stored camera_offline or camera_online event,
// stored at at, says about the camera's outages. A source that is not a
// camera name (an id, as device/config names cameras) records none.
func (s *Store) noteCamera(gw string, ev *wire.Event, at time.Time) {
	if ev.Kind != wire.KindCameraOffline && ev.Kind != wire.KindCameraOnline || !validID(ev.Source) {
		return
	}
	s.cameraOutage(gw, *ev, at)
}

// cameraOutage is noteCamera's work for a camera event: apart, because
// its closure moves ev to the heap on entry, which noteCamera's callers
// (every stored event) need not pay.
func (s *Store) cameraOutage(gw string, ev wire.Event, at time.Time) {
	t := cameraTime(ev, at)
	s.updateOutages(gw, ev.Source, ev.Kind, func(open *Outage) (*Outage, bool) {
		switch {
		case ev.Kind == wire.KindCameraOffline && open == nil:
			return &Outage{Gateway: gw, Camera: ev.Source, Start: t, Unsynced: !ev.ClockSynced}, false
		case ev.Kind == wire.KindCameraOnline && open != nil:
			open.End = maxTime(t, open.Start)
			open.Unsynced = open.Unsynced || !ev.ClockSynced
			return open, true
		}
		return nil, false
	})
}

// cameraTime is when a camera event says its camera went off or on
// line: the gateway's time, unless the gateway's clock is not set and
// the time cannot be right (older than the outages kept, or after the
// event reached the station at at, as a board without a clock stamps its
// first events in 1970): then when it reached the station.
func cameraTime(ev wire.Event, at time.Time) time.Time {
	if !ev.ClockSynced && !at.IsZero() && (ev.Time.Before(at.Add(-OutageMaxAge)) || ev.Time.After(at)) {
		return at.UTC()
	}
	return ev.Time.UTC()
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// outageNote is one status or camera event's say on an outage: decide
// tells what camera's ("" the gateway's) open outage, or nil, becomes:
// nil for no change, or the outage to store (replacing the open one when
// replace is set).
type outageNote struct {
	gw, camera string
	decide     func(open *Outage) (put *Outage, replace bool)
	what       string // for the log
}

// maxQueuedOutages bounds the notes waiting for the outage writer; beyond
// it the caller waits (the store's writer, or the status handler): the
// outage writer takes them all in its next transaction.
const maxQueuedOutages = 4096

// outageQueue is the outage writer's: the notes queued, in order, and
// how many were queued and applied since Open. The outage writer is a
// goroutine of its own, started at the first note and stopped by Close,
// so that a status or camera event does not commit (fsync) on its
// caller's goroutine, and a flapping gateway's notes, however many, cost
// one transaction each time the outage writer comes round.
type outageQueue struct {
	mu               sync.Mutex
	cond             *sync.Cond
	notes            []outageNote
	queued, applied  uint64
	running, closing bool
	stopped          chan struct{}
}

// updateOutages queues note for the outage writer.
func (s *Store) updateOutages(gw, camera, what string, decide func(open *Outage) (put *Outage, replace bool)) {
	q := &s.outq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cond == nil {
		q.cond = sync.NewCond(&q.mu)
	}
	for len(q.notes) >= maxQueuedOutages && !q.closing {
		q.cond.Wait()
	}
	if q.closing {
		s.log.Warn("store: outage not recorded: the store is closing", "gateway", gw, "camera", camera, "what", what)
		return
	}
	if !q.running {
		q.running, q.stopped = true, make(chan struct{})
		go s.writeOutages()
	}
	q.notes = append(q.notes, outageNote{gw: gw, camera: camera, decide: decide, what: what})
	q.queued++
	q.cond.Broadcast()
}

// settleOutages waits until the outage writer has applied every note
// queued before the call: a reader sees what was stored before it.
func (s *Store) settleOutages() {
	q := &s.outq
	q.mu.Lock()
	defer q.mu.Unlock()
	for target := q.queued; q.applied < target && q.running; {
		q.cond.Wait()
	}
}

// stopOutages applies the notes queued and stops the outage writer
// (Close, before the file is closed).
func (s *Store) stopOutages() {
	q := &s.outq
	q.mu.Lock()
	q.closing = true
	running, stopped := q.running, q.stopped
	if q.cond != nil {
		q.cond.Broadcast()
	}
	q.mu.Unlock()
	if running {
		<-stopped
	}
}

// writeOutages is the outage writer: it takes every note queued and
// applies them in one transaction, until Close.
func (s *Store) writeOutages() {
	q := &s.outq
	for {
		q.mu.Lock()
		for len(q.notes) == 0 && !q.closing {
			q.cond.Wait()
		}
		notes := q.notes
		q.notes = nil
		if len(notes) == 0 {
			q.running = false
			q.cond.Broadcast()
			close(q.stopped)
			q.mu.Unlock()
			return
		}
		q.cond.Broadcast() // room in the queue
		q.mu.Unlock()
		s.applyOutages(notes)
		q.mu.Lock()
		q.applied += uint64(len(notes))
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}

// applyOutages applies notes, in order. A single note is asked first in
// a read transaction, so that a status that changes nothing (a retained
// copy, a birth while online) costs no commit; then in the write
// transaction, which also applies the bounds once per gateway. A note
// that cannot be applied is logged; the others are applied.
func (s *Store) applyOutages(notes []outageNote) {
	if len(notes) == 1 {
		n := notes[0]
		var needed bool
		err := s.db.View(func(tx *bolt.Tx) error {
			var b *bolt.Bucket
			if root := tx.Bucket(bktOutages); root != nil {
				b = root.Bucket([]byte(n.gw))
			}
			open, _, err := lastOpen(b, n.camera)
			if err != nil {
				return err
			}
			put, _ := n.decide(open)
			needed = put != nil
			return nil
		})
		if err != nil {
			s.log.Error("store: record outage", "gateway", n.gw, "camera", n.camera, "what", n.what, "error", err)
		}
		if err != nil || !needed {
			return
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bktOutages)
		if err != nil {
			return err
		}
		touched := map[string]*bolt.Bucket{}
		for _, n := range notes {
			b, err := root.CreateBucketIfNotExists([]byte(n.gw))
			if err == nil {
				b.FillPercent = appendFill
				err = applyOutage(b, n)
			}
			if err != nil {
				s.log.Error("store: record outage", "gateway", n.gw, "camera", n.camera, "what", n.what, "error", err)
				continue
			}
			touched[n.gw] = b
		}
		for gw, b := range touched {
			if err := pruneOutages(b, s.now()); err != nil {
				return fmt.Errorf("bound the outages of %s: %w", gw, err)
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("store: record outages", "notes", len(notes), "error", err)
	}
}

func applyOutage(b *bolt.Bucket, n outageNote) error {
	open, k, err := lastOpen(b, n.camera)
	if err != nil {
		return err
	}
	put, replace := n.decide(open)
	switch {
	case put == nil:
		return nil
	case replace:
		return putOutageAt(b, k, *put)
	}
	return putOutage(b, *put)
}

// lastOpen finds the newest outage of camera ("" the gateway) if it is
// still open. The newest of camera is looked for among the newest
// records: a gateway has few cameras.
func lastOpen(b *bolt.Bucket, camera string) (*Outage, []byte, error) {
	if b == nil {
		return nil, nil, nil
	}
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if len(k) < 8 || string(k[8:]) != camera {
			continue
		}
		var o Outage
		if err := json.Unmarshal(v, &o); err != nil {
			return nil, nil, fmt.Errorf("outage %x: %w", k, err)
		}
		if !o.Open() {
			return nil, nil, nil
		}
		return &o, bytes.Clone(k), nil
	}
	return nil, nil, nil
}

func putOutage(b *bolt.Bucket, o Outage) error {
	k := outageKey(o.Start, o.Camera)
	for b.Get(k) != nil { // two outages starting the same nanosecond
		o.Start = o.Start.Add(time.Nanosecond)
		k = outageKey(o.Start, o.Camera)
	}
	return putOutageAt(b, k, o)
}

func putOutageAt(b *bolt.Bucket, k []byte, o Outage) error {
	v, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

// pruneOutages applies MaxOutages and OutageMaxAge to one gateway's
// outages. An open one is kept whatever its age while closed ones can go
// instead; a gateway that names ever new cameras offline, once none is
// left, loses its oldest open camera outages: its own open outage (one
// at most) always stays.
func pruneOutages(b *bolt.Bucket, now time.Time) error {
	// Counted by the cursor: Stats reads the pages as last committed,
	// without this transaction's own put.
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	var drop [][]byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var o Outage
		if err := json.Unmarshal(v, &o); err != nil {
			return fmt.Errorf("outage %x: %w", k, err)
		}
		if o.Open() {
			continue
		}
		if n-len(drop) <= MaxOutages && now.Sub(o.End) <= OutageMaxAge {
			break
		}
		drop = append(drop, bytes.Clone(k))
	}
	// Still over the bound: every closed one is going; open camera
	// outages go next, oldest first.
	for k, _ := c.First(); k != nil && n-len(drop) > MaxOutages; k, _ = c.Next() {
		if len(k) > 8 && !slices.ContainsFunc(drop, func(d []byte) bool { return bytes.Equal(d, k) }) {
			drop = append(drop, bytes.Clone(k))
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Outages returns every outage, of every gateway, that lasted into
// [since, now]: those still open and those that ended at since or later,
// oldest first per gateway.
func (s *Store) Outages(since time.Time) (map[string][]Outage, error) {
	s.settleOutages()
	out := map[string][]Outage{}
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bktOutages)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(gw []byte) error {
			return root.Bucket(gw).ForEach(func(k, v []byte) error {
				var o Outage
				if err := json.Unmarshal(v, &o); err != nil {
					return fmt.Errorf("outage %s/%x: %w", gw, k, err)
				}
				if o.Open() || !o.End.Before(since) {
					out[string(gw)] = append(out[string(gw)], o)
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read outages: %w", err)
	}
	return out, nil
}

// OpenOutages returns, per gateway id, the gateway's own outage still
// open (cameras' are left out): a few reads per gateway, for every page.
func (s *Store) OpenOutages() (map[string]Outage, error) {
	s.settleOutages()
	out := map[string]Outage{}
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bktOutages)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(gw []byte) error {
			o, _, err := lastOpen(root.Bucket(gw), "")
			if o != nil {
				out[string(gw)] = *o
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read open outages: %w", err)
	}
	return out, nil
}
