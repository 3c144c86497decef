package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antt-gateway/antt/uplink/durable"
	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// DefaultMaxBytes is the file bound used when Options.MaxBytes is zero.
const DefaultMaxBytes = 256 << 20

// MinMaxBytes is the smallest accepted file bound; below it bbolt's own
// pages leave no room for events.
const MinMaxBytes = 128 << 10

// maxBatchEvents caps one group commit so a flood of appenders cannot make
// a single transaction (and its memory) arbitrarily large.
const maxBatchEvents = 8192

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("outbox closed")

// ErrTooLarge is returned for an event (or batch) that could never fit in
// the configured bound.
var ErrTooLarge = errors.New("event too large for the outbox")

// Options configure Open. Only Gateway is required.
type Options struct {
	Gateway string // gateway id, used for Event.ID = wire.EventID(gw, seq)
	Boot    string // boot id put into the events the outbox raises itself
	// MaxBytes bounds the database file (default 256 MiB); it is also
	// bbolt's MaxSize. The bound really used is smaller when the data
	// partition cannot hold it (Stats.Bound).
	MaxBytes    int64
	Now         func() time.Time     // clock (default time.Now)
	Uptime      func() time.Duration // for UptimeMS of self-raised events (default: since Open)
	ClockSynced func() bool          // for self-raised events (default: always true)
	Logger      *slog.Logger         // default slog.Default()
	NoSync      bool                 // tests and benchmarks only: skip fsync, so nothing is durable
	// CompactAbove: when Acks drain the queue and the file is larger than
	// this, the file is rebuilt small (default MaxBytes/4).
	CompactAbove int64

	// FailCommit, when set, is called inside every write transaction just
	// before it commits; a non-nil result aborts the transaction as a
	// failing disk would (wrap syscall.ENOSPC for a full one). For fault
	// injection in tests of the outbox and of its users.
	FailCommit func() error

	payloadBudget int64                                            // tests only: overrides the bound/2
	statfs        func(dir string) (total, avail int64, err error) // tests only: replaces statfs
	reopenHook    func() error                                     // tests only: a non-nil result fails a reopen after compaction
}

// Record is one stored event as it is published.
type Record struct {
	Seq  uint64
	Data []byte // JSON of the wire.Event, exactly as stored
	// Attachment is the blob stored with the event (a camera snapshot), nil
	// when there is none.
	Attachment []byte
}

// Outbox is an open queue. Its methods are safe for concurrent use.
type Outbox struct {
	path  string
	opt   Options
	bo    *bolt.Options
	log   *slog.Logger
	maxEv int // largest accepted event JSON
	epoch string

	bound  atomic.Int64 // the effective bound, see checkSpace
	budget atomic.Int64 // bytes records may use: half the bound, see the package doc

	dbMu sync.RWMutex // write-locked only while the writer swaps db (compaction)
	db   *bolt.DB

	reqs    chan *request
	notify  chan struct{}
	closing chan struct{}
	done    chan struct{}
	once    sync.Once

	commits   atomic.Uint64
	boundHits atomic.Uint64 // commits refused by bbolt's MaxSize
	noSpace   atomic.Uint64 // commits refused with ENOSPC

	mu sync.Mutex // guards st for Stats; the writer owns the copy it mutates
	st state

	// failing is the error of the last write commit, nil once one
	// succeeds; Ping reports it.
	failing atomic.Pointer[error]

	// Writer-owned.
	reserved     uint64 // sidecar reservation; every committed seq is below it
	pressure     bool   // the last commit hit ENOSPC: make room first
	reserveSize  int64  // size of the reserve file
	reserveHeld  bool   // the reserve file is in place
	spaceChecked time.Time
	softResErr   bool // the early move of the reservation failed (logged once)
}

type request struct {
	tails [][]byte // event JSON after the seq and id, see spliceJSON
	atts  [][]byte // nil, or one attachment (possibly nil) per tail
	acks  []uint64
	done  chan result
}

type result struct {
	seqs []uint64
	err  error
}

// Open opens (creating if needed) the outbox at path and verifies it. A
// damaged file is moved aside and replaced, which Open reports with a
// storage_reset event rather than an error. Errors are returned for what
// retrying or an operator can fix: a lock held by another process (after
// one second), permissions, an unusable directory.
func Open(path string, opt Options) (*Outbox, error) {
	if !wire.ValidID(opt.Gateway) {
		return nil, fmt.Errorf("open outbox %s: invalid gateway id %q", path, opt.Gateway)
	}
	if opt.MaxBytes == 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.MaxBytes < MinMaxBytes {
		return nil, fmt.Errorf("open outbox %s: max bytes %d below the minimum %d", path, opt.MaxBytes, MinMaxBytes)
	}
	if opt.MaxBytes > platformMaxBytes {
		return nil, fmt.Errorf("open outbox %s: max bytes %d above the %d bbolt can map on this %d-bit platform", path, opt.MaxBytes, platformMaxBytes, strconv.IntSize)
	}
	if opt.statfs == nil {
		opt.statfs = fsSpace
	}
	if opt.CompactAbove <= 0 {
		opt.CompactAbove = opt.MaxBytes / 4
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	started := opt.Now()
	if opt.Uptime == nil {
		now := opt.Now
		opt.Uptime = func() time.Duration { return now().Sub(started) }
	}
	if opt.ClockSynced == nil {
		opt.ClockSynced = func() bool { return true }
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	o := &Outbox{
		path:    path,
		opt:     opt,
		log:     opt.Logger.With("outbox", path),
		bo:      &bolt.Options{Timeout: lockTimeout, MaxSize: int(opt.MaxBytes), NoSync: opt.NoSync, NoGrowSync: opt.NoSync, FreelistType: bolt.FreelistMapType},
		reqs:    make(chan *request),
		notify:  make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	o.maxEv = int(min(64<<10, opt.MaxBytes/32))
	// Before the file grows: the reserve is taken while there is room.
	o.checkSpace()
	if err := o.open(); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	go o.run()
	return o, nil
}

// open brings up the database file, replacing a damaged one, and appends
// the storage_reset event a replacement calls for.
func (o *Outbox) open() error {
	path := o.path
	_ = os.Remove(path + ".compact") // a compaction cut short; the database itself is intact
	reserved, resEpoch, haveRes, err := readSidecar(path + ".seq")
	if err != nil {
		if !haveRes {
			return err
		}
		o.log.Error("seq reservation unreadable; continuing from the database counter", "err", err)
	}
	var reason, movedTo string
	_, statErr := os.Stat(path)
	switch {
	case errors.Is(statErr, fs.ErrNotExist):
		if haveRes {
			reason = "database file missing"
		}
	case statErr != nil:
		return statErr
	default:
		db, st, err := openFile(path, o.bo)
		var de *damageError
		switch {
		case errors.As(err, &de):
			reason = de.reason
			if movedTo, err = moveAside(path, o.opt.Now()); err != nil {
				return fmt.Errorf("move damaged file aside: %w", err)
			}
			o.log.Error("database damaged; moved aside and starting a fresh one", "reason", reason, "moved_to", movedTo)
		case err != nil:
			return err
		default:
			o.db, o.st = db, st
		}
	}
	// The epoch lives as long as either file does: a fresh database takes
	// the sidecar's, an old database without one gets the sidecar's or a
	// new one, and only with both files gone does a new sequence begin.
	epoch := o.st.epoch
	if epoch == "" {
		epoch = resEpoch
	}
	if epoch == "" {
		if epoch, err = newEpoch(); err != nil {
			if o.db != nil {
				o.db.Close()
			}
			return err
		}
	}
	if resEpoch != "" && resEpoch != epoch {
		o.log.Warn("seq sidecar names another epoch than the database; keeping the database's", "database", epoch, "sidecar", resEpoch)
	}
	o.epoch = epoch
	if o.db == nil {
		db, err := bolt.Open(path, 0o600, o.bo)
		if err != nil {
			return err
		}
		if err := initDB(db, reserved, epoch); err != nil {
			db.Close()
			return fmt.Errorf("initialise: %w", err)
		}
		o.db, o.st = db, state{next: max(reserved, 1), epoch: epoch}
	} else if o.st.epoch == "" {
		if err := initDB(o.db, o.st.next, epoch); err != nil {
			o.db.Close()
			return fmt.Errorf("record epoch: %w", err)
		}
		o.st.epoch = epoch
		o.log.Info("database from before epochs: epoch recorded", "epoch", epoch)
	}
	o.reserved = reserved
	if o.reserved <= o.st.next || resEpoch != epoch {
		if err := o.reserve(o.st.next); err != nil {
			o.db.Close()
			return err
		}
	}
	if reason == "" {
		return nil
	}
	// Appended synchronously, without the writer, so it is the first record
	// of the fresh file and durable before Open returns.
	ev := o.selfEvent(wire.KindStorageReset, map[string]any{
		"moved_to":    movedTo,
		"reason":      reason,
		"resumed_seq": o.st.next,
	})
	tail, err := tailOf(*ev)
	if err == nil {
		_, err = o.commit(nil, [][]byte{tail}, nil)
	}
	if err != nil {
		o.db.Close()
		return fmt.Errorf("record storage reset: %w", err)
	}
	o.notify <- struct{}{} // empty channel: nothing can have filled it yet
	return nil
}

// reserve moves the sidecar reservation beyond upTo (never back) and
// writes the epoch with it.
func (o *Outbox) reserve(upTo uint64) error {
	r := max(upTo+reserveBlock, o.reserved)
	err := writeFileAtomic(o.path+".seq", formatSidecar(r, o.epoch), !o.opt.NoSync)
	if isNoSpace(err) && o.releaseReserve() {
		err = writeFileAtomic(o.path+".seq", formatSidecar(r, o.epoch), !o.opt.NoSync)
	}
	if err != nil {
		return fmt.Errorf("write seq reservation: %w", err)
	}
	o.reserved = r
	return nil
}

// Epoch names the sequence the outbox's seqs belong to (see wire.Event):
// created with the first database on new storage, kept across restarts,
// compaction and storage resets.
func (o *Outbox) Epoch() string { return o.epoch }

func (o *Outbox) selfEvent(kind string, attrs map[string]any) *wire.Event {
	return &wire.Event{
		Kind:        kind,
		Source:      "outbox",
		Time:        o.opt.Now(),
		ClockSynced: o.opt.ClockSynced(),
		UptimeMS:    o.opt.Uptime().Milliseconds(),
		Boot:        o.opt.Boot,
		Attrs:       attrs,
	}
}

// Append stores e and returns its seq once the commit holding it is fsynced.
// It sets e.Seq and e.ID on success; e is not touched otherwise, and not
// retained. If ctx ends first, Append returns ctx.Err() and the event may
// still be committed.
func (o *Outbox) Append(ctx context.Context, e *wire.Event) (uint64, error) {
	seqs, err := o.AppendBatch(ctx, []*wire.Event{e})
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// AppendAttached stores e with an attachment (a camera snapshot) in one
// transaction, so both are durable together, count together against the
// bound, are dropped together on overflow and removed together by Ack. Peek
// returns the attachment in Record.Attachment. The event and its attachment
// together may use at most a quarter of the payload budget.
func (o *Outbox) AppendAttached(ctx context.Context, e *wire.Event, attachment []byte) (uint64, error) {
	seqs, err := o.appendBatch(ctx, []*wire.Event{e}, [][]byte{attachment})
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// AppendBatch stores events in one transaction, in order, and returns their
// seqs; it is the cheap way for one goroutine to append many. The batch is
// all or nothing.
func (o *Outbox) AppendBatch(ctx context.Context, events []*wire.Event) ([]uint64, error) {
	return o.appendBatch(ctx, events, nil)
}

func (o *Outbox) appendBatch(ctx context.Context, events []*wire.Event, atts [][]byte) ([]uint64, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if len(events) > maxBatchEvents {
		return nil, fmt.Errorf("append %d events: %w (at most %d per batch)", len(events), ErrTooLarge, maxBatchEvents)
	}
	r := &request{tails: make([][]byte, len(events)), atts: atts, done: make(chan result, 1)}
	var total int64
	for _, a := range atts {
		total += int64(len(a))
	}
	for i, e := range events {
		t, err := tailOf(*e)
		if err != nil {
			return nil, fmt.Errorf("append %s event: %w", e.Kind, err)
		}
		if len(t)+100 > o.maxEv {
			return nil, fmt.Errorf("append %s event of %d bytes: %w (limit %d)", e.Kind, len(t), ErrTooLarge, o.maxEv)
		}
		total += int64(len(t)) + 100
		r.tails[i] = t
	}
	if b := o.budget.Load(); total > b/4 {
		return nil, fmt.Errorf("append batch of %d bytes: %w (limit %d)", total, ErrTooLarge, b/4)
	}
	res, err := o.call(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	for i, e := range events {
		e.Seq, e.ID, e.Epoch = res.seqs[i], wire.EventID(o.opt.Gateway, res.seqs[i]), o.epoch
	}
	return res.seqs, nil
}

func (o *Outbox) call(ctx context.Context, r *request) (result, error) {
	select {
	case o.reqs <- r:
	case <-o.closing:
		return result{}, ErrClosed
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res, res.err
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

// Ack removes the records with these seqs, durably, once the station has
// them. Unknown or already removed seqs are ignored, so Ack is idempotent.
// Acks share group commits with Appends.
func (o *Outbox) Ack(seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	r := &request{acks: append([]uint64(nil), seqs...), done: make(chan result, 1)}
	if _, err := o.call(context.Background(), r); err != nil {
		return fmt.Errorf("ack %d records: %w", len(seqs), err)
	}
	return nil
}

// Ping round-trips an empty request through the writer goroutine: it
// returns nil once the writer has taken it and answered, which proves the
// writer is not stuck (in a hung fsync, say). While commits succeed it
// commits nothing. After a failed commit it fails too: the writer then
// tries one small commit of its own per Ping, and Ping succeeds again once
// one commits. It waits behind a commit already under way, so ctx should
// allow for a slow disk. It fails with ErrClosed after Close and with
// ctx.Err() when ctx ends first.
func (o *Outbox) Ping(ctx context.Context) error {
	r := &request{done: make(chan result, 1)}
	if _, err := o.call(ctx, r); err != nil {
		return fmt.Errorf("ping outbox writer: %w", err)
	}
	return nil
}

// Peek returns up to max of the oldest records with Seq > after, in seq
// order. The Data slices are copies the caller may keep.
func (o *Outbox) Peek(after uint64, max int) ([]Record, error) {
	return o.PeekLimit(after, max, math.MaxInt64)
}

// PeekLimit is Peek that also stops once the records' data and attachments
// reach maxBytes; it returns at least one record when there is one. Reading
// ahead through snapshots of a few hundred KiB each stays bounded in memory.
func (o *Outbox) PeekLimit(after uint64, max int, maxBytes int64) ([]Record, error) {
	o.dbMu.RLock()
	defer o.dbMu.RUnlock()
	if o.db == nil {
		return nil, o.closedErr()
	}
	var out []Record
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		att := tx.Bucket(bucketAttach)
		var n int64
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max && (len(out) == 0 || n < maxBytes); k, v = c.Next() {
			seq, _ := u64(k)
			r := Record{Seq: seq, Data: append([]byte(nil), v...)}
			if att != nil {
				if a := att.Get(k); a != nil {
					r.Attachment = append([]byte(nil), a...)
				}
			}
			n += int64(len(r.Data) + len(r.Attachment))
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("peek outbox: %w", err)
	}
	return out, nil
}

// Notify returns a channel that receives (capacity 1, never blocking the
// writer) after each commit that added records: a sender sleeping on it
// wakes to Peek again.
func (o *Outbox) Notify() <-chan struct{} { return o.notify }

// Commits is how many write transactions (each one fsync) have committed
// since Open; with Stats it shows how well Appends are grouped.
func (o *Outbox) Commits() uint64 { return o.commits.Load() }

// Stats reports the queue as of the last commit.
func (o *Outbox) Stats() wire.OutboxStats {
	o.mu.Lock()
	st := o.st
	o.mu.Unlock()
	s := wire.OutboxStats{Depth: st.depth, Bytes: st.payload, Dropped: st.dropped, NextSeq: st.next,
		Epoch: o.epoch, Bound: o.bound.Load(), MaxBytes: o.opt.MaxBytes}
	if st.depth > 0 && !st.oldest.IsZero() {
		s.OldestS = max(0, o.opt.Now().Sub(st.oldest).Seconds())
	}
	if fi, err := os.Stat(o.path); err == nil {
		s.FileSize = fi.Size()
	}
	return s
}

// Close stops the writer and closes the file. Calls still waiting get
// ErrClosed (their events were not stored).
func (o *Outbox) Close() error {
	var err error
	o.once.Do(func() {
		close(o.closing)
		<-o.done
		o.dbMu.Lock()
		defer o.dbMu.Unlock()
		if o.db != nil {
			err = o.db.Close()
			o.db = nil
		}
	})
	return err
}

// run is the writer goroutine: it owns every write transaction.
func (o *Outbox) run() {
	defer close(o.done)
	for {
		var batch []*request
		var retry <-chan time.Time
		if o.db == nil {
			// A reopen after compaction failed: try again even when no
			// request comes, so Peek works again too.
			retry = time.After(reopenRetry)
		}
		select {
		case r := <-o.reqs:
			batch = append(batch, r)
		case <-retry:
			_ = o.reopen()
			continue
		case <-o.closing:
			return
		}
		// Take everything queued. Between rounds, yield once so appenders
		// that are already runnable (typically the ones the last commit
		// just answered) reach their send before the batch is cut. This
		// waits for no timer, only for work that is ready, and stops as
		// soon as a round brings nothing new.
		n := len(batch[0].tails)
		for more := true; more && n < maxBatchEvents; {
			runtime.Gosched()
			more = false
		collect:
			for n < maxBatchEvents {
				select {
				case r := <-o.reqs:
					batch = append(batch, r)
					n += len(r.tails)
					more = true
				default:
					break collect
				}
			}
		}
		o.serve(batch)
	}
}

// serve commits one group and answers every request in it.
func (o *Outbox) serve(batch []*request) {
	var acks []uint64
	var tails, atts [][]byte
	for _, r := range batch {
		acks = append(acks, r.acks...)
		tails = append(tails, r.tails...)
		if r.atts != nil || atts != nil {
			if atts == nil {
				atts = make([][]byte, len(tails)-len(r.tails), len(tails))
			}
			if r.atts != nil {
				atts = append(atts, r.atts...)
			} else {
				atts = append(atts, make([][]byte, len(r.tails))...)
			}
		}
	}
	if err := o.reopen(); err != nil {
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	if len(acks) == 0 && len(tails) == 0 {
		// Only Pings: answering is the whole point, a commit would cost an
		// fsync for nothing, unless the last commit failed: then one small
		// commit tells whether the disk works again.
		var err error
		if o.failing.Load() != nil {
			_, err = o.commit(nil, nil, nil)
			o.noteCommit(err)
		}
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	seqs, err := o.commit(acks, tails, atts)
	o.noteCommit(err)
	if err != nil {
		o.log.Error("commit failed", "events", len(tails), "acks", len(acks), "err", err)
	}
	if err == nil && len(acks) > 0 {
		// Before the replies, so a caller that drained the queue sees the
		// file small; its acks are already durable either way.
		o.maybeCompact()
	}
	for _, r := range batch {
		res := result{err: err}
		if err == nil {
			res.seqs, seqs = seqs[:len(r.tails):len(r.tails)], seqs[len(r.tails):]
		}
		r.done <- res
	}
	if err == nil && len(tails) > 0 {
		select {
		case o.notify <- struct{}{}:
		default:
		}
	}
	if err == nil {
		// After the replies: this may cost an fsync nobody should wait for.
		o.afterCommit()
	}
}

// commit runs acks and appends in one transaction, making room as the
// package doc describes. It returns the seqs given to tails. atts is nil or
// parallel to tails.
func (o *Outbox) commit(acks []uint64, tails, atts [][]byte) ([]uint64, error) {
	if o.pressure && len(tails) > 0 && o.st.depth > 0 {
		// The last commit found the disk full. Make room first, in a commit
		// of its own: a transaction cannot reuse the pages it frees, so
		// dropping in the same one as the new events would need the very
		// space that is missing.
		force := max(1, o.st.depth/8)
		o.log.Warn("disk full; dropping oldest records to make room", "count", force)
		if _, err := o.update(acks, nil, nil, force); err != nil {
			if isNoSpace(err) && o.releaseReserve() {
				_, err = o.update(acks, nil, nil, force)
			}
			if err != nil {
				return nil, err
			}
		}
		acks = nil
	}
	released := false
	for attempt := 0; ; attempt++ {
		seqs, err := o.update(acks, tails, atts, 0)
		switch {
		case err == nil:
			o.pressure = false
			return seqs, nil
		case isNoSpace(err):
			o.noSpace.Add(1)
			if !released && o.releaseReserve() {
				released = true
				o.checkSpace() // the bound follows what is left
				continue
			}
			o.pressure = true
			return nil, err
		case !errors.Is(err, berrors.ErrMaxSizeReached) || attempt >= 8 || (o.st.depth == 0 && attempt > 0):
			return nil, err
		}
		o.boundHits.Add(1)
		// The file is at its bound: free pages in a commit of their own (a
		// transaction cannot reuse the pages it frees), then try again.
		drop := max(1, o.st.depth/4) << attempt
		o.log.Warn("database file at its bound; dropping oldest records", "count", min(drop, o.st.depth))
		if _, derr := o.update(acks, nil, nil, drop); derr == nil {
			acks = nil
		} else if isNoSpace(derr) && !released && o.releaseReserve() {
			released = true
		} else if !errors.Is(derr, berrors.ErrMaxSizeReached) {
			return nil, derr
		}
	}
}

// update is one write transaction; o.st changes only if it commits.
func (o *Outbox) update(acks []uint64, tails, atts [][]byte, force int) ([]uint64, error) {
	if o.db == nil {
		return nil, errNotOpen
	}
	st := o.st
	var seqs []uint64
	var vals [][]byte
	skip := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
		recs, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketMeta)
		recs.FillPercent = 1 // keys only ever grow: pack pages full
		att := tx.Bucket(bucketAttach)
		if att == nil && atts != nil {
			var err error
			if att, err = tx.CreateBucket(bucketAttach); err != nil {
				return err
			}
		}
		if att != nil {
			att.FillPercent = 1
		}
		for _, seq := range acks {
			k := seqKey(seq)
			if v := recs.Get(k); v != nil {
				st.depth--
				st.payload -= int64(len(v))
				if err := recs.Delete(k); err != nil {
					return err
				}
				if err := deleteAttachment(att, k, &st); err != nil {
					return err
				}
			}
		}
		vals = o.encode(vals[:0], st.next, tails)
		need := int64(0)
		for _, v := range vals {
			need += int64(len(v)) + recordOverhead
		}
		for _, a := range atts {
			need += int64(len(a))
		}
		budget := o.budget.Load()
		if force > 0 || (len(tails) > 0 && st.usage()+need > budget) {
			const overflowReserve = 512 // the overflow event itself
			// Drop an eighth of the budget beyond what is needed, so a full
			// outbox raises one overflow event per many appends, not one each.
			d, err := dropOldest(recs, att, &st, budget-budget/8-need-overflowReserve, force)
			if err != nil {
				return err
			}
			if n := d.n; n > 0 {
				st.dropped += uint64(n)
				ev := o.selfEvent(wire.KindOutboxOverflow, d.attrs())
				first, last := d.ranges[0][0], d.ranges[len(d.ranges)-1][1]
				tail, err := tailOf(*ev)
				if err != nil {
					return err
				}
				o.log.Warn("outbox full; dropped oldest events", "dropped", d.lost, "first_seq", first, "last_seq", last)
				tails = append([][]byte{tail}, tails...)
				if atts != nil {
					atts = append([][]byte{nil}, atts...)
				}
				vals = o.encode(vals[:0], st.next, tails)
				skip = 1 // the overflow event's seq is not the caller's
			}
		}
		if len(vals) > 0 && st.next+uint64(len(vals)) >= o.reserved {
			if err := o.reserve(st.next + uint64(len(vals))); err != nil {
				return err
			}
		}
		for i, v := range vals {
			if err := recs.Put(seqKey(st.next), v); err != nil {
				return err
			}
			if atts != nil && len(atts[i]) > 0 {
				if err := att.Put(seqKey(st.next), atts[i]); err != nil {
					return err
				}
				st.payload += int64(len(atts[i]))
			}
			if st.depth == 0 {
				st.oldest = eventTime(v)
			}
			st.depth++
			st.payload += int64(len(v))
			seqs = append(seqs, st.next)
			st.next++
		}
		if st.depth > 0 && (len(acks) > 0 || skip > 0) {
			_, v := recs.Cursor().First()
			st.oldest = eventTime(v)
		}
		if err := meta.Put(keyNextSeq, seqKey(st.next)); err != nil {
			return err
		}
		if o.opt.FailCommit != nil {
			if err := o.opt.FailCommit(); err != nil {
				return err
			}
		}
		return meta.Put(keyDropped, seqKey(st.dropped))
	})
	if err != nil {
		return nil, err
	}
	o.commits.Add(1)
	o.mu.Lock()
	o.st = st
	o.mu.Unlock()
	return seqs[skip:], nil
}

// encode builds the stored values of tails numbered from next.
func (o *Outbox) encode(dst [][]byte, next uint64, tails [][]byte) [][]byte {
	for i, t := range tails {
		dst = append(dst, spliceJSON(make([]byte, 0, len(t)+80+len(o.opt.Gateway)), o.opt.Gateway, o.epoch, next+uint64(i), t))
	}
	return dst
}

// drop is what one dropOldest removed: n records, and the seqs lost with
// them as sorted, merged ranges. An outbox_overflow event among the dropped
// records is not lost silently: its own ranges are carried over, so the next
// overflow event reports them too. Neither is a storage_reset event: the
// station needs its seq to explain the gap before it, so resets keeps it
// (and those absorbed overflow events carried).
type drop struct {
	n      int
	lost   uint64 // events lost: the n records plus those absorbed overflow events reported
	ranges [][2]uint64
	resets []uint64 // seqs of dropped storage_reset events, any order, maybe repeated
}

// attrs are the overflow event's attributes: dropped, first_seq and
// last_seq always; ranges too when the lost seqs are not one run (events
// delivered between two absorbed drops); resets (sorted) when storage_reset
// events were among the lost. Every seq in first_seq..last_seq that the
// station has not received is lost.
func (d drop) attrs() map[string]any {
	a := map[string]any{"dropped": d.lost, "first_seq": d.ranges[0][0], "last_seq": d.ranges[len(d.ranges)-1][1]}
	if len(d.ranges) > 1 {
		a["ranges"] = d.ranges
	}
	if len(d.resets) > 0 {
		rs := slices.Clone(d.resets)
		slices.Sort(rs)
		a["resets"] = slices.Compact(rs)
	}
	return a
}

// add records seqs first..last as lost, merging adjacent runs.
func (d *drop) add(first, last uint64) {
	i := len(d.ranges)
	for i > 0 && d.ranges[i-1][0] > first {
		i--
	}
	d.ranges = slices.Insert(d.ranges, i, [2]uint64{first, last})
	merged := d.ranges[:1]
	for _, r := range d.ranges[1:] {
		if top := &merged[len(merged)-1]; r[0] <= top[1]+1 {
			top[1] = max(top[1], r[1])
		} else {
			merged = append(merged, r)
		}
	}
	d.ranges = merged
}

// overflowKind is how an outbox_overflow record starts its kind field; the
// outbox encodes records itself, so the field's form is fixed, and a quote
// inside any string value is escaped, so it cannot appear there.
var overflowKind = []byte(`"kind":"` + wire.KindOutboxOverflow + `"`)

// resetKind is the same for a storage_reset record.
var resetKind = []byte(`"kind":"` + wire.KindStorageReset + `"`)

// dropOldest deletes records from the front until usage is at most target
// and at least force records are gone.
func dropOldest(recs, att *bolt.Bucket, st *state, target int64, force int) (d drop, err error) {
	var keys [][]byte
	c := recs.Cursor()
	runFirst, runLast := uint64(0), uint64(0)
	for k, v := c.First(); k != nil && (st.usage() > target || d.n < force); k, v = c.Next() {
		seq, _ := u64(k)
		if runFirst != 0 && seq != runLast+1 {
			d.add(runFirst, runLast)
			runFirst = 0
		}
		if runFirst == 0 {
			runFirst = seq
		}
		runLast = seq
		switch {
		case bytes.Contains(v, overflowKind):
			d.lost += absorb(&d, v)
		case bytes.Contains(v, resetKind) && isReset(v):
			d.resets = append(d.resets, seq)
		}
		d.n++
		d.lost++
		st.depth--
		st.payload -= int64(len(v))
		if att != nil {
			st.payload -= int64(len(att.Get(k)))
		}
		keys = append(keys, k)
	}
	if runFirst != 0 {
		d.add(runFirst, runLast)
	}
	for _, k := range keys {
		if err := recs.Delete(k); err != nil {
			return drop{}, err
		}
		if att != nil {
			if err := att.Delete(k); err != nil {
				return drop{}, err
			}
		}
	}
	if st.depth == 0 {
		st.oldest = time.Time{}
	}
	return d, nil
}

// deleteAttachment removes the attachment of record k, if any, and its bytes
// from st.payload. att may be nil (a file from before attachments).
func deleteAttachment(att *bolt.Bucket, k []byte, st *state) error {
	if att == nil {
		return nil
	}
	if a := att.Get(k); a != nil {
		st.payload -= int64(len(a))
		return att.Delete(k)
	}
	return nil
}

// isReset confirms by parsing what resetKind suggested: record v is a
// storage_reset event.
func isReset(v []byte) bool {
	var ev struct {
		Kind string `json:"kind"`
	}
	return json.Unmarshal(v, &ev) == nil && ev.Kind == wire.KindStorageReset
}

// absorb adds the ranges and resets an overflow record reported to d and
// returns how many events it reported lost. A record that does not parse
// adds nothing: its own seq is still reported as lost.
func absorb(d *drop, v []byte) uint64 {
	var ev struct {
		Attrs struct {
			Dropped uint64      `json:"dropped"`
			First   uint64      `json:"first_seq"`
			Last    uint64      `json:"last_seq"`
			Ranges  [][2]uint64 `json:"ranges"`
			Resets  []uint64    `json:"resets"`
		} `json:"attrs"`
	}
	if json.Unmarshal(v, &ev) != nil || ev.Attrs.First == 0 || ev.Attrs.Last < ev.Attrs.First {
		return 0
	}
	for _, r := range ev.Attrs.Resets {
		if r >= 1 {
			d.resets = append(d.resets, r)
		}
	}
	rs := ev.Attrs.Ranges
	if len(rs) == 0 {
		rs = [][2]uint64{{ev.Attrs.First, ev.Attrs.Last}}
	}
	for _, r := range rs {
		if r[0] >= 1 && r[0] <= r[1] {
			d.add(r[0], r[1])
		}
	}
	return ev.Attrs.Dropped
}

// maybeCompact rebuilds the file when the queue is empty and the file is
// larger than it needs to be. Failure is logged and leaves the old file.
func (o *Outbox) maybeCompact() {
	if o.st.depth != 0 {
		return
	}
	fi, err := os.Stat(o.path)
	if err != nil || fi.Size() <= o.opt.CompactAbove {
		return
	}
	// A compaction hands the file's blocks back to the file system. On a
	// tight one they would go to other files at once and the outbox could
	// not grow again: keep them unless the disk could hold the file twice.
	if _, avail, err := o.opt.statfs(filepath.Dir(o.path)); err == nil && avail < allocated(o.path) {
		return
	}
	if err := o.compact(); err != nil {
		o.log.Error("compaction failed", "err", err)
	}
}

func (o *Outbox) compact() error {
	tmp := o.path + ".compact"
	if err := buildCompact(tmp, o.bo, o.st.next, o.st.dropped, o.epoch, !o.opt.NoSync); err != nil {
		return fmt.Errorf("build %s: %w", tmp, err)
	}
	o.dbMu.Lock()
	defer o.dbMu.Unlock()
	if err := o.db.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close for compaction: %w", err)
	}
	o.db = nil
	err := os.Rename(tmp, o.path)
	if err == nil && !o.opt.NoSync {
		err = durable.SyncDir(filepath.Dir(o.path))
	}
	// Reopen whichever file is now in place: both are complete. If that
	// fails, the writer tries again before its next request (reopen).
	db, oerr := o.openDB()
	if oerr != nil {
		return errors.Join(err, fmt.Errorf("reopen after compaction: %w", oerr))
	}
	o.db = db
	if err != nil {
		return err
	}
	o.log.Info("compacted the drained outbox")
	return nil
}

// reopenRetry is how often the writer tries to reopen a database that a
// compaction left closed, when no request makes it try sooner.
const reopenRetry = time.Second

// errNotOpen is what calls get while the database could not be reopened
// after a compaction; the writer keeps trying.
var errNotOpen = errors.New("outbox database not open (reopening after compaction failed; retrying)")

// closedErr is Peek's error for a nil database: closed, or not reopened yet.
func (o *Outbox) closedErr() error {
	select {
	case <-o.closing:
		return ErrClosed
	default:
		return errNotOpen
	}
}

// reopen opens the database again when a compaction left it closed. The
// file in place is complete either way (the old or the compacted one).
func (o *Outbox) reopen() error {
	if o.db != nil {
		return nil
	}
	db, err := o.openDB()
	if err != nil {
		err = fmt.Errorf("reopen outbox after compaction: %w", err)
		o.noteCommit(err)
		return err
	}
	o.dbMu.Lock()
	o.db = db
	o.dbMu.Unlock()
	o.log.Info("outbox database reopened")
	return nil
}

func (o *Outbox) openDB() (*bolt.DB, error) {
	if o.opt.reopenHook != nil {
		if err := o.opt.reopenHook(); err != nil {
			return nil, err
		}
	}
	return bolt.Open(o.path, 0o600, o.bo)
}

// noteCommit records the outcome of a write commit for Ping.
func (o *Outbox) noteCommit(err error) {
	if err == nil {
		o.failing.Store(nil)
		return
	}
	o.failing.Store(&err)
}

// afterCommit is the writer's housekeeping after a successful commit: the
// seq reservation is moved early (so a full disk met on the way does not
// fail the commit that reaches it), and the file system is measured again
// every spaceCheckEvery.
func (o *Outbox) afterCommit() {
	if o.reserved-o.st.next < reserveBlock/2 {
		if err := o.reserve(o.st.next); err != nil {
			if !o.softResErr {
				o.log.Warn("cannot move the seq reservation ahead yet; will retry", "err", err)
			}
			o.softResErr = true
		} else {
			o.softResErr = false
		}
	}
	if o.opt.Now().Sub(o.spaceChecked) >= spaceCheckEvery || !o.reserveHeld && o.opt.Now().Sub(o.spaceChecked) >= time.Second {
		o.checkSpace()
	}
}
