package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// request is one payload on its way to the writer, already checked.
type request struct {
	gw      string
	rest    string // the topic below {prefix}/{gw}/, for a quarantine entry
	payload []byte
	snap    bool       // a snapshot of seq; else an event
	invalid error      // refused (wraps ErrInvalid): only quarantined
	ev      wire.Event // the decoded event
	seq     uint64
	done    func(Result, error)
	res     Result
}

// requests are the writer's used requests: a request holds two events
// (its own and its Result's), and allocating one for every stored event
// was a quarter of the bytes the store allocated while 200 gateways
// drained (docs/performance.md).
var requests = sync.Pool{New: func() any { return new(request) }}

// recycle clears r and gives it back to requests. r must not be used
// after: call it once r's done has returned.
func (r *request) recycle() {
	*r = request{}
	requests.Put(r)
}

// Claims reports whether rest (the topic below {prefix}/{gateway}/) is one
// the store keeps: "event" and "snapshot/{seq}".
func Claims(rest string) bool {
	return rest == wire.TopicEvent || strings.HasPrefix(rest, wire.TopicSnapshot+"/")
}

// decode checks a payload published on gw's topic rest; the error wraps
// ErrInvalid.
func decode(r *request, gw, rest string, payload []byte) error {
	if !validID(gw) {
		return fmt.Errorf("%w: gateway id %.70q", ErrInvalid, gw)
	}
	r.gw, r.payload = gw, payload
	switch {
	case rest == wire.TopicEvent:
		if len(payload) > MaxEventBytes {
			return fmt.Errorf("%w: event from %s: %d bytes, limit %d", ErrInvalid, gw, len(payload), MaxEventBytes)
		}
		if err := decodeEvent(payload, &r.ev); err != nil {
			return fmt.Errorf("%w: event from %s: %v", ErrInvalid, gw, err)
		}
		ev := &r.ev
		if ev.Seq == 0 || ev.Seq == math.MaxUint64 {
			return fmt.Errorf("%w: event from %s: seq %d", ErrInvalid, gw, ev.Seq)
		}
		if !isEventID(ev.ID, gw, ev.Seq) {
			return fmt.Errorf("%w: event from %s: id %.80q, want %q", ErrInvalid, gw, ev.ID, wire.EventID(gw, ev.Seq))
		}
		if ev.Epoch != "" && !validEpoch(ev.Epoch) {
			return fmt.Errorf("%w: event %s: epoch %.40q: want 1 to 32 of [a-z0-9]", ErrInvalid, ev.ID, ev.Epoch)
		}
		r.seq = ev.Seq
	case strings.HasPrefix(rest, wire.TopicSnapshot+"/"):
		n := rest[len(wire.TopicSnapshot)+1:]
		seq, err := strconv.ParseUint(n, 10, 64)
		if err != nil || seq == 0 || seq == math.MaxUint64 || strconv.FormatUint(seq, 10) != n {
			return fmt.Errorf("%w: snapshot from %s: topic %.40q: want snapshot/{seq}", ErrInvalid, gw, rest)
		}
		if len(payload) == 0 {
			return fmt.Errorf("%w: snapshot %s: empty", ErrInvalid, wire.EventID(gw, seq))
		}
		if len(payload) > MaxSnapshotBytes {
			return fmt.Errorf("%w: snapshot %s: %d bytes, limit %d", ErrInvalid, wire.EventID(gw, seq), len(payload), MaxSnapshotBytes)
		}
		r.snap, r.seq = true, seq
	default:
		return fmt.Errorf("%w: topic %.40q of %s is not stored", ErrInvalid, rest, gw)
	}
	return nil
}

// Submit queues the payload gw published on rest ("event" or
// "snapshot/{seq}") for the next commit, and calls done once it is
// committed (err nil) or the commit failed. An invalid payload is
// committed as a quarantine entry (see Quarantined) and then gets done
// with an error wrapping ErrInvalid. Submit blocks while the queue is
// full. done runs on the writer's goroutine, in submission order: it must
// return quickly and must not call Submit or Add.
func (s *Store) Submit(gw, rest string, payload []byte, done func(Result, error)) {
	if s.queue == nil {
		done(Result{}, ErrReadOnly)
		return
	}
	r := requests.Get().(*request)
	if err := decode(r, gw, rest, payload); err != nil {
		*r = request{gw: gw, payload: payload, rest: rest, invalid: err}
	}
	r.done = done
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	if s.closed {
		r.recycle()
		done(Result{}, ErrClosed)
		return
	}
	s.reserve(len(payload))
	s.queue <- r
}

// reserve waits until n more payload bytes fit in Options.QueueBytes (or
// nothing is queued) and counts them; release gives them back once their
// requests are answered. The writer never waits here, so a Submit waiting
// under qmu's read lock always ends.
func (s *Store) reserve(n int) {
	s.bmu.Lock()
	for s.qbytes > 0 && s.qbytes+n > s.opts.QueueBytes {
		s.bfree.Wait()
	}
	s.qbytes += n
	s.bmu.Unlock()
}

func (s *Store) release(n int) {
	if n == 0 {
		return
	}
	s.bmu.Lock()
	s.qbytes -= n
	s.bmu.Unlock()
	s.bfree.Broadcast()
}

// Add stores one payload like Submit and waits for its commit.
func (s *Store) Add(gw, rest string, payload []byte) (Result, error) {
	type answer struct {
		r   Result
		err error
	}
	ch := make(chan answer, 1)
	s.Submit(gw, rest, payload, func(r Result, err error) { ch <- answer{r, err} })
	a := <-ch
	return a.r, a.err
}

// pruneEvery is how often the writer deletes snapshots past their age when
// no traffic does it.
const pruneEvery = time.Minute

// run is the writer: it owns every write transaction.
func (s *Store) run() {
	defer close(s.done)
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	var lastCommit time.Time
	lastBatch := 0
	for {
		var batch []*request
		var size int
		select {
		case r, ok := <-s.queue:
			if !ok {
				return
			}
			batch = append(batch, r)
			size += len(r.payload)
		case <-tick.C:
			if s.agedSnapshots() {
				s.commit(nil)
			}
			continue
		}
		open := true
	more:
		for open && len(batch) < s.opts.MaxBatch && size < s.opts.MaxBatchBytes {
			select {
			case r, ok := <-s.queue:
				if !ok {
					open = false
					break more
				}
				batch = append(batch, r)
				size += len(r.payload)
			default:
				break more
			}
		}
		// Traffic goes on (the last commit, of more than one request, ended
		// less than Gather ago): wait a little for more to share this
		// commit (see Options.Gather). One caller at a time (batches of
		// one) never waits.
		if open && s.opts.Gather > 0 && lastBatch > 1 && len(batch) < min(s.opts.GatherBatch, s.opts.MaxBatch) &&
			size < s.opts.MaxBatchBytes && time.Since(lastCommit) < s.opts.Gather {
			gather.Reset(s.opts.Gather)
		wait:
			for len(batch) < min(s.opts.GatherBatch, s.opts.MaxBatch) && size < s.opts.MaxBatchBytes {
				select {
				case r, ok := <-s.queue:
					if !ok {
						open = false
						break wait
					}
					batch = append(batch, r)
					size += len(r.payload)
				case <-gather.C:
					break wait
				}
			}
			gather.Stop()
		}
		if s.batchSeen != nil {
			s.batchSeen(size)
		}
		s.commit(batch)
		lastCommit, lastBatch = time.Now(), len(batch)
		s.release(size)
		if !open {
			return
		}
	}
}

// commit applies batch in one transaction and answers every request.
func (s *Store) commit(batch []*request) {
	if s.opts.CommitDelay > 0 {
		time.Sleep(s.opts.CommitDelay)
	}
	w := &txn{s: s, now: s.now().UTC()}
	err := s.db.Update(func(tx *bolt.Tx) error {
		w.tx = tx
		for _, r := range batch {
			var err error
			switch {
			case r.invalid != nil:
				err = w.quarantine(r)
			case r.snap:
				r.res, err = w.snapshot(r)
			default:
				err = w.event(r)
			}
			if err != nil {
				return err
			}
		}
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.prune(); err != nil {
			return fmt.Errorf("snapshot retention: %w", err)
		}
		if h := s.hook.Load(); h != nil {
			return (*h)()
		}
		return nil
	})
	s.commits.Add(1)
	s.written.Add(uint64(len(batch)))
	if err != nil {
		err = fmt.Errorf("commit %d requests to %s: %w", len(batch), s.db.Path(), err)
		s.log.Error("store commit failed; the gateways will send again", "error", err)
		for _, r := range batch {
			r.done(Result{}, err)
			r.recycle()
		}
		return
	}
	for _, r := range batch {
		if r.invalid == nil && !r.snap && r.res.Status == New {
			s.noteEvent(r.gw, r.res.Event, w.now)
		}
	}
	if w.records > 0 {
		s.chMu.Lock()
		close(s.changed)
		s.changed = make(chan struct{})
		s.chMu.Unlock()
	}
	for _, r := range batch {
		r.done(r.res, r.invalid)
		r.recycle()
	}
}

// appendFill is the fill of pages split in buckets whose keys mostly come
// in order (arrival numbers, seqs): bbolt's default of one half would leave
// every page half empty and write twice the pages.
const appendFill = 0.9

// txn is one write transaction of the writer. The counters every event
// moves (the last arrival number, each epoch's received count and highest
// seq) are kept here and written once, by flush, at the end of the
// transaction: written per event they were a third of the writer's puts.
type txn struct {
	s       *Store
	tx      *bolt.Tx
	now     time.Time
	records int // arrival records written

	arrival     uint64 // the last arrival number, once read
	arrivalRead bool
	counters    map[*bolt.Bucket]*epochCounters
	arrivals    *bolt.Bucket // bktArrivals, once looked up
	slab        []byte       // what eventRecord appends records to
	// gws are the buckets of the gateways and epochs this txn wrote,
	// looked up once per commit rather than once per event (bbolt copies
	// the name on every CreateBucketIfNotExists).
	gws map[string]*gwBuckets
}

// gwBuckets are one gateway's buckets within a txn.
type gwBuckets struct {
	g       *bolt.Bucket
	epochs  *bolt.Bucket // bktEpochs
	current string       // keyCurrent's epoch, once known (currentOK)
	// currentOK: current is what keyCurrent holds.
	currentOK bool
	byEpoch   map[string]*epochBuckets
}

// epochBuckets are one epoch's buckets within a txn.
type epochBuckets struct {
	eb, events, gaps, expl *bolt.Bucket
	counters               *epochCounters
	ahead                  int // gapSet.ahead of the event being applied
}

// gateway returns gw's buckets, creating them.
func (w *txn) gateway(gw string) (*gwBuckets, error) {
	if b := w.gws[gw]; b != nil {
		return b, nil
	}
	g, err := w.tx.Bucket(bktRoot).CreateBucketIfNotExists([]byte(gw))
	if err != nil {
		return nil, err
	}
	epochs, err := g.CreateBucketIfNotExists(bktEpochs)
	if err != nil {
		return nil, err
	}
	if w.gws == nil {
		w.gws = map[string]*gwBuckets{}
	}
	b := &gwBuckets{g: g, epochs: epochs, byEpoch: map[string]*epochBuckets{}}
	w.gws[gw] = b
	return b, nil
}

// setCurrent records epoch as gw's current one (keyCurrent), writing it
// only when it changes.
func (b *gwBuckets) setCurrent(epoch string) error {
	if b.currentOK && b.current == epoch {
		return nil
	}
	ek := epochKey(epoch)
	if !bytes.Equal(b.g.Get(keyCurrent), ek) {
		if err := b.g.Put(keyCurrent, ek); err != nil {
			return err
		}
	}
	b.current, b.currentOK = epoch, true
	return nil
}

// epochCounters are the counters of one epoch's bucket within a txn.
type epochCounters struct {
	received uint64 // events to add to keyRecv
	max      uint64 // keyMax, once read (maxRead), to write if maxDirty
	maxRead  bool
	maxDirty bool
}

func (w *txn) countersOf(eb *bolt.Bucket) *epochCounters {
	if w.counters == nil {
		w.counters = map[*bolt.Bucket]*epochCounters{}
	}
	c := w.counters[eb]
	if c == nil {
		c = &epochCounters{}
		w.counters[eb] = c
	}
	return c
}

// maxSeq is the highest seq of epoch bucket eb, as this txn left it.
func (w *txn) maxSeq(eb *bolt.Bucket) uint64 {
	c := w.countersOf(eb)
	if !c.maxRead {
		c.max, c.maxRead = getU64(eb, keyMax), true
	}
	return c.max
}

func (w *txn) setMaxSeq(eb *bolt.Bucket, seq uint64) {
	c := w.countersOf(eb)
	c.max, c.maxRead, c.maxDirty = seq, true, true
}

// flush writes the counters kept in w.
func (w *txn) flush() error {
	for eb, c := range w.counters {
		if c.received > 0 {
			if err := eb.Put(keyRecv, be(getU64(eb, keyRecv)+c.received)); err != nil {
				return err
			}
		}
		if c.maxDirty {
			if err := eb.Put(keyMax, be(c.max)); err != nil {
				return err
			}
		}
	}
	if w.records > 0 {
		return w.tx.Bucket(bktMeta).Put(keyArrival, be(w.arrival))
	}
	return nil
}

// record gives rec the next arrival number and stores it.
func (w *txn) record(rec Record) (uint64, error) {
	n := w.nextArrival()
	rec.Arrival, rec.Time = n, w.now
	v, err := encodeRecord(rec)
	if err != nil {
		return 0, err
	}
	return n, w.putArrival(n, v)
}

// eventRecord is record for an event's record, the one written for every
// event: its stored form is appended to a buffer shared by the commit's
// records (bbolt keeps the values it is given until the commit), and rec
// does not escape, so an event's record costs no allocation of its own.
func (w *txn) eventRecord(rec *Record) (uint64, error) {
	n := w.nextArrival()
	rec.Arrival, rec.Time = n, w.now
	if size := eventRecordSize(rec); cap(w.slab)-len(w.slab) < size {
		// A new buffer, not a larger copy: the values handed out point
		// into the old one, which stays as it is.
		w.slab = make([]byte, 0, max(size, slabBytes))
	}
	start := len(w.slab)
	w.slab = appendEventRecord(w.slab, rec)
	return n, w.putArrival(n, w.slab[start:len(w.slab):len(w.slab)])
}

// key is n as a big-endian key, from the slab: bbolt's Put makes its key
// escape (to a logger), so even a key on the stack would be allocated.
func (w *txn) key(n uint64) []byte {
	if cap(w.slab)-len(w.slab) < 8 {
		w.slab = make([]byte, 0, slabBytes)
	}
	start := len(w.slab)
	w.slab = binary.BigEndian.AppendUint64(w.slab, n)
	return w.slab[start:len(w.slab):len(w.slab)]
}

// slabBytes is the size of the buffers eventRecord appends records to:
// about 1,000 records each.
const slabBytes = 64 << 10

func (w *txn) nextArrival() uint64 {
	if !w.arrivalRead {
		w.arrival, w.arrivalRead = getU64(w.tx.Bucket(bktMeta), keyArrival), true
	}
	w.arrival++
	return w.arrival
}

func (w *txn) putArrival(n uint64, v []byte) error {
	if w.arrivals == nil {
		w.arrivals = w.tx.Bucket(bktArrivals)
		w.arrivals.FillPercent = appendFill
	}
	if err := w.arrivals.Put(w.key(n), v); err != nil {
		return err
	}
	w.records++
	return nil
}

func (w *txn) gapRecords(gs []Gap, later bool) error {
	for _, g := range gs {
		if _, err := w.record(Record{Type: RecordGap, Gateway: g.Gateway, Epoch: g.Epoch, Gap: &g, Later: later}); err != nil {
			return err
		}
	}
	return nil
}

// epoch returns the bucket of (gw, epoch), creating it, and the notice to
// record when it is a new epoch of a gateway that had another: seq is the
// first event's.
//
// A gateway upgraded to a firmware with epochs gives its existing outbox
// an epoch and goes on counting: its events move from epoch "" to the new
// one with the next seqs. When the current epoch is "" and the new one
// starts above its highest seq, the new epoch continues it (its gaps start
// after that seq) and the notice is NoticeEpochStarted. A new SD card
// starts again at seq 1, below: NoticeStorageReplaced.
func (w *txn) epoch(gb *gwBuckets, gw, epoch string, seq uint64) (*epochBuckets, *Notice, error) {
	if e := gb.byEpoch[epoch]; e != nil {
		return e, nil, nil
	}
	eb, n, err := w.epochBucket(gb.g, gb.epochs, gw, epoch, seq)
	if err != nil {
		return nil, nil, err
	}
	e := &epochBuckets{eb: eb, events: eb.Bucket(bktEvents), gaps: eb.Bucket(bktGaps), expl: eb.Bucket(bktExplain), counters: w.countersOf(eb)}
	e.events.FillPercent = appendFill
	gb.byEpoch[epoch] = e
	return e, n, nil
}

// epochBucket is epoch's work on the buckets themselves.
func (w *txn) epochBucket(g, epochs *bolt.Bucket, gw, epoch string, seq uint64) (*bolt.Bucket, *Notice, error) {
	ek := epochKey(epoch)
	if eb := epochs.Bucket(ek); eb != nil {
		return eb, nil, nil
	}
	var n *Notice
	var continued uint64
	if k, _ := epochs.Cursor().First(); k != nil {
		old := g.Get(keyCurrent)
		if old == nil {
			old = k
		}
		var last uint64
		if ob := epochs.Bucket(old); ob != nil {
			last = w.maxSeq(ob)
		}
		n = &Notice{Gateway: gw, Kind: NoticeStorageReplaced, OldEpoch: epochOfKey(old), OldLastSeq: last, NewEpoch: epoch, Time: w.now}
		if n.OldEpoch == "" && seq > last {
			n.Kind, continued = NoticeEpochStarted, last
		}
	}
	eb, err := epochs.CreateBucket(ek)
	if err != nil {
		return nil, nil, err
	}
	for _, b := range [][]byte{bktEvents, bktGaps, bktExplain} {
		if _, err := eb.CreateBucket(b); err != nil {
			return nil, nil, err
		}
	}
	if continued > 0 {
		w.setMaxSeq(eb, continued)
	}
	return eb, n, nil
}

// event applies one event: the logic of gaps and explanations is that of
// package eventlog, per epoch.
//
// It fills r.res in place: a Result holds a whole wire.Event, and copying
// it (and the event) per event showed in the writer's profile.
func (w *txn) event(r *request) error {
	ev, gw, raw, now := &r.ev, r.gw, r.payload, w.now
	res := &r.res
	res.Event = *ev
	gb, err := w.gateway(gw)
	if err != nil {
		return err
	}
	e, notice, err := w.epoch(gb, gw, ev.Epoch, ev.Seq)
	if err != nil {
		return err
	}
	eb, events := e.eb, e.events
	e.ahead = -1 // counted again for each event
	s := gapSet{gw: gw, epoch: ev.Epoch, gaps: e.gaps, expl: e.expl, ahead: &e.ahead}
	key := w.key(ev.Seq)
	// Every stored seq is at most the epoch's highest: an event above it
	// (every event of a draining backlog) is new without a lookup.
	maxSeq := w.maxSeq(eb)
	var old []byte
	if ev.Seq <= maxSeq {
		old = events.Get(key)
	}
	if old != nil {
		res.Status = Duplicate
		res.Conflict = !bytes.Equal(old, raw)
		return eb.Put(keyDup, be(getU64(eb, keyDup)+1))
	}
	res.Status = New
	if err := events.Put(key, raw); err != nil {
		return err
	}
	e.counters.received++
	if err := gb.setCurrent(ev.Epoch); err != nil {
		return err
	}

	var ovRuns [][2]uint64
	var ovResets []uint64
	if ev.Kind == wire.KindOutboxOverflow {
		// Seqs up to above are in gaps once this event is applied, and
		// explained below; only what lies beyond is kept for later.
		above := max(maxSeq, ev.Seq)
		var dropped int
		ovRuns = attrRuns(ev.Attrs)
		for _, r := range ovRuns {
			if r[1] <= above {
				continue
			}
			kept, err := s.addExplanation(max(r[0], above+1), r[1], overflowReason(*ev))
			if err != nil {
				return err
			}
			dropped += b2i(!kept)
		}
		ovResets = attrResets(ev.Attrs, ovRuns)
		for _, r := range ovResets {
			if r-1 <= above {
				continue
			}
			kept, err := s.addResetExplanation(r, droppedResetReason(r, *ev))
			if err != nil {
				return err
			}
			dropped += b2i(!kept)
		}
		if dropped > 0 {
			w.s.log.Warn("overflow event explains too many seqs ahead of its gateway; those gaps will show unexplained",
				"event", ev.ID, "epoch", ev.Epoch, "not_kept", dropped, "limit", maxAhead)
		}
	}

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
		w.setMaxSeq(eb, ev.Seq)
	}

	for _, r := range ovRuns {
		ex, err := s.explain(r[0], r[1], overflowReason(*ev))
		if err != nil {
			return err
		}
		res.Explained = append(res.Explained, ex...)
	}
	// After the runs: they end the gap before each dropped reset at it.
	for _, r := range ovResets {
		ex, err := s.explainEndingAt(r-1, droppedResetReason(r, *ev))
		if err != nil {
			return err
		}
		res.Explained = append(res.Explained, ex...)
	}
	if ev.Kind == wire.KindStorageReset && ev.Seq > 1 {
		ex, err := s.explainEndingAt(ev.Seq-1, resetReason(*ev))
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
		// Parts of the new gap explained by this very event are told in
		// NewGaps; Explained keeps to gaps seen before.
		res.Explained = slices.DeleteFunc(res.Explained, func(x Gap) bool {
			return x.First >= maxSeq+1 && x.Last <= ev.Seq-1
		})
	}

	// The arrival records, in the order a reader tells them: the notice,
	// the gaps the event opened, the event, then what it explained.
	if notice != nil {
		res.Notice = notice
		if _, err := w.record(Record{Type: RecordNotice, Gateway: gw, Epoch: ev.Epoch, Notice: notice}); err != nil {
			return err
		}
	}
	if err := w.gapRecords(res.NewGaps, false); err != nil {
		return err
	}
	line := Line{Kind: ev.Kind, Source: ev.Source, State: ev.State, Time: ev.Time.UTC(), ClockSynced: ev.ClockSynced, Test: ev.Test} // LineOf, on the stack
	rec := Record{Type: RecordEvent, Gateway: gw, Epoch: ev.Epoch, Seq: ev.Seq, Late: res.Late, Line: &line}
	if res.Arrival, err = w.eventRecord(&rec); err != nil {
		return err
	}
	return w.gapRecords(res.Explained, true)
}

// snapMeta describes one stored snapshot.
type snapMeta struct {
	Bytes   int       `json:"bytes"`
	SHA256  string    `json:"sha256"`
	Arrival uint64    `json:"arrival"`
	Time    time.Time `json:"time"`
}

// snapshot stores one JPEG under the gateway's current epoch.
func (w *txn) snapshot(r *request) (Result, error) {
	res := Result{Snapshot: true}
	g, err := w.tx.Bucket(bktRoot).CreateBucketIfNotExists([]byte(r.gw))
	if err != nil {
		return res, err
	}
	epoch := ""
	if cur := g.Get(keyCurrent); cur != nil {
		epoch = epochOfKey(cur)
	}
	res.Event = wire.Event{Seq: r.seq, ID: wire.EventID(r.gw, r.seq), Epoch: epoch}
	key := snapKey(r.gw, epoch, r.seq)
	snaps := w.tx.Bucket(bktSnaps)
	if old := snaps.Get(key); old != nil {
		res.Status = Duplicate
		res.Conflict = !bytes.Equal(old, r.payload)
		return res, nil
	}
	res.Status = New
	sum := sha256.Sum256(r.payload)
	m := snapMeta{Bytes: len(r.payload), SHA256: hex.EncodeToString(sum[:]), Time: w.now}
	if m.Arrival, err = w.record(Record{Type: RecordSnapshot, Gateway: r.gw, Epoch: epoch, Seq: r.seq, Bytes: m.Bytes, SHA256: m.SHA256}); err != nil {
		return res, err
	}
	res.Arrival = m.Arrival
	mv, err := json.Marshal(m)
	if err != nil {
		return res, err
	}
	meta := w.tx.Bucket(bktMeta)
	err = firstErr(
		snaps.Put(key, r.payload),
		w.tx.Bucket(bktSnapMeta).Put(key, mv),
		w.tx.Bucket(bktSnapAge).Put(be(m.Arrival), key),
		meta.Put(keySnapBytes, be(getU64(meta, keySnapBytes)+uint64(m.Bytes))),
		meta.Put(keySnapCount, be(getU64(meta, keySnapCount)+1)),
	)
	return res, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// prune deletes the oldest snapshots while they are over the byte bound or
// past the age bound.
func (w *txn) prune() error {
	meta := w.tx.Bucket(bktMeta)
	total := getU64(meta, keySnapBytes)
	count := getU64(meta, keySnapCount)
	age := w.tx.Bucket(bktSnapAge)
	snaps, metas := w.tx.Bucket(bktSnaps), w.tx.Bucket(bktSnapMeta)
	cutoff := w.now.Add(-w.s.opts.SnapshotMaxAge)
	var pruned int
	c := age.Cursor()
	for k, key := c.First(); k != nil; k, key = c.First() {
		var m snapMeta
		if err := json.Unmarshal(metas.Get(key), &m); err != nil {
			// Unreadable: delete it rather than fail every commit.
			w.s.log.Error("snapshot index entry unreadable; deleting the snapshot", "key", fmt.Sprintf("%q", key), "error", err)
			m = snapMeta{Bytes: len(snaps.Get(key))}
		} else if total <= uint64(w.s.opts.SnapshotMaxBytes) && !m.Time.Before(cutoff) {
			break
		}
		total -= min(total, uint64(m.Bytes))
		count -= min(count, 1)
		if err := firstErr(c.Delete(), snaps.Delete(key), metas.Delete(key)); err != nil {
			return err
		}
		pruned++
	}
	if pruned == 0 {
		return nil
	}
	return firstErr(meta.Put(keySnapBytes, be(total)), meta.Put(keySnapCount, be(count)))
}

// agedSnapshots reports whether the oldest snapshot is past its age.
func (s *Store) agedSnapshots() bool {
	var old bool
	_ = s.db.View(func(tx *bolt.Tx) error {
		_, key := tx.Bucket(bktSnapAge).Cursor().First()
		if key == nil {
			return nil
		}
		var m snapMeta
		if json.Unmarshal(tx.Bucket(bktSnapMeta).Get(key), &m) == nil {
			old = m.Time.Before(s.now().Add(-s.opts.SnapshotMaxAge))
		}
		return nil
	})
	return old
}
