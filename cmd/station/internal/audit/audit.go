// Package audit is the station's append-only, hash-chained audit log: who
// logged in (or failed to), who acknowledged, armed, disarmed, switched an
// output, opened or closed a live view, exported, or changed a user or a
// gateway, and when.
//
// The log is one file of JSON lines (DATA/audit.jsonl). Each entry carries
// its number (N, from 1, no gaps), the SHA-256 of the entry before it
// (Prev; 64 zeros for the first) and its own hash (Hash) over its other
// fields, so an entry edited, removed, inserted or moved breaks the chain
// at that entry. A sidecar file (audit.jsonl.head) holds the number and hash
// of the last entry, rewritten atomically after each append, so cutting
// entries off the end is found too. Verify names the first bad entry.
//
// What it promises: Append returns only after the entry is written and
// fsynced (one fsync per entry: audit entries come at human speed). Several
// processes may append to one log at once (the running station and the
// "station user" command): appends take an exclusive flock on the file and
// read the chain's end from the file under it. The chain proves the file
// was not changed by someone who cannot also recompute every later hash and
// the head; it is tamper-evidence against a careless or hurried edit, not
// against an attacker with write access and this package's source (only a
// copy kept elsewhere, or a signed head, would be).
package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FileName is the log's name in the station's data directory.
const FileName = "audit.jsonl"

// headSuffix names the sidecar holding the last entry's number and hash.
const headSuffix = ".head"

// maxLine bounds one entry; longer lines are damage, not entries.
const maxLine = 64 << 10

// zeroHash is the Prev of the first entry.
var zeroHash = strings.Repeat("0", 64)

// Actions recorded. Other packages may record others; these are the ones
// the station writes today.
const (
	Login        = "login"
	LoginFailed  = "login_failed"
	Logout       = "logout"
	Acknowledge  = "acknowledge"
	Arm          = "arm"
	Disarm       = "disarm"
	Output       = "output"
	LiveOpen     = "live_open"
	LiveClose    = "live_close"
	Export       = "export"
	ClipView     = "clip_view"
	UserAdd      = "user_add"
	UserPassword = "user_password"
	UserChange   = "user_change"
	UserRemove   = "user_remove"
	TokenAdd     = "token_add"
	TokenRevoke  = "token_revoke"
	GatewayAdd   = "gateway_add"
	GatewayEdit  = "gateway_change"
	GatewayDel   = "gateway_remove"
)

// Entry is one line of the log. Actor is who acted ("" for no one logged
// in, "cli:<os user>" for the command line); Target what was acted on (a
// user name, a camera, an event id); Gateway and Site let a site-limited
// reader be shown only its own entries.
type Entry struct {
	N       uint64            `json:"n"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Target  string            `json:"target,omitempty"`
	Gateway string            `json:"gateway,omitempty"`
	Site    string            `json:"site,omitempty"`
	Addr    string            `json:"addr,omitempty"`
	OK      bool              `json:"ok"`
	Detail  map[string]string `json:"detail,omitempty"`
	Prev    string            `json:"prev"`
	Hash    string            `json:"hash"`
}

// sum is the hash of e over every field but Hash: the JSON of e with Hash
// empty. encoding/json writes struct fields in order and map keys sorted,
// so the bytes are the same wherever they are computed.
func (e Entry) sum() string {
	e.Hash = ""
	b, _ := json.Marshal(e) // an Entry always marshals
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Log appends to one audit file. Its methods are safe for concurrent use.
type Log struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// Open returns the log at path (created on the first Append). It reads
// nothing: a damaged log is reported by Verify, and appends continue its
// chain from its last complete line.
func Open(path string) *Log {
	return &Log{path: path, now: time.Now}
}

// Path is the log file's path.
func (l *Log) Path() string { return l.path }

// Append writes e as the next entry (N, Time unless set, Prev and Hash are
// filled in) and fsyncs it; it returns the entry as written.
func (l *Log) Append(e Entry) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Action == "" {
		return Entry{}, errors.New("audit: entry without an action")
	}
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: open %s: %w", l.path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return Entry{}, fmt.Errorf("audit: lock %s: %w", l.path, err)
	}
	last, end, err := lastEntry(f)
	if err != nil {
		return Entry{}, err
	}
	e.N, e.Prev = 1, zeroHash
	if last != nil {
		e.N, e.Prev = last.N+1, last.Hash
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	e.Time = e.Time.UTC()
	e.Hash = e.sum()
	line, err := json.Marshal(e)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: encode entry: %w", err)
	}
	if len(line) >= maxLine {
		return Entry{}, fmt.Errorf("audit: entry of %d bytes is over the %d-byte limit", len(line), maxLine)
	}
	// A torn last line (power cut mid-write) is left where it is and
	// reported by Verify; the new entry starts on a line of its own.
	if end > 0 {
		var b [1]byte
		if _, err := f.ReadAt(b[:], end-1); err == nil && b[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	line = append(line, '\n')
	if _, err := f.WriteAt(line, end); err != nil {
		return Entry{}, fmt.Errorf("audit: write %s: %w", l.path, err)
	}
	if err := f.Sync(); err != nil {
		return Entry{}, fmt.Errorf("audit: fsync %s: %w", l.path, err)
	}
	if err := writeHead(l.path+headSuffix, e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// lastEntry reads the last complete, parseable entry of f and the file's
// size. It reads backwards in blocks, so an append costs the same at
// entry 10 and at entry 10 million.
func lastEntry(f *os.File) (*Entry, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("audit: stat: %w", err)
	}
	size := st.Size()
	var tail []byte
	for off := size; off > 0 && len(tail) < 2*maxLine; {
		n := int64(4096)
		if off < n {
			n = off
		}
		off -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil {
			return nil, 0, fmt.Errorf("audit: read: %w", err)
		}
		tail = append(buf, tail...)
		lines := bytes.Split(bytes.TrimRight(tail, "\n"), []byte("\n"))
		// Scan from the end for the last complete line that parses; the
		// first element may be cut by the block boundary unless off is 0.
		for i := len(lines) - 1; i >= 0; i-- {
			if i == 0 && off > 0 {
				break
			}
			var e Entry
			if json.Unmarshal(lines[i], &e) == nil && e.Hash != "" {
				return &e, size, nil
			}
		}
	}
	if size > 0 && len(tail) >= 2*maxLine {
		return nil, 0, fmt.Errorf("audit: %s: no readable entry in its last %d bytes; run station audit verify", f.Name(), len(tail))
	}
	return nil, size, nil
}

func writeHead(path string, e Entry) error {
	data := fmt.Sprintf("%d %s\n", e.N, e.Hash)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: write head: %w", err)
	}
	_, werr := f.WriteString(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("audit: write head %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("audit: write head: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename's durability; the entry itself is already synced
		d.Close()
	}
	return nil
}

func readHead(path string) (n uint64, hash string, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("read %s: %w", path, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, "", false, fmt.Errorf("%s: want \"N HASH\", got %q", path, strings.TrimSpace(string(b)))
	}
	n, err = strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, "", false, fmt.Errorf("%s: entry number %q: %w", path, f[0], err)
	}
	return n, f[1], true, nil
}

// Problem is the first thing wrong with a log, as Verify finds it.
type Problem struct {
	Line   int    // 1-based line of the file (0: the head file)
	N      uint64 // the entry number expected there
	Reason string
}

func (p *Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("audit log: %s", p.Reason)
	}
	return fmt.Sprintf("audit log: entry %d (line %d): %s", p.N, p.Line, p.Reason)
}

// Verify reads the whole log at path and checks the chain: every line an
// entry, numbers from 1 without a gap, each Prev the hash of the entry
// before, each Hash the entry's own, and the last entry the one the head
// file names. It returns the number of good entries and, when the log is
// not intact, a *Problem naming the first bad entry.
func Verify(path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, _, ok, herr := readHead(path + headSuffix); herr != nil || ok {
			return 0, &Problem{Reason: "the log file is missing but its head file names entries"}
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	good := 0
	prev, want := zeroHash, uint64(1)
	var bad error
	err = scan(f, func(line int, raw []byte, e *Entry, perr error) bool {
		switch {
		case perr != nil:
			bad = &Problem{Line: line, N: want, Reason: perr.Error()}
		case e.N != want:
			r := fmt.Sprintf("number %d where %d was expected (an entry removed, inserted or moved)", e.N, want)
			bad = &Problem{Line: line, N: want, Reason: r}
		case e.Prev != prev:
			bad = &Problem{Line: line, N: want, Reason: "its prev hash is not the hash of the entry before (an entry before it removed, edited or moved)"}
		case e.sum() != e.Hash:
			bad = &Problem{Line: line, N: want, Reason: "its content does not match its hash (edited)"}
		}
		if bad != nil {
			return false
		}
		good++
		prev, want = e.Hash, want+1
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return good, err
	}
	n, h, ok, herr := readHead(path + headSuffix)
	switch {
	case herr != nil:
		return good, &Problem{Reason: herr.Error()}
	case !ok && good > 0:
		return good, &Problem{Reason: "the head file " + path + headSuffix + " is missing"}
	case ok && n > uint64(good):
		return good, &Problem{Line: good + 1, N: uint64(good) + 1,
			Reason: fmt.Sprintf("missing: the log ends at entry %d but the head names entry %d (entries cut off the end)", good, n)}
	case ok && (n != uint64(good) || h != prev):
		return good, &Problem{Reason: fmt.Sprintf("the head names entry %d %s, the log ends at entry %d %s", n, h, good, prev)}
	}
	return good, nil
}

// scan calls fn for every line of r: the parsed entry or why the line is
// not one. fn returns false to stop.
func scan(r io.Reader, fn func(line int, raw []byte, e *Entry, err error) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !fn(line, raw, nil, fmt.Errorf("line longer than %d bytes", maxLine)) {
				return nil
			}
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("audit: read: %w", err)
		}
		var e Entry
		var perr error
		switch {
		case !bytes.HasSuffix(raw, []byte("\n")):
			perr = errors.New("a torn line (the write did not finish)")
		default:
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&e); derr != nil {
				perr = fmt.Errorf("not an entry: %v", derr)
			} else if e.Hash == "" {
				perr = errors.New("an entry without a hash")
			}
		}
		if !fn(line, raw, &e, perr) || errors.Is(err, io.EOF) {
			return nil
		}
	}
}

// Filter selects entries for List; zero fields match everything.
type Filter struct {
	Actor   string
	Action  string
	Gateway string
	Since   time.Time // inclusive
	Until   time.Time // exclusive
	// Before, when above 0, keeps entries numbered below it (paging back).
	Before uint64
	// Keep, when set, must also accept the entry (a site-limited reader).
	Keep func(Entry) bool
}

func (f Filter) match(e Entry) bool {
	return (f.Actor == "" || e.Actor == f.Actor) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.Gateway == "" || e.Gateway == f.Gateway) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Until.IsZero() || e.Time.Before(f.Until)) &&
		(f.Before == 0 || e.N < f.Before) &&
		(f.Keep == nil || f.Keep(e))
}

// List returns the newest limit entries that match f, newest first. Lines
// that are not entries are passed over (Verify reports them).
func (l *Log) List(f Filter, limit int) ([]Entry, error) {
	if limit <= 0 {
		limit = 100
	}
	file, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer file.Close()
	ring := make([]Entry, 0, limit)
	start := 0
	err = scan(file, func(_ int, _ []byte, e *Entry, perr error) bool {
		if perr != nil || !f.match(*e) {
			return true
		}
		if len(ring) < limit {
			ring = append(ring, *e)
		} else {
			ring[start] = *e
			start = (start + 1) % limit
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ring))
	for i := len(ring) - 1; i >= 0; i-- {
		out = append(out, ring[(start+i)%len(ring)])
	}
	return out, nil
}
