package record

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/antt-gateway/antt/uplink/durable"
	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// IndexFile is the name of the clip index (bbolt) inside the store's Dir.
const IndexFile = "clips.db"

// KindClipLost is the event kind the gateway raises when evidence (a clip
// to upload at once) was evicted before it was uploaded; its attrs are the
// clip's (Info.Attrs) and "lost", why. Source is the camera.
const KindClipLost = wire.KindClipLost

// KindRecordingFailed is the event kind the gateway raises when its clip
// store cannot be opened (a failing card, a broken index): it runs on
// without recording. Attrs: "error". Source is the gateway.
const KindRecordingFailed = wire.KindRecordingFailed

// Reasons a recording was made (wire.ClipAttrReason).
const (
	ReasonEvent      = "event"
	ReasonAlarm      = "alarm"
	ReasonContinuous = "continuous"
)

// Upload policies (wire.ClipAttrUpload).
const (
	UploadAuto      = "auto"
	UploadOnRequest = "on_request"
)

// Info describes one recording in the store.
type Info struct {
	ID     string    `json:"id"`
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	// Duration is the media in whole fragments; Bytes the file's length
	// (also only whole fragments once Complete).
	Duration time.Duration `json:"duration"`
	Bytes    int64         `json:"bytes"`
	// SHA256 is the hex hash of the whole file; empty until Complete.
	SHA256 string `json:"sha256,omitempty"`
	// Reason is ReasonEvent, ReasonAlarm or ReasonContinuous; ForSeq the
	// outbox seq of the causing event (0 for continuous segments, or while
	// that event is not stored yet); Upload UploadAuto or UploadOnRequest.
	Reason string `json:"reason"`
	ForSeq uint64 `json:"for_seq,omitempty"`
	Upload string `json:"upload"`
	// Frames counts the video frames in whole fragments.
	Frames int `json:"frames"`
	// Complete is false while the clip is being written.
	Complete bool `json:"complete"`
	// Recovered is set on a clip the store completed at Open after the
	// process died while writing it: it holds the fragments fsynced before.
	Recovered bool `json:"recovered,omitempty"`
	// Uploaded is set once the clip is wholly at the station (MarkUploaded):
	// evidence off-site, no longer kept before other clips.
	Uploaded bool `json:"uploaded,omitempty"`
	// Announced is set once the clip's KindClip event is stored in the
	// outbox (MarkAnnounced); Unannounced lists complete clips without it.
	Announced bool `json:"announced,omitempty"`
}

// ClipInfo is the wire form of i, for clip.get replies.
func (i Info) ClipInfo() wire.ClipInfo {
	return wire.ClipInfo{ID: i.ID, Camera: i.Camera, Start: i.Start.UTC().Format(time.RFC3339Nano),
		Duration: i.Duration.Milliseconds(), Bytes: i.Bytes, SHA256: i.SHA256}
}

// Attrs are the wire.ClipAttr* attributes of the KindClip event of i.
func (i Info) Attrs() map[string]any {
	return map[string]any{
		wire.ClipAttrID:       i.ID,
		wire.ClipAttrDuration: i.Duration.Milliseconds(),
		wire.ClipAttrBytes:    i.Bytes,
		wire.ClipAttrSHA256:   i.SHA256,
		wire.ClipAttrStart:    i.Start.UTC().Format(time.RFC3339Nano),
		wire.ClipAttrForSeq:   i.ForSeq,
		wire.ClipAttrUpload:   i.Upload,
		wire.ClipAttrReason:   i.Reason,
	}
}

// Errors of the store.
var (
	ErrNotFound    = errors.New("record: no such clip")
	ErrIncomplete  = errors.New("record: clip still being written")
	ErrStoreFull   = errors.New("record: no room for recordings (recording.max_bytes or the data partition)")
	ErrStoreClosed = errors.New("record: store closed")
)

// StoreOptions configures a Store.
type StoreOptions struct {
	// Dir holds the clip files and the index; made if missing.
	Dir string
	// MaxBytes bounds the clip files' total length (required).
	MaxBytes int64
	// MaxAge removes continuous segments older than this (0: no limit).
	// Event clips are evidence: they go only when room is needed.
	MaxAge time.Duration
	// KeepFree is how much of the partition must stay free for others,
	// measured before each fragment: the outbox's room to grow to its
	// bound and its reserve, plus a margin (see device/record.go).
	KeepFree func() int64
	// Location is the day of BytesToday (time.Local when nil).
	Location *time.Location
	Logger   *slog.Logger
	// Statfs replaces the file system measure (tests): free bytes of dir.
	Statfs func(dir string) (avail int64, err error)
	// Now replaces time.Now (tests).
	Now func() time.Time
	// OnEvidenceLost is told of every clip removed to make room while it
	// was to be uploaded at once (UploadAuto) and was not yet (Uploaded):
	// evidence that never left the site. It is called without the store's
	// lock held, from the goroutine that needed the room.
	OnEvidenceLost func(Info)
}

// Store keeps recordings on the data partition. Files are fragmented MP4,
// fsynced at every fragment; the index (bbolt, IndexFile) records each
// file's synced length after that fsync, so after a power cut Open cuts a
// clip back to its last whole fragment and completes it (Recovered). The
// files' total stays within MaxBytes and the partition keeps KeepFree
// free: the oldest continuous segments go first, then the oldest clips.
// Safe for concurrent use.
type Store struct {
	opt StoreOptions
	log *slog.Logger
	db  *bolt.DB

	mu        sync.Mutex
	infos     map[string]*entry
	total     int64 // bytes of every file (complete and being written)
	recovered []Info
	closed    bool
	day       string
	dayBytes  int64
	evicted   uint64
	swept     time.Time // last max_age sweep
	// evidenceLost counts evidence evicted before upload; lost holds
	// those not yet told to OnEvidenceLost (see unlockAndReport).
	evidenceLost uint64
	lost         []Info
	full         uint64 // ErrStoreFull answers
}

type entry struct {
	Info
	w   *Clip  // non-nil while being written by this process
	seq uint64 // the index's sequence in the id: the order of recording
}

// newEntry makes the entry of in, its seq read from the id (clipID).
func newEntry(in Info) *entry {
	e := &entry{Info: in}
	if i := strings.LastIndexByte(in.ID, '-'); i >= 0 {
		e.seq, _ = strconv.ParseUint(in.ID[i+1:], 10, 64)
	}
	return e
}

// Eviction classes, lowest first: continuous segments, then clips kept on
// request (or evidence already uploaded), then evidence not yet uploaded.
func (e *entry) class() int {
	switch {
	case e.Reason == ReasonContinuous:
		return 0
	case e.Upload != UploadAuto || e.Uploaded:
		return 1
	}
	return 2
}

var (
	bucketClips = []byte("clips")
	bucketMeta  = []byte("meta")
	keyDay      = []byte("day")
	// keyAnnounced marks an index that keeps Info.Announced: an index
	// from before has its complete clips taken as announced.
	keyAnnounced = []byte("announced_v1")
)

type dayRecord struct {
	Day   string `json:"day"`
	Bytes int64  `json:"bytes"`
}

// OpenStore opens (or creates) the store in opt.Dir and recovers what a
// crash left: clips being written are cut to their last synced fragment and
// completed (see Recovered), files without an index entry are removed, and
// entries without a file are dropped.
func OpenStore(opt StoreOptions) (*Store, error) {
	if opt.Dir == "" || opt.MaxBytes <= 0 {
		return nil, errors.New("record: store needs a dir and max_bytes")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Location == nil {
		opt.Location = time.Local
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Statfs == nil {
		opt.Statfs = statfsAvail
	}
	if err := os.MkdirAll(opt.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("record: create %s: %w", opt.Dir, err)
	}
	db, err := bolt.Open(filepath.Join(opt.Dir, IndexFile), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("record: open index: %w", err)
	}
	s := &Store{opt: opt, log: opt.Logger, db: db, infos: make(map[string]*entry)}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func statfsAvail(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func (s *Store) path(id string) string { return filepath.Join(s.opt.Dir, id+".mp4") }

func (s *Store) load() error {
	var fix []Info
	var drop []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketClips)
		if err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := m.Get(keyDay); v != nil {
			var d dayRecord
			if json.Unmarshal(v, &d) == nil {
				s.day, s.dayBytes = d.Day, d.Bytes
			}
		}
		oldIndex := m.Get(keyAnnounced) == nil
		if oldIndex {
			if err := m.Put(keyAnnounced, []byte{1}); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			var in Info
			if err := json.Unmarshal(v, &in); err != nil || !wire.ValidClipID(string(k)) {
				drop = append(drop, string(k))
				return nil
			}
			if !in.Complete {
				fix = append(fix, in)
				return nil
			}
			in.Announced = in.Announced || oldIndex
			s.infos[in.ID] = newEntry(in)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("record: read index: %w", err)
	}
	for _, in := range fix {
		if err := s.recover(&in); err != nil {
			s.log.Warn("recording lost", "clip", in.ID, "err", err)
			drop = append(drop, in.ID)
			_ = os.Remove(s.path(in.ID))
			continue
		}
		s.infos[in.ID] = newEntry(in)
		s.recovered = append(s.recovered, in)
	}
	// Entries whose file is gone, files without an entry.
	for id := range s.infos {
		if fi, err := os.Stat(s.path(id)); err != nil || fi.Size() < s.infos[id].Bytes {
			s.log.Warn("recording missing or short; dropped from the index", "clip", id)
			delete(s.infos, id)
			drop = append(drop, id)
		}
	}
	if len(drop) > 0 || len(fix) > 0 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketClips)
			for _, id := range drop {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
			for _, in := range s.recovered {
				if err := putInfo(b, in); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("record: repair index: %w", err)
		}
	}
	ents, err := os.ReadDir(s.opt.Dir)
	if err != nil {
		return fmt.Errorf("record: list %s: %w", s.opt.Dir, err)
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".mp4")
		if !ok {
			continue
		}
		if _, known := s.infos[id]; !known {
			s.log.Warn("recording file not in the index; removed", "file", e.Name())
			_ = os.Remove(filepath.Join(s.opt.Dir, e.Name()))
		}
	}
	for _, e := range s.infos {
		s.total += e.Bytes
	}
	return nil
}

// recover cuts a clip being written at a crash back to its synced length
// and completes it.
func (s *Store) recover(in *Info) error {
	p := s.path(in.ID)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < in.Bytes {
		return fmt.Errorf("file holds %d bytes, index says %d were synced", fi.Size(), in.Bytes)
	}
	if in.Frames == 0 {
		return errors.New("no whole fragment")
	}
	if err := f.Truncate(in.Bytes); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, in.Bytes)); err != nil {
		return fmt.Errorf("hash: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	in.SHA256, in.Complete, in.Recovered = hex.EncodeToString(h.Sum(nil)), true, true
	return nil
}

func putInfo(b *bolt.Bucket, in Info) error {
	v, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return b.Put([]byte(in.ID), v)
}

// Recovered lists the clips Open completed after a crash, so the gateway
// can announce them (their KindClip events were never sent).
func (s *Store) Recovered() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recovered)
}

// Info returns one recording's description (complete or being written).
func (s *Store) Info(id string) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.infos[id]
	if !ok {
		return Info{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return e.Info, nil
}

// List returns the complete recordings of camera (every camera when "")
// whose media overlaps [from, to] (a zero bound is open), oldest first.
func (s *Store) List(camera string, from, to time.Time) ([]Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStoreClosed
	}
	var out []Info
	for _, e := range s.infos {
		if !e.Complete || (camera != "" && e.Camera != camera) {
			continue
		}
		end := e.Start.Add(e.Duration)
		if (!from.IsZero() && end.Before(from)) || (!to.IsZero() && e.Start.After(to)) {
			continue
		}
		out = append(out, e.Info)
	}
	slices.SortFunc(out, func(a, b Info) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// ClipReader reads one complete recording. The file may be removed from
// the store (its bound) while open: the reader keeps its bytes until Close.
type ClipReader struct {
	f    *os.File
	size int64
}

// ReadAt reads the file's bytes at off.
func (r *ClipReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	if rem := r.size - off; int64(len(p)) > rem {
		n, err := r.f.ReadAt(p[:rem], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return r.f.ReadAt(p, off)
}

// Size is the file's length (Info.Bytes).
func (r *ClipReader) Size() int64 { return r.size }

// Close releases the file.
func (r *ClipReader) Close() error { return r.f.Close() }

// Open opens a complete recording for reading.
func (s *Store) Open(id string) (*ClipReader, Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.infos[id]
	switch {
	case s.closed:
		return nil, Info{}, ErrStoreClosed
	case !ok:
		return nil, Info{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	case !e.Complete:
		return nil, e.Info, fmt.Errorf("%w: %q", ErrIncomplete, id)
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		return nil, e.Info, fmt.Errorf("record: open clip %s: %w", id, err)
	}
	return &ClipReader{f: f, size: e.Bytes}, e.Info, nil
}

// StoreStats are the store's figures for status and telemetry.
type StoreStats struct {
	Clips    int   `json:"clips"`
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	// BytesToday counts bytes written since the start of the day (in
	// Location): the SD card's wear.
	BytesToday int64 `json:"bytes_today"`
	// Evicted counts recordings removed to keep within the bounds;
	// EvidenceLost those of them that were to be uploaded and were not.
	Evicted      uint64 `json:"evicted"`
	EvidenceLost uint64 `json:"evidence_lost,omitempty"`
	// Full counts the writes and new clips refused for want of room
	// (ErrStoreFull: nothing complete left to remove): a clip cut short
	// or not started, while the outbox keeps its room.
	Full uint64 `json:"full,omitempty"`
	// Error says why the gateway records nothing (the store could not be
	// opened); the other figures are then zero.
	Error string `json:"error,omitempty"`
}

// Stats reports the store's figures.
func (s *Store) Stats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollDayLocked()
	return StoreStats{Clips: len(s.infos), Bytes: s.total, MaxBytes: s.opt.MaxBytes, BytesToday: s.dayBytes, Evicted: s.evicted,
		EvidenceLost: s.evidenceLost, Full: s.full}
}

func (s *Store) rollDayLocked() {
	if d := s.opt.Now().In(s.opt.Location).Format(time.DateOnly); d != s.day {
		s.day, s.dayBytes = d, 0
	}
}

// Close closes the index. Clips still being written are left as a crash
// would leave them (completed by the next Open); finish them first. A nil
// Store (recording off) closes as a no-op.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.db.Close()
}

// CreateOptions describe a new recording.
type CreateOptions struct {
	Camera string
	Start  time.Time
	Reason string
	Upload string
	ForSeq uint64
}

// Create starts a recording: its index entry (incomplete) is committed
// before the file exists, so a crash leaves nothing unknown behind.
func (s *Store) Create(o CreateOptions) (*Clip, error) {
	s.mu.Lock()
	defer s.unlockAndReport()
	if s.closed {
		return nil, ErrStoreClosed
	}
	if err := s.makeRoomLocked(0, nil); err != nil {
		return nil, err
	}
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClips)
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		id = clipID(o.Camera, o.Start, n)
		return putInfo(b, Info{ID: id, Camera: o.Camera, Start: o.Start, Reason: o.Reason, Upload: o.Upload, ForSeq: o.ForSeq})
	})
	if err != nil {
		return nil, fmt.Errorf("record: index new clip: %w", err)
	}
	f, err := os.OpenFile(s.path(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		_ = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketClips).Delete([]byte(id)) })
		return nil, fmt.Errorf("record: create clip file: %w", err)
	}
	// The file's name must survive a power cut as its fsynced bytes do.
	if err := durable.SyncDir(s.opt.Dir); err != nil {
		s.log.Warn("recordings directory not synced", "err", err)
	}
	c := &Clip{s: s, f: f, h: sha256.New()}
	e := newEntry(Info{ID: id, Camera: o.Camera, Start: o.Start, Reason: o.Reason, Upload: o.Upload, ForSeq: o.ForSeq})
	e.w, c.e = c, e
	s.infos[id] = e
	return c, nil
}

// unlockAndReport releases s.mu and then tells OnEvidenceLost of the
// evidence evicted meanwhile (outside the lock: it may call the store).
func (s *Store) unlockAndReport() {
	lost := s.lost
	s.lost = nil
	s.mu.Unlock()
	if s.opt.OnEvidenceLost == nil {
		return
	}
	for _, in := range lost {
		s.opt.OnEvidenceLost(in)
	}
}

// clipID is camera-YYYYMMDDtHHMMSSz-N: sortable by camera and time,
// unique by the index's sequence, valid per wire.ValidClipID.
func clipID(camera string, start time.Time, n uint64) string {
	var b strings.Builder
	for _, r := range strings.ToLower(camera) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	cam := strings.TrimLeft(b.String(), "-_")
	if cam == "" {
		cam = "cam"
	}
	return fmt.Sprintf("%s-%s-%d", cam, start.UTC().Format("20060102t150405z"), n)
}

// makeRoomLocked removes recordings until need more bytes fit within
// MaxBytes and the partition keeps KeepFree: continuous segments first,
// then clips kept on request, and evidence not uploaded yet last; the
// oldest recorded first within each (by the index's sequence, not by the
// clock, which may have jumped). keep is never removed. It fails with ErrStoreFull when only
// recordings being written are left.
func (s *Store) makeRoomLocked(need int64, keep *entry) error {
	now := s.opt.Now()
	var victims []*entry
	if s.opt.MaxAge > 0 && now.Sub(s.swept) >= time.Minute {
		s.swept = now
		for _, e := range s.infos {
			if e.Complete && e.Reason == ReasonContinuous && now.Sub(e.Start.Add(e.Duration)) > s.opt.MaxAge {
				victims = append(victims, e)
			}
		}
		s.removeLocked(victims)
	}
	for {
		over := s.total + need - s.opt.MaxBytes
		if kf := s.opt.KeepFree; kf != nil {
			avail, err := s.opt.Statfs(s.opt.Dir)
			if err != nil {
				return fmt.Errorf("record: measure free space: %w", err)
			}
			over = max(over, kf()+need-avail)
		}
		if over <= 0 {
			return nil
		}
		victims = victims[:0]
		for _, e := range s.infos {
			if e.Complete && e != keep {
				victims = append(victims, e)
			}
		}
		if len(victims) == 0 {
			s.full++
			return ErrStoreFull
		}
		slices.SortFunc(victims, func(a, b *entry) int {
			return cmp.Or(cmp.Compare(a.class(), b.class()), cmp.Compare(a.seq, b.seq))
		})
		var freed int64
		n := 0
		for n < len(victims) && freed < over {
			freed += victims[n].Bytes
			n++
		}
		s.removeLocked(victims[:n])
	}
}

func (s *Store) removeLocked(es []*entry) { s.dropLocked(es, true) }

// dropLocked removes es from the index and the disk; evicted counts them
// as removed to make room (else they were empty clips).
func (s *Store) dropLocked(es []*entry, evicted bool) {
	if len(es) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClips)
		for _, e := range es {
			if err := b.Delete([]byte(e.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("recordings not removed from the index", "err", err)
		return
	}
	for _, e := range es {
		if err := os.Remove(s.path(e.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("recording file not removed", "clip", e.ID, "err", err)
		}
		delete(s.infos, e.ID)
		s.total -= e.Bytes
		if !evicted {
			continue
		}
		s.evicted++
		if e.class() == 2 {
			s.evidenceLost++
			s.lost = append(s.lost, e.Info)
			s.log.Warn("evidence removed to make room before it was uploaded", "clip", e.ID, "reason", e.Reason, "bytes", e.Bytes)
		} else {
			s.log.Info("recording removed to make room", "clip", e.ID, "reason", e.Reason, "bytes", e.Bytes)
		}
	}
}

// Clip is a recording being written. Write appends file bytes; Sync,
// called at each fragment boundary, makes them durable and records them in
// the index; Finish completes the clip. One goroutine owns a Clip.
type Clip struct {
	s        *Store
	e        *entry
	f        *os.File
	h        hashWriter
	written  int64 // bytes written to f
	synced   int64
	finished bool
	// broken is set when a write, fsync or index update failed (a full or
	// failing card): the file's tail is not trusted and Finish cuts the
	// clip back to its last synced fragment.
	broken bool
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// ID is the clip's id.
func (c *Clip) ID() string { return c.e.ID }

// Write appends p to the file. Room is made (or refused with ErrStoreFull)
// before the bytes are written.
func (c *Clip) Write(p []byte) (int, error) {
	if c.finished {
		return 0, errors.New("record: write to a finished clip")
	}
	if c.broken {
		return 0, fmt.Errorf("record: clip %s was cut short by an earlier failure", c.e.ID)
	}
	s := c.s
	s.mu.Lock()
	err := s.makeRoomLocked(int64(len(p)), c.e)
	s.unlockAndReport()
	if err != nil {
		return 0, err
	}
	n, err := c.f.Write(p)
	c.h.Write(p[:n])
	c.written += int64(n)
	s.mu.Lock()
	s.total += int64(n)
	s.rollDayLocked()
	s.dayBytes += int64(n)
	s.mu.Unlock()
	if err != nil {
		c.broken = true
		return n, fmt.Errorf("record: write clip %s: %w", c.e.ID, err)
	}
	return n, nil
}

// Sync fsyncs what was written and records it in the index with the media
// it holds: after a crash the clip is kept up to here.
func (c *Clip) Sync(frames int, duration time.Duration) error {
	if c.broken {
		return fmt.Errorf("record: clip %s was cut short by an earlier failure", c.e.ID)
	}
	if err := c.f.Sync(); err != nil {
		c.broken = true
		return fmt.Errorf("record: sync clip %s: %w", c.e.ID, err)
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	in := c.e.Info
	in.Bytes, in.Frames, in.Duration = c.written, frames, duration
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putInfo(tx.Bucket(bucketClips), in); err != nil {
			return err
		}
		v, _ := json.Marshal(dayRecord{Day: s.day, Bytes: s.dayBytes})
		return tx.Bucket(bucketMeta).Put(keyDay, v)
	}); err != nil {
		c.broken = true
		return fmt.Errorf("record: index clip %s: %w", c.e.ID, err)
	}
	c.e.Info, c.synced = in, c.written
	return nil
}

// SetMeta records what the clip became while it was written: its reason
// and upload policy (a later alarm makes an event clip an alarm clip) and
// the seq of the causing event once it is known (it may be stored after
// the clip began; 0 leaves it).
func (c *Clip) SetMeta(reason, upload string, forSeq uint64) {
	c.s.mu.Lock()
	c.e.Reason, c.e.Upload = reason, upload
	if forSeq != 0 {
		c.e.ForSeq = forSeq
	}
	c.s.mu.Unlock()
}

// Finish completes the clip after a last Sync: its hash is fixed and it
// becomes readable (List, Open). A clip with no whole fragment is removed
// and ErrNotFound returned. After a failed write or sync (a full card),
// the clip is what its last successful Sync recorded, whatever frames and
// duration say.
func (c *Clip) Finish(frames int, duration time.Duration) (Info, error) {
	if c.finished {
		return Info{}, errors.New("record: clip finished twice")
	}
	c.finished = true
	s := c.s
	if c.broken {
		return c.finishBroken()
	}
	if frames == 0 {
		c.f.Close()
		s.mu.Lock()
		c.e.Bytes = c.written // what the file holds (an init segment at most)
		s.dropLocked([]*entry{c.e}, false)
		s.mu.Unlock()
		return Info{}, fmt.Errorf("%w: %s holds no frame", ErrNotFound, c.e.ID)
	}
	if err := c.Sync(frames, duration); err != nil {
		s.log.Warn("recording's last fragment not synced; keeping the fragments before it", "clip", c.e.ID, "err", err)
		return c.finishBroken()
	}
	if err := c.f.Close(); err != nil {
		return Info{}, fmt.Errorf("record: close clip %s: %w", c.e.ID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := c.e.Info
	in.SHA256, in.Complete = hex.EncodeToString(c.h.Sum(nil)), true
	if err := s.db.Update(func(tx *bolt.Tx) error { return putInfo(tx.Bucket(bucketClips), in) }); err != nil {
		return Info{}, fmt.Errorf("record: complete clip %s: %w", c.e.ID, err)
	}
	c.e.Info, c.e.w = in, nil
	return in, nil
}

// MarkUploaded records that clip id is wholly at the station: the
// uploader calls it when the last chunk is acknowledged. Evidence that is
// off-site is evicted like any clip kept on request.
func (s *Store) MarkUploaded(id string) error {
	return s.mark(id, func(in *Info) { in.Uploaded = true })
}

// MarkAnnounced records that clip id's KindClip event is stored in the
// outbox, so it is not announced again at the next start (Unannounced).
func (s *Store) MarkAnnounced(id string) error {
	return s.mark(id, func(in *Info) { in.Announced = true })
}

func (s *Store) mark(id string, set func(*Info)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStoreClosed
	}
	e, ok := s.infos[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	in := e.Info
	set(&in)
	if in == e.Info {
		return nil
	}
	if e.w == nil { // a clip being written is put by its next Sync
		if err := s.db.Update(func(tx *bolt.Tx) error { return putInfo(tx.Bucket(bucketClips), in) }); err != nil {
			return fmt.Errorf("record: index clip %s: %w", id, err)
		}
	}
	e.Info = in
	return nil
}

// Unannounced lists the complete clips whose KindClip event was never
// stored (the process died between the two, or a crash cut the clip:
// those are Recovered too), oldest first: the gateway announces them at
// start.
func (s *Store) Unannounced() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	var es []*entry
	for _, e := range s.infos {
		if e.Complete && !e.Announced {
			es = append(es, e)
		}
	}
	slices.SortFunc(es, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Info, len(es))
	for i, e := range es {
		out[i] = e.Info
	}
	return out
}

// finishBroken completes a clip whose tail failed: the file is cut to its
// last synced length, hashed from the disk and completed with the frames
// that Sync recorded; with none, the clip is removed.
func (c *Clip) finishBroken() (Info, error) {
	s := c.s
	defer c.f.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	in := c.e.Info // as of the last successful Sync
	s.total -= c.written - c.synced
	c.written = c.synced
	if in.Frames == 0 || c.synced == 0 {
		c.e.Bytes = c.synced
		s.dropLocked([]*entry{c.e}, false)
		return Info{}, fmt.Errorf("%w: %s holds no whole fragment", ErrNotFound, c.e.ID)
	}
	in.Bytes = c.synced
	if err := s.recover(&in); err != nil {
		c.e.Bytes = c.synced
		s.dropLocked([]*entry{c.e}, false)
		return Info{}, fmt.Errorf("record: cut clip %s back to its last fragment: %w", c.e.ID, err)
	}
	in.Recovered = false // cut while this process ran: its clip event tells
	if err := s.db.Update(func(tx *bolt.Tx) error { return putInfo(tx.Bucket(bucketClips), in) }); err != nil {
		// The index keeps the synced length: the next Open completes it.
		return Info{}, fmt.Errorf("record: complete clip %s: %w", c.e.ID, err)
	}
	c.e.Info, c.e.w = in, nil
	return in, nil
}
