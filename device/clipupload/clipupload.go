// Package clipupload sends the gateway's recorded clips to the station
// over MQTT (uplink/wire/clip.go): in chunks of at most wire.ClipChunkMax
// bytes, QoS 1, each on clip/{clip}/{offset}, a few in flight at once
// (Options.Window) and taken as acknowledged in file order. The station
// stores a chunk before its PUBACK, so the end of the last run of
// acknowledged chunks is where an upload resumes after a link cut (kept in
// memory) or a restart: it is kept durably in a small state file
// (written, fsynced, renamed; the directory fsynced too when an upload is
// queued, so it survives a power cut) at least
// every Options.SaveEvery
// bytes acknowledged (1 MiB) and when an upload ends or Run stops, so a
// crash resends at most that much plus the window; the station takes a
// resent chunk it holds as a no-op.
//
// Clips go when the station asks (cmd/clip.get, Handler) and, for clips
// whose KindClip event says upload "auto" (armed-mode alarms), at once
// (Auto). Automatic uploads respect a daily data budget
// (recording.upload_budget; 0 = none); clips the station asks for are
// sent even beyond it, because an officer asked and the station audits
// it, but their bytes are counted in the day's total all the same. An
// automatic upload the budget stops stays queued and goes on the next day
// (or when the station asks for it).
//
// One goroutine (Run) sends; one clip at a time, the station's requests
// before automatic ones, with a few chunks in flight (Options.Window; the
// station stores chunks at their offsets in any order).
package clipupload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/durable"
	"github.com/antt-gateway/antt/uplink/wire"
)

// StateFile is the uploader's state in its directory: the pending
// uploads with their acknowledged offsets, and today's bytes.
const StateFile = "clipupload.json"

// Source is the gateway's clip store (device/camera/record): complete
// clips by id, and the clips of a camera over a time range.
type Source interface {
	Info(id string) (wire.ClipInfo, error)
	List(camera string, from, to time.Time) ([]wire.ClipInfo, error)
	Open(id string) (io.ReadCloser, error)
}

// ReaderAtSource is an optional faster path for Source: reading a chunk at
// an offset without reading what comes before it.
type ReaderAtSource interface {
	OpenAt(id string) (io.ReaderAt, io.Closer, error)
}

// UploadMarker is an optional part of Source: told when a clip is wholly
// acknowledged, so the board's store no longer keeps it as evidence still
// to leave the site (it becomes an ordinary clip for eviction).
type UploadMarker interface {
	MarkUploaded(id string) error
}

// Publisher is uplink.Session's Publish.
type Publisher interface {
	Publish(ctx context.Context, levels string, qos byte, payload []byte) error
}

var _ Publisher = (*uplink.Session)(nil)

// Options configure an Uploader.
type Options struct {
	// Dir holds StateFile (the gateway's data directory).
	Dir string
	// Budget is the daily bytes automatic uploads may use (0: no limit).
	Budget int64
	// Location is the day the budget counts (default time.Local).
	Location *time.Location
	Now      func() time.Time
	Logger   *slog.Logger
	// Retry is the wait after a failed publish (default 2 s, doubled up to
	// 30 s while the link stays down).
	Retry time.Duration
	// Delivered tells whether the outbox's event seq has reached the
	// station (device: it is no longer in the outbox). An automatic upload
	// waits for its clip event: the station refuses chunks of a clip no
	// event announced. nil: never wait.
	Delivered func(seq uint64) bool
	// Poll is how often a waiting automatic upload looks at Delivered
	// (default 250 ms).
	Poll time.Duration
	// SaveEvery is how many acknowledged bytes may go unsaved (default
	// 1 MiB, four chunks): an fsync per chunk would cost a third of the
	// throughput, and a crash resends at most this much.
	SaveEvery int64
	// Window is how many chunks may await their PUBACK at once (default
	// DefaultWindow, 1 MiB): the station's fsync of one chunk overlaps the sending of
	// the next. PUBACKs are taken in file order, so the saved offset stays
	// the end of a run of acknowledged bytes.
	Window int
}

// DefaultWindow is Options.Window's default. It also bounds what a link
// cut makes the station receive twice: the chunks in flight at the cut,
// which the uploader sends again from the end of its acknowledged run.
const DefaultWindow = 4

// Stats is what the uploader reports in telemetry (wire.Telemetry's
// clip_upload) and in the gateway's status.
type Stats = wire.ClipUploadStats

// job is one clip to send from Offset.
type job struct {
	Clip   string `json:"clip"`
	Offset int64  `json:"offset"`
	Bytes  int64  `json:"bytes"`
	Auto   bool   `json:"auto"`
	// After is the seq of the clip's event, which must be delivered
	// before an automatic upload starts (0: none).
	After uint64 `json:"after,omitempty"`
	// moved: the station asked again from Offset while a chunk was in
	// flight; the sender goes on from there.
	moved bool
}

type state struct {
	Day       string `json:"day"`
	Bytes     int64  `json:"bytes"`
	AutoBytes int64  `json:"auto_bytes"`
	Jobs      []job  `json:"jobs"`
}

// Uploader sends clips; see the package comment.
type Uploader struct {
	src  Source
	pub  Publisher
	opts Options
	log  *slog.Logger
	path string

	wake chan struct{}

	mu      sync.Mutex
	st      state
	sending string
	unsaved int64  // acknowledged bytes not yet in the state file
	ver     uint64 // version of the last snapshot of st

	saveMu  sync.Mutex // one writer of the state file
	written uint64     // version of the snapshot in the state file
}

// New returns an uploader with the pending uploads of the state file.
func New(src Source, pub Publisher, o Options) (*Uploader, error) {
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = 1 << 20
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Budget < 0 {
		return nil, fmt.Errorf("clip upload budget %d: want 0 (none) or more", o.Budget)
	}
	u := &Uploader{src: src, pub: pub, opts: o, log: o.Logger, path: filepath.Join(o.Dir, StateFile), wake: make(chan struct{}, 1)}
	b, err := os.ReadFile(u.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read clip upload state: %w", err)
	default:
		if err := json.Unmarshal(b, &u.st); err != nil {
			// Lost progress only costs data: start over rather than stop.
			u.log.Error("clip upload state unreadable; pending uploads forgotten", "file", u.path, "error", err)
			u.st = state{}
		}
	}
	return u, nil
}

func (u *Uploader) today() string { return u.opts.Now().In(u.opts.Location).Format("2006-01-02") }

// rollLocked starts a new day's count.
func (u *Uploader) rollLocked() {
	if d := u.today(); u.st.Day != d {
		u.st.Day, u.st.Bytes, u.st.AutoBytes = d, 0, 0
	}
}

// saveLocked writes the state durably (temporary file, fsync, rename,
// directory fsync).
func (u *Uploader) saveLocked() error {
	b, ver := u.snapshotLocked()
	return u.write(b, ver, true)
}

// snapshotLocked is the state to write, with its version.
func (u *Uploader) snapshotLocked() ([]byte, uint64) {
	u.unsaved = 0
	u.ver++
	b, err := json.Marshal(u.st)
	if err != nil {
		panic(err) // plain structs: cannot fail
	}
	return b, u.ver
}

// write writes snapshot ver unless a later one is already written. dir
// also fsyncs the directory, making the rename durable: needed when jobs
// were added or removed; progress alone can skip it, since a rename a
// power cut undoes leaves the previous state, an older offset, from which
// resuming is safe (the station takes what it holds again as a no-op).
func (u *Uploader) write(b []byte, ver uint64, dir bool) error {
	u.saveMu.Lock()
	defer u.saveMu.Unlock()
	if ver <= u.written {
		return nil
	}
	tmp := u.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save clip upload state: %w", err)
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, u.path)
	}
	if err == nil && dir {
		err = durable.SyncDir(filepath.Dir(u.path))
	}
	if err != nil {
		return fmt.Errorf("save clip upload state: %w", err)
	}
	u.written = ver
	return nil
}

// enqueue adds (or moves forward) the upload of info from offset.
func (u *Uploader) enqueue(info wire.ClipInfo, offset int64, auto bool, after uint64) error {
	if offset < 0 || offset > info.Bytes {
		return fmt.Errorf("clip %s: offset %d outside its %d bytes", info.ID, offset, info.Bytes)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, j := range u.st.Jobs {
		if j.Clip == info.ID {
			// Asked again: the station's offset wins (it knows what it holds),
			// and a request makes an automatic job an asked one.
			u.st.Jobs[i].Offset, u.st.Jobs[i].moved = offset, u.sending == j.Clip
			u.st.Jobs[i].Auto = j.Auto && auto
			if !auto {
				u.st.Jobs[i].After = 0 // the station asked: it knows the clip
			}
			return u.saveAndWake()
		}
	}
	j := job{Clip: info.ID, Offset: offset, Bytes: info.Bytes, Auto: auto, After: after}
	if auto {
		u.st.Jobs = append(u.st.Jobs, j)
	} else {
		// Requests go before automatic uploads.
		k := 0
		for k < len(u.st.Jobs) && !u.st.Jobs[k].Auto {
			k++
		}
		u.st.Jobs = append(u.st.Jobs[:k], append([]job{j}, u.st.Jobs[k:]...)...)
	}
	return u.saveAndWake()
}

func (u *Uploader) saveAndWake() error {
	err := u.saveLocked()
	select {
	case u.wake <- struct{}{}:
	default:
	}
	return err
}

// Auto queues clip id for automatic upload (its event, seq, said upload
// "auto"); it starts once Options.Delivered(seq). It returns once the
// request is durable.
func (u *Uploader) Auto(id string, seq uint64) error {
	info, err := u.src.Info(id)
	if err != nil {
		return fmt.Errorf("auto upload of clip %s: %w", id, err)
	}
	return u.enqueue(info, 0, true, seq)
}

// Stats reports the budget and today's use.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rollLocked()
	s := Stats{Budget: u.opts.Budget, BytesToday: u.st.Bytes, AutoToday: u.st.AutoBytes, Pending: len(u.st.Jobs), Sending: u.sending}
	for _, j := range u.st.Jobs {
		if j.Auto && u.overBudgetLocked(j) {
			s.Held++
		}
	}
	return s
}

func (u *Uploader) overBudgetLocked(j job) bool {
	if u.opts.Budget == 0 {
		return false
	}
	n := min(int64(wire.ClipChunkMax), j.Bytes-j.Offset)
	return u.st.AutoBytes+n > u.opts.Budget
}

// nextJob picks the first job that may go now; waiting tells whether an
// automatic upload waits for its event's delivery.
func (u *Uploader) nextJob() (j job, ok, waiting bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rollLocked()
	for i, j := range u.st.Jobs {
		if !j.Auto {
			return j, true, waiting
		}
		if j.After != 0 && u.opts.Delivered != nil {
			if !u.opts.Delivered(j.After) {
				waiting = true
				continue
			}
			u.st.Jobs[i].After = 0 // not saved: Delivered says so again after a restart
			j.After = 0
		}
		if !u.overBudgetLocked(j) {
			return j, true, waiting
		}
	}
	return job{}, false, waiting
}

// Run sends the queued clips until ctx ends, then saves the progress.
func (u *Uploader) Run(ctx context.Context) error {
	defer func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.unsaved > 0 {
			if err := u.saveLocked(); err != nil {
				u.log.Error("clip upload progress not saved at stop", "error", err)
			}
		}
	}()
	retry := u.opts.Retry
	for {
		j, ok, waiting := u.nextJob()
		if !ok {
			// Nothing, or only what the budget holds: wait for a request, or
			// look again in a minute (the day may have turned), or soon when
			// a clip event is on its way.
			d := time.Minute
			if waiting {
				d = u.opts.Poll
			}
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-u.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		progressed, err := u.send(ctx, j)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if progressed {
			retry = u.opts.Retry
		}
		if err == nil {
			continue
		}
		u.log.Warn("clip upload paused", "clip", j.Clip, "error", err, "retry_in", retry)
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-u.wake:
			t.Stop()
		}
		retry = min(2*retry, 30*time.Second)
	}
}

// inflight is one published chunk awaiting its PUBACK.
type inflight struct {
	off, end int64
	buf      []byte
	done     chan error
}

// send sends j's chunks from its offset until the clip is done, the
// budget stops it, or a publish fails; progressed tells whether a chunk
// was acknowledged. Up to Options.Window chunks are in flight; their
// PUBACKs are taken in file order, so the offset recorded (and saved) is
// always the end of a run of acknowledged chunks from the job's start.
func (u *Uploader) send(ctx context.Context, j job) (progressed bool, err error) {
	ra, closer, err := u.openAt(j.Clip)
	if err != nil {
		u.log.Error("clip upload dropped: clip cannot be read", "clip", j.Clip, "error", err)
		u.finish(j.Clip)
		return false, nil
	}
	defer closer.Close()
	u.mu.Lock()
	u.sending = j.Clip
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.sending = ""
		u.mu.Unlock()
	}()
	var (
		queue []*inflight
		free  [][]byte
		flown int64 // bytes in flight, for the budget
	)
	// drain waits for the chunks still in flight: their buffers are reused
	// and, acknowledged or not, they no longer move the offset.
	drain := func() {
		for _, c := range queue {
			if <-c.done == nil {
				u.count(j.Clip, c.end-c.off)
			}
		}
		queue = nil
	}
	defer drain()
	off := j.Offset // next byte to publish
	held := false
	for {
		for !held && off < j.Bytes && len(queue) < u.opts.Window {
			n := min(int64(wire.ClipChunkMax), j.Bytes-off)
			if j.Auto && u.overBudget(flown+n) {
				held = true
				break
			}
			var buf []byte
			if k := len(free); k > 0 {
				buf, free = free[k-1][:n], free[:k-1]
			} else {
				buf = make([]byte, n, wire.ClipChunkMax)
			}
			if _, err := ra.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && n > 0) {
				u.log.Error("clip upload dropped: read failed", "clip", j.Clip, "offset", off, "error", err)
				drain()
				u.finish(j.Clip)
				return progressed, nil
			}
			c := &inflight{off: off, end: off + n, buf: buf, done: make(chan error, 1)}
			topic := wire.TopicClip + "/" + j.Clip + "/" + strconv.FormatInt(off, 10)
			go func() { c.done <- u.pub.Publish(ctx, topic, 1, c.buf) }()
			queue = append(queue, c)
			flown += n
			off = c.end
		}
		if len(queue) == 0 {
			break
		}
		c := queue[0]
		queue = queue[1:]
		flown -= c.end - c.off
		if err := <-c.done; err != nil {
			return progressed, err
		}
		free = append(free, c.buf)
		progressed = true
		cur, still := u.acked(j.Clip, c.end, c.end-c.off)
		if !still {
			return true, nil // cancelled or replaced meanwhile
		}
		if cur.Offset != c.end {
			// The station asked again from elsewhere: go on from there.
			drain()
			flown, off, held = 0, cur.Offset, false
		}
	}
	if held {
		u.log.Info("automatic clip upload held by the daily budget", "clip", j.Clip, "offset", off, "budget", u.opts.Budget)
		return progressed, nil
	}
	u.log.Info("clip uploaded", "clip", j.Clip, "bytes", j.Bytes, "auto", j.Auto)
	if m, ok := u.src.(UploadMarker); ok {
		if err := m.MarkUploaded(j.Clip); err != nil {
			u.log.Warn("clip uploaded, not marked so in the clip store", "clip", j.Clip, "err", err)
		}
	}
	u.finish(j.Clip)
	return progressed, nil
}

// overBudget tells whether n more automatic bytes would pass today's budget.
func (u *Uploader) overBudget(n int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rollLocked()
	return u.opts.Budget != 0 && u.st.AutoBytes+n > u.opts.Budget
}

func (u *Uploader) openAt(id string) (io.ReaderAt, io.Closer, error) {
	if s, ok := u.src.(ReaderAtSource); ok {
		return s.OpenAt(id)
	}
	rc, err := u.src.Open(id)
	if err != nil {
		return nil, nil, err
	}
	if ra, ok := rc.(io.ReaderAt); ok {
		return ra, rc, nil
	}
	rc.Close()
	return nil, nil, fmt.Errorf("clip %s: the clip store gives no random access", id)
}

// acked records a PUBACK: the job's offset moves to end (durably at least
// every Options.SaveEvery bytes, the fsync outside u.mu) and n bytes count
// against today. It returns the job as it now stands.
func (u *Uploader) acked(clip string, end, n int64) (job, bool) {
	u.mu.Lock()
	u.rollLocked()
	i := u.indexLocked(clip)
	if i < 0 {
		u.mu.Unlock()
		return job{}, false
	}
	j := u.st.Jobs[i]
	u.st.Bytes += n
	if j.Auto {
		u.st.AutoBytes += n
	}
	switch {
	case j.moved:
		u.st.Jobs[i].moved = false
	case j.Offset < end:
		u.st.Jobs[i].Offset = end
	}
	cur := u.st.Jobs[i]
	var snap []byte
	var ver uint64
	if u.unsaved += n; u.unsaved >= u.opts.SaveEvery {
		snap, ver = u.snapshotLocked()
	}
	u.mu.Unlock()
	if snap != nil {
		if err := u.write(snap, ver, false); err != nil {
			u.log.Error("clip upload progress not saved; a restart resends from the last saved offset", "error", err)
		}
	}
	return cur, true
}

// count records n acknowledged bytes of clip that do not move its offset
// (a chunk in flight when the station asked again from elsewhere).
func (u *Uploader) count(clip string, n int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rollLocked()
	if i := u.indexLocked(clip); i >= 0 {
		u.st.Bytes += n
		if u.st.Jobs[i].Auto {
			u.st.AutoBytes += n
		}
	}
}

func (u *Uploader) indexLocked(clip string) int {
	for i, j := range u.st.Jobs {
		if j.Clip == clip {
			return i
		}
	}
	return -1
}

func (u *Uploader) finish(clip string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, j := range u.st.Jobs {
		if j.Clip == clip {
			u.st.Jobs = append(u.st.Jobs[:i], u.st.Jobs[i+1:]...)
			break
		}
	}
	// No directory fsync: should a power cut undo the rename, the job
	// comes back at its last saved offset and its last bytes go again,
	// which the station takes as no-ops; a lost job would be worse.
	b, ver := u.snapshotLocked()
	if err := u.write(b, ver, false); err != nil {
		u.log.Error("clip upload state not saved", "error", err)
	}
}
