// Package clips is the station's store of recorded clips: the MP4 files
// gateways upload in chunks over MQTT (uplink/wire/clip.go), kept under
// DATA/clips/{gateway}/{clip}.mp4, with an index in DATA/clips/index.db
// (bbolt) that records, per clip, what its KindClip event announced
// (length, SHA-256, camera, start) and which byte ranges are held.
//
// A chunk is written at its offset and fsynced, then the index commit
// (bbolt, fsynced) records its range; only then is it acknowledged. A power
// cut between the two leaves bytes on disk the index does not claim; the
// gateway sends that chunk again and it is written again over itself. A
// clip is complete when its ranges cover [0, length) and the file's SHA-256
// is the announced one; a clip whose bytes do not hash right is emptied
// and must be fetched again.
//
// A chunk for a clip never announced, beyond the announced length, larger
// than wire.ClipChunkMax, or overlapping held bytes with different content
// is refused with an error wrapping ErrRefused (it can never be stored;
// the broker acknowledges and logs it).
//
// Retention (retention.go): clips are kept within Options.MaxBytes of
// bytes held (a clip with any byte held counts its announced length) and
// Options.MaxAge. Entries only announced (a continuous segment nobody
// fetched) take no disk and never count for bytes; they are bounded by
// Options.MaxAnnounced per gateway (its oldest go) and
// Options.MaxAnnouncedAge. Running totals tell an announcement or a chunk
// whether a bound is passed; only then is the index read. Above MaxBytes
// the clips of the gateway holding the most bytes go, least recently
// stored first, but clips asked for before armed-mode alarms' evidence
// (upload "auto"), and neither a clip being uploaded (partial, a chunk
// within Uploading; of a gateway's, its uploadingPerGateway most recently
// touched) nor the newest announced is deleted for bytes. No clip is
// announced longer than MaxClipBytes.
package clips

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/durable"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Defaults of Options.
const (
	DefaultMaxBytes = 64 << 30            // 64 GiB of clips
	DefaultMaxAge   = 90 * 24 * time.Hour // a quarter: cases are usually settled by then
)

// MaxClipBytes bounds a clip's announced length: a minute of the main
// stream at 16 Mbit/s is 120 MB. Retention sums announced lengths; a
// length no clip has (a compromised gateway's 2^62) would make the sum
// wrap and the byte bound stop holding.
const MaxClipBytes = 4 << 30

// Dir is the clip store's directory inside the station's data directory.
const Dir = "clips"

// ErrRefused is wrapped by the error for a chunk or announcement that can
// never be stored (sending it again would not help).
var ErrRefused = errors.New("clip refused")

// ErrNotFound is returned by Open for a clip the store has no complete
// file of.
var ErrNotFound = errors.New("clip not found or not complete")

// State of a clip at the station.
type State string

// The states a clip is shown in.
const (
	Missing  State = "missing"  // announced, no byte held (or never announced)
	Partial  State = "partial"  // some bytes held
	Complete State = "complete" // every byte held and the SHA-256 matches
)

// Info is what a KindClip event announces about a clip.
type Info struct {
	Gateway  string    `json:"gateway"`
	ID       string    `json:"clip"`
	Camera   string    `json:"camera,omitempty"`
	Start    string    `json:"start,omitempty"`
	Duration int64     `json:"duration_ms,omitempty"`
	Bytes    int64     `json:"bytes"`
	SHA256   string    `json:"sha256"`
	Epoch    string    `json:"epoch,omitempty"`
	Seq      uint64    `json:"seq,omitempty"` // the clip event's seq
	Upload   string    `json:"upload,omitempty"`
	Added    time.Time `json:"added"`
}

// Status is a clip's state at the station.
type Status struct {
	Info
	State State      `json:"state"`
	Have  int64      `json:"have"`  // bytes held
	Next  int64      `json:"next"`  // end of the held bytes from offset 0: where a fetch resumes
	Spans [][2]int64 `json:"spans"` // held ranges [from, to), sorted, disjoint
	Done  time.Time  `json:"done,omitzero"`
	// Touched is when the last chunk was stored: a partial clip touched
	// within Uploading is being uploaded, and retention keeps it.
	Touched time.Time `json:"touched,omitzero"`
}

// Uploading is how long after its last chunk a partial clip counts as
// being uploaded: retention does not delete it meanwhile (a gateway
// retries a cut link within 30 s; an officer's fetch resumes at once).
const Uploading = 10 * time.Minute

// uploadingPerGateway bounds the partial clips of one gateway that count
// as being uploaded, its most recently touched: a gateway sends one clip
// at a time, and a compromised one sending a chunk now and then to each of
// many clips would otherwise keep them all past the store's bound.
const uploadingPerGateway = 4

// uploadingOf is the clips of l (keyed gateway/clip) that count as being
// uploaded at now.
func uploadingOf(l []Status, now time.Time) map[string]bool {
	per := map[string][]Status{}
	for _, st := range l {
		if st.State == Partial && now.Sub(st.Touched) < Uploading {
			per[st.Gateway] = append(per[st.Gateway], st)
		}
	}
	out := map[string]bool{}
	for _, p := range per {
		sort.SliceStable(p, func(i, j int) bool { return p[i].Touched.After(p[j].Touched) })
		for _, st := range p[:min(len(p), uploadingPerGateway)] {
			out[st.Gateway+"/"+st.ID] = true
		}
	}
	return out
}

// Options of Open.
type Options struct {
	MaxBytes int64         // 0: DefaultMaxBytes
	MaxAge   time.Duration // 0: DefaultMaxAge
	Logger   *slog.Logger
	Now      func() time.Time

	// MaxAnnounced bounds one gateway's entries only announced (0:
	// DefaultMaxAnnounced), MaxAnnouncedAge their age (0:
	// DefaultMaxAnnouncedAge).
	MaxAnnounced    int
	MaxAnnouncedAge time.Duration
}

// Store is the station's clip store. It is safe for concurrent use:
// chunks of one clip are written one at a time (a per-clip lock), chunks
// of different clips at once (their file fsyncs overlap; their index
// commits take turns); announcements and pruning are serialised
// on a store lock (but a gateway's pass over its own announced-only
// entries, which runs beside it), and pruning takes a clip's lock before
// deleting it.
type Store struct {
	dir  string
	db   *bolt.DB
	opts Options
	log  *slog.Logger

	mu sync.Mutex // announcements and pruning; taken before a clip's lock

	totMu sync.Mutex // guards tot; taken last
	tot   totals
	annMu sync.Mutex // deleteAnnounced's batches; after mu, before clips' locks

	clipMu sync.Mutex // guards clipLk
	clipLk map[string]*clipLock

	written, rewritten, resent atomic.Int64 // see WriteStats
}

// WriteStats counts, since Open, what Put did with the chunks it was
// given, so that "nothing is stored twice" is measured rather than
// inferred: a resend (a PUBACK lost in a link cut, an officer asking
// again) costs the station no disk write.
type WriteStats struct {
	// Written is the bytes written to clip files.
	Written int64 `json:"written"`
	// Rewritten is the part of Written that the index already held (a
	// chunk overlapping held bytes, written whole over the same bytes).
	// Chunks of one upload share one grid of offsets, so it stays 0
	// unless a resend starts at another offset.
	Rewritten int64 `json:"rewritten"`
	// Resent is the bytes of chunks received whole again and not
	// written (every byte already held).
	Resent int64 `json:"resent"`
}

// WriteStats reports the store's write counters.
func (s *Store) WriteStats() WriteStats {
	return WriteStats{Written: s.written.Load(), Rewritten: s.rewritten.Load(), Resent: s.resent.Load()}
}

// clipLock serialises the writes of one clip; refs counts its holders and
// waiters, so the map keeps only clips being written.
type clipLock struct {
	sync.Mutex
	refs int
}

// lockClip takes clip's lock; the returned func releases it.
func (s *Store) lockClip(gw, clip string) (unlock func()) {
	k := gw + "/" + clip
	s.clipMu.Lock()
	l := s.clipLk[k]
	if l == nil {
		l = &clipLock{}
		s.clipLk[k] = l
	}
	l.refs++
	s.clipMu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.clipMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.clipLk, k)
		}
		s.clipMu.Unlock()
	}
}

var bucket = []byte("clips")

// Open opens (creating) the clip store in dataDir/clips.
func Open(dataDir string, o Options) (*Store, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxAnnounced <= 0 {
		o.MaxAnnounced = DefaultMaxAnnounced
	}
	if o.MaxAnnouncedAge <= 0 {
		o.MaxAnnouncedAge = DefaultMaxAnnouncedAge
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dir := filepath.Join(dataDir, Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("clip store: create %s: %w", dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("clip store: open index: %w", err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("clip store: init index: %w", err)
	}
	s := &Store{dir: dir, db: db, opts: o, log: o.Logger, clipLk: map[string]*clipLock{}}
	if err := s.loadTotals(); err != nil {
		db.Close()
		return nil, fmt.Errorf("clip store: read index: %w", err)
	}
	return s, nil
}

// Close closes the index.
func (s *Store) Close() error { return s.db.Close() }

func key(gw, clip string) []byte { return []byte(gw + "/" + clip) }

// Path is where clip's file lives (whether or not it exists).
func (s *Store) Path(gw, clip string) string {
	return filepath.Join(s.dir, gw, clip+".mp4")
}

func checkNames(gw, clip string) error {
	if !wire.ValidID(gw) {
		return fmt.Errorf("%w: gateway id %.70q", ErrRefused, gw)
	}
	if !wire.ValidClipID(clip) {
		return fmt.Errorf("%w: clip id %.90q", ErrRefused, clip)
	}
	return nil
}

func get(tx *bolt.Tx, gw, clip string) (*Status, error) {
	v := tx.Bucket(bucket).Get(key(gw, clip))
	if v == nil {
		return nil, nil
	}
	st := &Status{}
	if err := json.Unmarshal(v, st); err != nil {
		return nil, fmt.Errorf("clip index entry %s/%s: %w", gw, clip, err)
	}
	return st, nil
}

func put(tx *bolt.Tx, st *Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put(key(st.Gateway, st.ID), b)
}

// Announce records a clip from its event. Announcing the same clip again
// is a no-op; the same id with another length or hash is refused (the
// first announcement stands). A new entry then applies retention if a
// bound is passed.
func (s *Store) Announce(in Info) error {
	if err := checkNames(in.Gateway, in.ID); err != nil {
		return err
	}
	if in.Bytes <= 0 || in.Bytes > MaxClipBytes {
		return fmt.Errorf("%w: clip %s/%s: announced length %d, want 1 to %d", ErrRefused, in.Gateway, in.ID, in.Bytes, int64(MaxClipBytes))
	}
	if h, err := hex.DecodeString(in.SHA256); err != nil || len(h) != sha256.Size {
		return fmt.Errorf("%w: clip %s/%s: sha256 %.80q is not 64 hex digits", ErrRefused, in.Gateway, in.ID, in.SHA256)
	}
	over, err := s.announceLocked(in)
	if over {
		// Past its bound of announced entries: the gateway's own pass,
		// without the store lock (other gateways' announcements go on).
		s.pruneAnnounced(in.Gateway)
	}
	return err
}

// announceLocked is Announce under the store lock; over is whether
// in.Gateway is past its bound of announced-only entries.
func (s *Store) announceLocked(in Info) (over bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Added.IsZero() {
		in.Added = s.opts.Now().UTC()
	}
	var added *Status
	err = s.db.Update(func(tx *bolt.Tx) error {
		old, err := get(tx, in.Gateway, in.ID)
		if err != nil {
			return err
		}
		if old != nil {
			if old.Bytes != in.Bytes || old.SHA256 != in.SHA256 {
				return fmt.Errorf("%w: clip %s/%s announced again with length %d sha256 %s (first: %d %s)",
					ErrRefused, in.Gateway, in.ID, in.Bytes, in.SHA256, old.Bytes, old.SHA256)
			}
			return nil
		}
		added = &Status{Info: in, State: Missing, Spans: [][2]int64{}}
		return put(tx, added)
	})
	if err != nil || added == nil {
		return false, err // a repeat changed nothing: no retention
	}
	s.account(nil, added)
	return s.pruneIfOver(in.Gateway), nil
}

// Status returns a clip's state; ok is false for a clip never announced.
func (s *Store) Status(gw, clip string) (st Status, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		p, err := get(tx, gw, clip)
		if p != nil {
			st, ok = *p, true
		}
		return err
	})
	return st, ok, err
}

// List returns every clip of gw ("" for all), oldest announced first.
func (s *Store) List(gw string) ([]Status, error) {
	var out []Status
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var st Status
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("clip index entry %s: %w", k, err)
			}
			if gw == "" || st.Gateway == gw {
				out = append(out, st)
			}
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Added.Before(out[j].Added) })
	return out, err
}

// Open opens a complete clip for reading.
func (s *Store) Open(gw, clip string) (*os.File, Status, error) {
	st, ok, err := s.Status(gw, clip)
	if err != nil {
		return nil, st, err
	}
	if !ok || st.State != Complete {
		return nil, st, fmt.Errorf("clip %s/%s: %w", gw, clip, ErrNotFound)
	}
	f, err := os.Open(s.Path(gw, clip))
	if err != nil {
		return nil, st, fmt.Errorf("open clip %s/%s: %w", gw, clip, err)
	}
	return f, st, nil
}

// Put stores one chunk: data at offset of clip. It returns once the bytes
// and the index are on disk. A chunk already held with the same bytes is
// accepted again (a resend after a lost PUBACK) without changing anything.
// A clip's first bytes count against MaxBytes: past it (and its slack)
// retention runs, once the chunk is stored.
func (s *Store) Put(gw, clip string, offset int64, data []byte) (Status, error) {
	st, err := s.putChunk(gw, clip, offset, data)
	if s.overBytes(s.opts.Now()) {
		s.mu.Lock()
		s.pruneIfOver("")
		s.mu.Unlock()
	}
	return st, err
}

// putChunk is Put under the clip's lock.
func (s *Store) putChunk(gw, clip string, offset int64, data []byte) (Status, error) {
	if err := checkNames(gw, clip); err != nil {
		return Status{}, err
	}
	if len(data) == 0 {
		return Status{}, fmt.Errorf("%w: clip %s/%s chunk at %d: empty", ErrRefused, gw, clip, offset)
	}
	if len(data) > wire.ClipChunkMax {
		return Status{}, fmt.Errorf("%w: clip %s/%s chunk at %d: %d bytes, more than %d", ErrRefused, gw, clip, offset, len(data), wire.ClipChunkMax)
	}
	defer s.lockClip(gw, clip)()
	var st *Status
	if err := s.db.View(func(tx *bolt.Tx) (err error) { st, err = get(tx, gw, clip); return err }); err != nil {
		return Status{}, err
	}
	if st == nil {
		return Status{}, fmt.Errorf("%w: chunk at %d for clip %s/%s, which no clip event announced", ErrRefused, offset, gw, clip)
	}
	end := offset + int64(len(data))
	if offset < 0 || offset > st.Bytes-int64(len(data)) { // not end > st.Bytes: end may overflow
		return *st, fmt.Errorf("%w: clip %s/%s chunk [%d,%d) beyond its announced length %d", ErrRefused, gw, clip, offset, end, st.Bytes)
	}
	f, err := s.openClipFile(gw, clip)
	if err != nil {
		return *st, err
	}
	defer f.Close()
	// Bytes already held must be the same bytes.
	for _, sp := range overlaps(st.Spans, offset, end) {
		held := make([]byte, sp[1]-sp[0])
		if _, err := f.ReadAt(held, sp[0]); err != nil {
			return *st, fmt.Errorf("clip %s/%s: read held bytes [%d,%d): %w", gw, clip, sp[0], sp[1], err)
		}
		if string(held) != string(data[sp[0]-offset:sp[1]-offset]) {
			return *st, fmt.Errorf("%w: clip %s/%s chunk [%d,%d) differs from the bytes held at [%d,%d)", ErrRefused, gw, clip, offset, end, sp[0], sp[1])
		}
	}
	spans := addSpan(st.Spans, offset, end)
	fresh := held(spans) - held(st.Spans)
	if fresh == 0 {
		s.resent.Add(int64(len(data)))
		return *st, nil // every byte already held
	}
	if _, err := f.WriteAt(data, offset); err != nil {
		return *st, fmt.Errorf("clip %s/%s: write [%d,%d): %w", gw, clip, offset, end, err)
	}
	s.written.Add(int64(len(data)))
	s.rewritten.Add(int64(len(data)) - fresh)
	if err := f.Sync(); err != nil {
		return *st, fmt.Errorf("clip %s/%s: fsync: %w", gw, clip, err)
	}
	was := *st // for the totals
	st.Spans = spans
	st.Have = held(spans)
	st.Next = next(spans)
	st.State = Partial
	if st.Have == st.Bytes {
		sum, err := hashFile(f, st.Bytes)
		if err != nil {
			return *st, fmt.Errorf("clip %s/%s: hash: %w", gw, clip, err)
		}
		if sum == st.SHA256 {
			st.State, st.Done = Complete, s.opts.Now().UTC()
		} else {
			s.log.Error("clip bytes do not match the announced SHA-256; emptied to be fetched again",
				"gateway", gw, "clip", clip, "sha256", sum, "announced", st.SHA256)
			st.Spans, st.Have, st.Next, st.State = [][2]int64{}, 0, 0, Missing
			if err := f.Truncate(0); err != nil {
				return *st, fmt.Errorf("clip %s/%s: empty after a hash mismatch: %w", gw, clip, err)
			}
		}
	}
	st.Touched = s.opts.Now().UTC()
	// Update, not Batch: Batch would wait up to its 10 ms delay for
	// company, a third of a lone gateway's throughput; the chunk's fsync,
	// the larger cost, already overlaps with other clips'.
	if err := s.db.Update(func(tx *bolt.Tx) error { return put(tx, st) }); err != nil {
		return *st, fmt.Errorf("clip %s/%s: index: %w", gw, clip, err)
	}
	s.account(&was, st)
	if st.State == Complete {
		// done: when the clip became available (cmd/station's event-to-clip
		// benchmark reads it).
		s.log.Info("clip complete", "gateway", gw, "clip", clip, "bytes", st.Bytes, "upload", st.Upload,
			"done", s.opts.Now().UTC().Format(time.RFC3339Nano))
	}
	return *st, nil
}

// openClipFile opens (creating) clip's file; a new file's directory entry
// (and a new gateway directory's) is fsynced, so a power cut cannot lose a
// file whose bytes the index claims.
func (s *Store) openClipFile(gw, clip string) (*os.File, error) {
	path := s.Path(gw, clip)
	gwDir := filepath.Dir(path)
	if _, err := os.Stat(gwDir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(gwDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("clip %s/%s: create directory: %w", gw, clip, err)
		}
		if err := durable.SyncDir(s.dir); err != nil {
			return nil, fmt.Errorf("clip %s/%s: fsync %s: %w", gw, clip, s.dir, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			if err = durable.SyncDir(gwDir); err != nil {
				f.Close()
				return nil, fmt.Errorf("clip %s/%s: fsync %s: %w", gw, clip, gwDir, err)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("clip %s/%s: open file: %w", gw, clip, err)
	}
	return f, nil
}

func hashFile(f *os.File, n int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, n)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// overlaps returns the parts of spans inside [from, to).
func overlaps(spans [][2]int64, from, to int64) [][2]int64 {
	var out [][2]int64
	for _, sp := range spans {
		a, b := max(sp[0], from), min(sp[1], to)
		if a < b {
			out = append(out, [2]int64{a, b})
		}
	}
	return out
}

// addSpan merges [from, to) into sorted disjoint spans.
func addSpan(spans [][2]int64, from, to int64) [][2]int64 {
	out := make([][2]int64, 0, len(spans)+1)
	placed := false
	for _, sp := range spans {
		switch {
		case sp[1] < from:
			out = append(out, sp)
		case sp[0] > to:
			if !placed {
				out = append(out, [2]int64{from, to})
				placed = true
			}
			out = append(out, sp)
		default:
			from, to = min(from, sp[0]), max(to, sp[1])
		}
	}
	if !placed {
		out = append(out, [2]int64{from, to})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func held(spans [][2]int64) (n int64) {
	for _, sp := range spans {
		n += sp[1] - sp[0]
	}
	return n
}

func next(spans [][2]int64) int64 {
	if len(spans) > 0 && spans[0][0] == 0 {
		return spans[0][1]
	}
	return 0
}
