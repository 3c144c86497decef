package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/antt-gateway/antt/uplink/wire"
)

// ErrInvalid is wrapped by the error of a payload that can never be stored;
// sending it again would not help.
var ErrInvalid = errors.New("invalid payload")

// ErrClosed is returned for a request submitted after Close.
var ErrClosed = errors.New("store closed")

// ErrReadOnly is returned for a write to a store opened read-only.
var ErrReadOnly = errors.New("store opened read-only")

// ErrLocked is wrapped by Open's error when another process (a running
// station) holds the file.
var ErrLocked = errors.New("store in use by another process (is the station running? stop it first)")

// MaxSnapshotBytes bounds one snapshot. It equals the most a gateway sends
// (device/camera/snapshot.DefaultMaxBytes; a test checks they agree).
const MaxSnapshotBytes = 4 << 20

// MaxEventBytes bounds one event's JSON, far below the broker's packet
// size (which a snapshot needs): the largest event a gateway's outbox
// takes (64 KiB, with 100 bytes to spare) plus room for the seq, id and
// epoch it adds. A larger event is refused as invalid.
const MaxEventBytes = 64<<10 + 1<<10

// Defaults of Options, sized for a commune of about 40 sites (see
// docs/decisions.md): snapshots of about 250 kB, 50 a site a day, fill
// 16 GiB in about 34 days.
const (
	DefaultSnapshotMaxBytes int64 = 16 << 30
	DefaultSnapshotMaxAge         = 31 * 24 * time.Hour
	DefaultQueueLen               = 8192
	DefaultMaxBatch               = 4096
	// DefaultQueueBytes and DefaultMaxBatchBytes bound the payload bytes
	// queued and committed at once: 8,192 requests of 4 MiB snapshots
	// would be 32 GiB of memory, and a batch of 4,096 of them 16 GiB of
	// dirty pages in one transaction.
	DefaultQueueBytes    = 64 << 20
	DefaultMaxBatchBytes = 16 << 20
	DefaultLockTimeout   = 2 * time.Second
	// DefaultGather and DefaultGatherBatch: see Options.Gather. A cap of
	// 1,024 (a gateway's whole window) gave one draining gateway larger
	// commits but cost the 200-gateway ingest 13 → 17 µs of CPU per event
	// (docs/performance.md, H8c), probably because the writer takes the
	// requests one wake-up each while it gathers.
	DefaultGather      = time.Millisecond
	DefaultGatherBatch = 256
)

// Options tunes a Store. The zero value means the defaults above.
type Options struct {
	// ReadOnly opens the file without writing (for "station dump"). A file
	// of the previous layout cannot be read this way: it must be migrated
	// by opening it for writing once.
	ReadOnly bool
	// LockTimeout is how long Open waits for another process to release
	// the file before it fails with ErrLocked.
	LockTimeout time.Duration
	// QueueLen bounds the requests waiting for the writer; Submit blocks
	// beyond it. MaxBatch bounds the requests of one commit.
	QueueLen, MaxBatch int
	// QueueBytes bounds the payload bytes of the requests waiting for the
	// writer or in its commit; Submit blocks beyond it (a request larger
	// than the bound waits until nothing else is queued). MaxBatchBytes
	// ends a batch once its payloads reach it.
	QueueBytes, MaxBatchBytes int
	// Gather is how long the writer waits for more requests before a
	// commit when it has fewer than GatherBatch and its last commit, of
	// more than one request, ended less than Gather ago (a gateway is
	// draining): every commit costs its page
	// writes and fsync whatever it holds, and a gateway's window of 1,024
	// events arrives a few dozen at a time, so commits of a few dozen
	// events spent most of the writer's CPU on that fixed cost. An event
	// after a quiet spell, or from one caller at a time, is committed at
	// once. Zero means DefaultGather
	// and DefaultGatherBatch; a negative Gather never waits.
	Gather      time.Duration
	GatherBatch int
	// CommitDelay is slept before every commit. Tests use it to make the
	// store slow; leave it zero otherwise.
	CommitDelay time.Duration
	// SnapshotMaxBytes and SnapshotMaxAge bound the stored snapshots: the
	// oldest are deleted beyond either. SnapshotMaxBytes must hold at least
	// one snapshot of MaxSnapshotBytes.
	SnapshotMaxBytes int64
	SnapshotMaxAge   time.Duration
	Logger           *slog.Logger
}

func (o *Options) fill() error {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.Gather == 0 {
		o.Gather = DefaultGather
	}
	if o.GatherBatch <= 0 {
		o.GatherBatch = DefaultGatherBatch
	}
	if o.SnapshotMaxBytes == 0 {
		o.SnapshotMaxBytes = DefaultSnapshotMaxBytes
	}
	if o.SnapshotMaxAge == 0 {
		o.SnapshotMaxAge = DefaultSnapshotMaxAge
	}
	if o.SnapshotMaxBytes < MaxSnapshotBytes {
		return fmt.Errorf("snapshot bound %d bytes: want at least %d (one snapshot)", o.SnapshotMaxBytes, MaxSnapshotBytes)
	}
	if o.SnapshotMaxAge < 0 || o.CommitDelay < 0 {
		return errors.New("snapshot age and commit delay must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Status says what the store did with a payload.
type Status int

// What the store did.
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

// Gap is a range of seqs, First to Last inclusive, of one gateway's epoch
// that the station has not received.
type Gap struct {
	Gateway   string    `json:"gateway"`
	Epoch     string    `json:"epoch,omitempty"`
	First     uint64    `json:"first"`
	Last      uint64    `json:"last"`
	Explained bool      `json:"explained"`
	Reason    string    `json:"reason,omitempty"`
	Opened    time.Time `json:"opened"`
}

// Len is the number of missing seqs.
func (g Gap) Len() uint64 { return g.Last - g.First + 1 }

// Kinds of Notice.
const (
	// NoticeStorageReplaced: a gateway sends under a new epoch, starting
	// again from seq 1 (its storage was replaced).
	NoticeStorageReplaced = "storage_replaced"
	// NoticeEpochStarted: a gateway that sent without an epoch (older
	// firmware) sends under one, its seqs going on from the last one: the
	// new epoch continues the old, with no gap from 1.
	NoticeEpochStarted = "epoch_started"
)

// Notice is something the station learnt about a gateway, kept durably.
type Notice struct {
	Gateway    string    `json:"gateway"`
	Kind       string    `json:"kind"`
	OldEpoch   string    `json:"old_epoch"`
	OldLastSeq uint64    `json:"old_last_seq"`
	NewEpoch   string    `json:"new_epoch"`
	Time       time.Time `json:"time"`
}

// Result tells what the store did with one payload.
type Result struct {
	// Snapshot is set for a snapshot (Event is then zero but for Seq and
	// Epoch, the epoch it was attributed to).
	Snapshot bool
	// Event is the decoded event. Its Attrs are decoded only for the kinds
	// whose attrs the store reads (outbox_overflow, storage_reset): for
	// others they are nil here and whole in the stored JSON (Store.Event).
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
	// Notice is set when this event started a new epoch of its gateway.
	Notice *Notice
	// Arrival is the arrival number of the stored record (0 for a
	// Duplicate).
	Arrival uint64
}

// Counters sums up one gateway (or all of them), over its epochs.
type Counters struct {
	Received           uint64 `json:"received"`
	Duplicates         uint64 `json:"duplicates"`
	GapsExplained      int    `json:"gaps_explained"`
	GapsUnexplained    int    `json:"gaps_unexplained"`
	MissingExplained   uint64 `json:"missing_explained"`
	MissingUnexplained uint64 `json:"missing_unexplained"`
	// MaxSeq is the highest seq of any epoch.
	MaxSeq        uint64 `json:"max_seq"`
	Epochs        int    `json:"epochs"`
	Snapshots     uint64 `json:"snapshots"`
	SnapshotBytes uint64 `json:"snapshot_bytes"`
}

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options
	log  *slog.Logger
	now  func() time.Time

	// The writer side: Submit sends on queue under qmu's read lock; Close
	// takes the write lock, marks closed and closes queue.
	qmu     sync.RWMutex
	closed  bool
	queue   chan *request
	done    chan struct{}
	commits atomic.Uint64
	written atomic.Uint64
	// qbytes is the payload bytes submitted and not yet answered, under
	// bmu; Submit waits on bfree while it is at Options.QueueBytes.
	bmu    sync.Mutex
	bfree  *sync.Cond
	qbytes int
	// batchSeen, set by tests, gets the payload bytes of every batch.
	batchSeen func(bytes int)
	// hook, set by tests, runs inside every write transaction before its
	// commit; an error fails the commit.
	hook atomic.Pointer[func() error]

	chMu    sync.Mutex
	changed chan struct{}

	mu    sync.Mutex
	state map[string]*GatewayState

	outq outageQueue // outages.go
}

// File layout (version 2). Top-level buckets:
//
//	meta       version, arrival (last number), snap_bytes, snap_count
//	gateways   one bucket per gateway id: "current" (epoch key of the
//	           latest stored event) and bucket "epochs", one bucket per
//	           epoch key (epochKey) holding buckets events (seq -> JSON),
//	           gaps, explain and keys max_seq, received, duplicates
//	arrivals   arrival number -> JSON Record (without the event's bytes)
//	snaps      snapKey -> JPEG
//	snapmeta   snapKey -> JSON snapMeta
//	snapage    arrival number -> snapKey, oldest first, for retention
//
// The previous layout (package eventlog) had only "gateways", with the
// events, gaps, explain buckets and counters directly in each gateway's
// bucket.
var (
	bktMeta     = []byte("meta")
	bktRoot     = []byte("gateways")
	bktArrivals = []byte("arrivals")
	bktSnaps    = []byte("snaps")
	bktSnapMeta = []byte("snapmeta")
	bktSnapAge  = []byte("snapage")
	bktEpochs   = []byte("epochs")
	bktEvents   = []byte("events")
	bktGaps     = []byte("gaps")
	bktExplain  = []byte("explain")

	keyVersion   = []byte("version")
	keyArrival   = []byte("arrival")
	keySnapBytes = []byte("snap_bytes")
	keySnapCount = []byte("snap_count")
	keyCurrent   = []byte("current")
	keyMax       = []byte("max_seq")
	keyRecv      = []byte("received")
	keyDup       = []byte("duplicates")
)

const layoutVersion = 2

// epochKey names an epoch's bucket: bbolt needs a non-empty name, and "-"
// is no valid epoch.
func epochKey(epoch string) []byte {
	if epoch == "" {
		return []byte("-")
	}
	return []byte(epoch)
}

func epochOfKey(k []byte) string {
	if string(k) == "-" {
		return ""
	}
	return string(k)
}

func snapKey(gw, epoch string, seq uint64) []byte {
	k := make([]byte, 0, len(gw)+len(epoch)+10)
	k = append(append(append(k, gw...), '/'), epoch...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

func be(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Open opens (creating if needed, migrating the previous layout) the store
// at path. Unless read-only, it starts the writer; Close stops it.
func Open(path string, o Options) (*Store, error) {
	if err := o.fill(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w (waited %v for its lock)", path, ErrLocked, o.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, opts: o, log: o.Logger, now: time.Now, changed: make(chan struct{}), state: map[string]*GatewayState{}}
	s.bfree = sync.NewCond(&s.bmu)
	if o.ReadOnly {
		err = db.View(checkLayout)
	} else {
		err = db.Update(s.initLayout)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if !o.ReadOnly {
		s.queue = make(chan *request, o.QueueLen)
		s.done = make(chan struct{})
		go s.run()
	}
	return s, nil
}

func checkLayout(tx *bolt.Tx) error {
	meta := tx.Bucket(bktMeta)
	if meta == nil {
		if tx.Bucket(bktRoot) != nil {
			return errors.New("the file has the previous layout: start the station once to migrate it")
		}
		return errors.New("not a station store (no meta bucket)")
	}
	if v := getU64(meta, keyVersion); v != layoutVersion {
		return fmt.Errorf("layout version %d, want %d", v, layoutVersion)
	}
	return nil
}

// repairArrival sets the arrival counter to the last arrival stored when
// it is behind: a file migrated before migrate flushed its counter holds
// arrivals the counter does not count, and the next record would
// overwrite the first of them.
func repairArrival(tx *bolt.Tx) error {
	arr := tx.Bucket(bktArrivals)
	if arr == nil {
		return nil
	}
	k, _ := arr.Cursor().Last()
	if len(k) != 8 {
		return nil
	}
	last, meta := binary.BigEndian.Uint64(k), tx.Bucket(bktMeta)
	if getU64(meta, keyArrival) >= last {
		return nil
	}
	return meta.Put(keyArrival, be(last))
}

// initLayout creates the buckets of a new file, migrates one of the
// previous layout, and checks the version of any other.
func (s *Store) initLayout(tx *bolt.Tx) error {
	if tx.Bucket(bktMeta) != nil {
		if err := checkLayout(tx); err != nil {
			return err
		}
		return repairArrival(tx)
	}
	meta, err := tx.CreateBucket(bktMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(keyVersion, be(layoutVersion)); err != nil {
		return err
	}
	for _, name := range [][]byte{bktRoot, bktArrivals, bktSnaps, bktSnapMeta, bktSnapAge} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return s.migrate(tx)
}

// migrate turns every gateway bucket of the previous layout into epoch ""
// of that gateway, and gives its events arrival numbers in (gateway, seq)
// order. bbolt moves the buckets without copying them.
func (s *Store) migrate(tx *bolt.Tx) error {
	root := tx.Bucket(bktRoot)
	var gws [][]byte
	if err := root.ForEachBucket(func(k []byte) error {
		gws = append(gws, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	w := &txn{s: s, tx: tx, now: s.now().UTC()}
	var moved, events int
	for _, name := range gws {
		g := root.Bucket(name)
		if g.Bucket(bktEpochs) != nil {
			continue
		}
		epochs, err := g.CreateBucket(bktEpochs)
		if err != nil {
			return err
		}
		eb, err := epochs.CreateBucket(epochKey(""))
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bktEvents, bktGaps, bktExplain} {
			if g.Bucket(b) == nil {
				if _, err := eb.CreateBucket(b); err != nil {
					return err
				}
				continue
			}
			if err := g.MoveBucket(b, eb); err != nil {
				return fmt.Errorf("migrate %s/%s: %w", name, b, err)
			}
		}
		for _, k := range [][]byte{keyMax, keyRecv, keyDup} {
			if v := g.Get(k); v != nil {
				if err := eb.Put(k, bytes.Clone(v)); err != nil {
					return err
				}
				if err := g.Delete(k); err != nil {
					return err
				}
			}
		}
		if err := g.Put(keyCurrent, epochKey("")); err != nil {
			return err
		}
		var seqs []uint64
		if err := eb.Bucket(bktEvents).ForEach(func(k, _ []byte) error {
			seqs = append(seqs, binary.BigEndian.Uint64(k))
			return nil
		}); err != nil {
			return err
		}
		for _, seq := range seqs {
			if _, err := w.record(Record{Type: RecordEvent, Gateway: string(name), Seq: seq}); err != nil {
				return err
			}
		}
		moved++
		events += len(seqs)
	}
	// The arrival counter is written by flush, as after every commit: left
	// out, the console saw none of the migrated events and the next record
	// took arrival 1 over the first of them.
	if err := w.flush(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if moved > 0 {
		s.log.Info("store migrated from the previous layout", "gateways", moved, "events", events)
	}
	return nil
}

// Close stops taking requests, commits those already queued (their done
// is called), stops the writer and closes the file.
func (s *Store) Close() error {
	if s.queue != nil {
		s.qmu.Lock()
		already := s.closed
		if !already {
			s.closed = true
			close(s.queue)
		}
		s.qmu.Unlock()
		if already {
			return nil
		}
		<-s.done
		s.stopOutages() // after the writer: its last commit may note a camera
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

// WriterStats counts the writer's work since Open.
type WriterStats struct {
	Commits  uint64 // transactions committed (or failed)
	Requests uint64 // requests they carried
}

// Stats reports the writer's counts; Requests/Commits is the mean batch.
func (s *Store) Stats() WriterStats {
	return WriterStats{Commits: s.commits.Load(), Requests: s.written.Load()}
}
