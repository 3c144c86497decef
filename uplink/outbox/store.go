package outbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/antt-gateway/antt/uplink/durable"
	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Layout of the database file.
var (
	bucketRecords = []byte("records") // key: big-endian seq, value: event JSON
	bucketMeta    = []byte("meta")
	// bucketAttach holds a record's attachment (a camera snapshot) under the
	// record's key; written, dropped and acked in the same transaction as
	// the record. Files from before attachments lack it until a write needs it.
	bucketAttach = []byte("attachments")
	keyNextSeq   = []byte("next_seq") // big-endian uint64: the seq the next event gets
	keyDropped   = []byte("dropped")  // big-endian uint64: records dropped by overflow, ever
	// keyEpoch holds the epoch (16 hexadecimal digits) of the seq sequence
	// the counter belongs to; files from before epochs get one at Open.
	keyEpoch = []byte("epoch")
)

// recordOverhead approximates what bbolt spends per record besides the
// value: the 16-byte leaf element header and the 8-byte key.
const recordOverhead = 24

// reserveBlock is how far ahead of the counter the sidecar reservation moves.
const reserveBlock = 1 << 16

// lockTimeout bounds the wait for the file lock, so a second process gets a
// clear error instead of hanging.
const lockTimeout = time.Second

// ErrLocked is returned (wrapped) when another process holds the database.
var ErrLocked = errors.New("outbox database is locked by another process (is the gateway running?)")

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func u64(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// damageError marks a failure that means the file is not a usable outbox,
// as opposed to one that says nothing about the file (a lock, permissions).
type damageError struct{ reason string }

func (e *damageError) Error() string { return "damaged: " + e.reason }

func damaged(format string, a ...any) error { return &damageError{fmt.Sprintf(format, a...)} }

// bbolt's meta page, read without mapping the file. The layout is
// internal/common.Meta behind a 16-byte page header, native byte order.
const (
	pageHeaderSize = 16
	metaSize       = 64
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	defaultPage    = 4096
)

type diskMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

func parseMeta(b []byte) (diskMeta, error) {
	if len(b) < metaSize {
		return diskMeta{}, fmt.Errorf("meta page short")
	}
	ne := binary.NativeEndian
	if ne.Uint32(b[0:]) != boltMagic {
		return diskMeta{}, fmt.Errorf("bad magic")
	}
	if ne.Uint32(b[4:]) != boltVersion {
		return diskMeta{}, fmt.Errorf("unsupported version %d", ne.Uint32(b[4:]))
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return diskMeta{}, fmt.Errorf("meta checksum mismatch")
	}
	m := diskMeta{pageSize: ne.Uint32(b[8:]), root: ne.Uint64(b[16:]), freelist: ne.Uint64(b[32:]), pgid: ne.Uint64(b[40:]), txid: ne.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<16 || m.pageSize&(m.pageSize-1) != 0 {
		return diskMeta{}, fmt.Errorf("implausible page size %d", m.pageSize)
	}
	return m, nil
}

// checkFile reads the two meta pages the way bbolt chooses between them and
// makes sure the file is long enough for the pages the chosen one claims.
// bbolt maps the file beyond its end, so a truncated file would otherwise
// crash the process with SIGBUS on first access instead of failing cleanly.
func checkFile(f io.ReaderAt, size int64) error {
	if size < 2*defaultPage {
		return damaged("file too short (%d bytes)", size)
	}
	buf := make([]byte, metaSize)
	read := func(off int64) (diskMeta, error) {
		if _, err := f.ReadAt(buf, off+pageHeaderSize); err != nil {
			return diskMeta{}, err
		}
		return parseMeta(buf)
	}
	m0, err0 := read(0)
	ps := int64(defaultPage)
	if err0 == nil {
		ps = int64(m0.pageSize)
	}
	m1, err1 := read(ps)
	var m diskMeta
	switch {
	case err0 != nil && err1 != nil:
		return damaged("both meta pages invalid: %v; %v", err0, err1)
	case err0 != nil:
		m = m1
	case err1 != nil:
		m = m0
	case m1.txid > m0.txid:
		m = m1
	default:
		m = m0
	}
	if need := int64(m.pgid) * int64(m.pageSize); m.pgid < 2 || need > size || need <= 0 {
		return damaged("file is %d bytes but its meta page needs %d pages of %d bytes", size, m.pgid, m.pageSize)
	}
	if err := walkPages(f, m); err != nil {
		return damaged("%v", err)
	}
	return nil
}

// state is what the writer knows about the queue; it mirrors the file and is
// only changed after a successful commit.
type state struct {
	next    uint64 // seq the next record gets
	dropped uint64
	depth   int
	payload int64 // sum of value lengths, attachments included
	oldest  time.Time
	epoch   string // "" in a file from before epochs
}

func (s *state) usage() int64 { return s.payload + int64(s.depth)*recordOverhead }

// verify runs every check Open makes on an opened file and returns the
// queue's state. Any failure is damage.
func verify(db *bolt.DB) (st state, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	err = db.View(func(tx *bolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = damaged("reading database panicked: %v", r)
			}
		}()
		for cerr := range tx.Check() {
			if err == nil {
				err = damaged("consistency check: %v", cerr)
			}
		}
		if err != nil {
			return err
		}
		meta, recs := tx.Bucket(bucketMeta), tx.Bucket(bucketRecords)
		if meta == nil || recs == nil {
			return damaged("bucket missing")
		}
		var ok bool
		if st.next, ok = u64(meta.Get(keyNextSeq)); !ok || st.next == 0 {
			return damaged("counter missing or invalid")
		}
		if st.dropped, ok = u64(meta.Get(keyDropped)); !ok {
			return damaged("dropped counter missing or invalid")
		}
		if e := meta.Get(keyEpoch); e != nil {
			if !wire.ValidEpoch(string(e)) {
				return damaged("epoch %q invalid", truncate(string(e), 40))
			}
			st.epoch = string(e)
		}
		var last uint64
		c := recs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, ok := u64(k)
			if !ok || seq == 0 || v == nil {
				return damaged("bad record key %x", k)
			}
			if st.depth == 0 {
				st.oldest = eventTime(v)
			}
			last = seq
			st.depth++
			st.payload += int64(len(v))
		}
		if last >= st.next {
			return damaged("record %d at or beyond the counter %d", last, st.next)
		}
		if att := tx.Bucket(bucketAttach); att != nil {
			c := att.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if _, ok := u64(k); !ok || v == nil || recs.Get(k) == nil {
					return damaged("attachment %x without its record", k)
				}
				st.payload += int64(len(v))
			}
		}
		return nil
	})
	return st, err
}

// eventTime reads the time of a stored event; zero if it has none.
func eventTime(v []byte) time.Time {
	var t struct {
		Time time.Time `json:"time"`
	}
	_ = json.Unmarshal(v, &t)
	return t.Time
}

// initDB creates the buckets of a fresh file with the counter at next and
// the given epoch.
func initDB(db *bolt.DB, next uint64, epoch string) error {
	return db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketRecords); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketAttach); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if m.Get(keyNextSeq) == nil {
			if err := m.Put(keyNextSeq, seqKey(max(next, 1))); err != nil {
				return err
			}
		}
		if m.Get(keyDropped) == nil {
			if err := m.Put(keyDropped, seqKey(0)); err != nil {
				return err
			}
		}
		return m.Put(keyEpoch, []byte(epoch))
	})
}

// openFile opens and verifies path. A nil error with a nil DB never happens.
// A *damageError means the file should be moved aside; any other error is
// returned to the caller of Open (a lock held elsewhere, permissions).
func openFile(path string, bo *bolt.Options) (*bolt.DB, state, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, state{}, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkFile(f, fi.Size())
	}
	f.Close()
	if err != nil {
		return nil, state{}, err
	}
	db, err := openRecover(path, bo)
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, state{}, fmt.Errorf("%w: %s", ErrLocked, path)
		case errors.Is(err, fs.ErrPermission):
			return nil, state{}, err
		}
		return nil, state{}, damaged("bbolt open: %v", err)
	}
	st, err := verify(db)
	if err != nil {
		db.Close()
		var de *damageError
		if !errors.As(err, &de) {
			err = damaged("%v", err)
		}
		return nil, state{}, err
	}
	return db, st, nil
}

// openRecover turns a bbolt panic on a damaged file into an error. The
// half-opened file's descriptor and lock are then lost until the process
// exits, which checkFile makes rare.
func openRecover(path string, bo *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("panicked: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, bo)
}

// moveAside renames a damaged file out of the way, never over another one.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	to := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	return to, durable.SyncDir(filepath.Dir(path))
}

// Sidecar seq reservation: one decimal number and a newline, then (since
// epochs) a second line "epoch E". A sidecar of the first form is read as
// having no epoch.

func readReservation(path string) (uint64, bool, error) {
	v, _, ok, err := readSidecar(path)
	return v, ok, err
}

// readSidecar reads the reservation and the epoch; ok reports that the file
// exists (even when it does not parse).
func readSidecar(path string) (res uint64, epoch string, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	res, epoch, err = parseSidecar(b)
	return res, epoch, true, err
}

func parseReservation(b []byte) (uint64, error) {
	v, _, err := parseSidecar(b)
	return v, err
}

// parseSidecar parses both forms of the sidecar. A damaged epoch line fails
// the whole file: half a sidecar is not trusted.
func parseSidecar(b []byte) (uint64, string, error) {
	first, rest, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s := strings.TrimSpace(first)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("seq reservation: %q is not a number", truncate(s, 40))
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return v, "", nil
	}
	e, ok := strings.CutPrefix(rest, "epoch ")
	if !ok || !wire.ValidEpoch(e) {
		return 0, "", fmt.Errorf("seq reservation: second line %q is not \"epoch\" and 1-32 lower-case letters or digits", truncate(rest, 40))
	}
	return v, e, nil
}

// formatSidecar is the sidecar's content for reservation res and epoch.
func formatSidecar(res uint64, epoch string) []byte {
	return fmt.Appendf(nil, "%d\nepoch %s\n", res, epoch)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, both complete.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if sync {
		return durable.SyncDir(filepath.Dir(path))
	}
	return nil
}

// buildCompact writes a fresh database at dst holding only the counters and
// the epoch.
func buildCompact(dst string, bo *bolt.Options, next, dropped uint64, epoch string, sync bool) error {
	os.Remove(dst)
	db, err := bolt.Open(dst, 0o600, bo)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket(bucketRecords); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketAttach); err != nil {
			return err
		}
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := m.Put(keyNextSeq, seqKey(next)); err != nil {
			return err
		}
		if err := m.Put(keyEpoch, []byte(epoch)); err != nil {
			return err
		}
		return m.Put(keyDropped, seqKey(dropped))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil && sync {
		// bbolt fdatasyncs its commits; this makes the file's own metadata
		// durable before the rename publishes it.
		var f *os.File
		if f, err = os.Open(dst); err == nil {
			err = f.Sync()
			f.Close()
		}
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// jsonPrefix is how json.Marshal starts an Event whose Seq is 0 and ID empty.
// Appenders marshal off the writer goroutine with these placeholders; the
// writer then splices in the real seq and id.
var jsonPrefix = []byte(`{"seq":0,"id":""`)

// spliceJSON writes the event whose JSON after seq, id and epoch is tail,
// in the field order json.Marshal uses for wire.Event. The epoch needs no
// escaping: it is lower-case letters and digits (wire.ValidEpoch).
func spliceJSON(dst []byte, gw, epoch string, seq uint64, tail []byte) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"id":"`...)
	dst = append(dst, gw...)
	dst = append(dst, '/')
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, '"')
	if epoch != "" {
		dst = append(dst, `,"epoch":"`...)
		dst = append(dst, epoch...)
		dst = append(dst, '"')
	}
	return append(dst, tail...)
}

// tailOf marshals e with placeholder seq and id and no epoch, and returns
// what follows them.
func tailOf(e wire.Event) ([]byte, error) {
	e.Seq, e.ID, e.Epoch = 0, "", ""
	b, err := json.Marshal(&e)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, jsonPrefix) {
		return nil, fmt.Errorf("unexpected event encoding %.30q", b)
	}
	return b[len(jsonPrefix):], nil
}
