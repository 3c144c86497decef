package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp"
)

// Hub defaults for HubOptions fields left zero.
const (
	// DefaultOfflineAfter rides out a camera's reboot before camera_offline.
	DefaultOfflineAfter = 30 * time.Second
	// DefaultLinger keeps the session a little after the last consumer left,
	// so a viewer reloading the page does not cost a new RTSP handshake.
	DefaultLinger = 5 * time.Second
	// DefaultGOPCacheBytes bounds the cached GOP: 8 MiB holds 30 s of a
	// 2 Mbit/s stream, far more than any sane key frame interval.
	DefaultGOPCacheBytes = 8 << 20
	// DefaultGOPCacheFrames bounds the cached GOP in frames, whatever their
	// size: H.265 is cached per RTP packet, so a 4 Mbit/s GOP of 4 s is
	// about 1,500 frames; H.264 at 25 frames/s with audio, a 10 s GOP is
	// 750. It also bounds each consumer's channel (see Subscribe).
	DefaultGOPCacheFrames = 2048
	// GOPFrameOverhead is what each cached frame is charged in the byte
	// bound beyond its payload (the HubFrame, its slice headers and the
	// allocations' rounding), so tiny frames cannot hold far more memory
	// than GOPCacheBytes says.
	GOPFrameOverhead = 256
	// DefaultQueueFrames bounds each consumer's queue (video and audio
	// frames): about two seconds at 25 frames/s plus 50 audio packets/s.
	DefaultQueueFrames = 128
	// DefaultHubStallTimeout is the watchdog's silence limit: a few seconds,
	// well under offline_after, so a stalled session is retried quickly.
	DefaultHubStallTimeout = 5 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the reconnect delay; it
	// doubles from the first to the second on each failure in a row.
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultCheckEvery is how often a camera nobody pulls is checked
	// (OPTIONS and DESCRIBE, no media): often enough that camera_offline
	// comes at most this much later than for a pulled camera, rarely
	// enough to cost a camera nothing.
	DefaultCheckEvery = 10 * time.Second
)

// WarnRTSPBasic is the key of the warning a hub shows while the camera
// takes its password as Basic authentication over plain rtsp://.
const WarnRTSPBasic = "rtsp_basic"

const rtspBasicWarning = "the camera asked for Basic authentication over plain rtsp://: its password crosses the network in clear; set the camera to Digest authentication, or use rtsps://"

// Health events a Hub reports through HubOptions.OnEvent. The strings are
// the wire event kinds.
const (
	EventOffline = "camera_offline"
	EventOnline  = "camera_online"
)

// State is a camera's health as a Hub sees it.
type State string

// Hub states.
const (
	// StateIdle: nobody needs the camera, so it is not pulled; it is
	// checked every CheckEvery instead (LastError says why the last check
	// failed, CheckedAt when one last passed).
	StateIdle State = "idle"
	// StateConnecting: opening a session, or retrying after a failure for
	// less than offline_after.
	StateConnecting State = "connecting"
	// StateOnline: a session is delivering media.
	StateOnline State = "online"
	// StateOffline: the camera has failed for offline_after or longer
	// (camera_offline was reported).
	StateOffline State = "offline"
)

// HubOptions configures a Hub. Name and one of URL or Open are required.
type HubOptions struct {
	// Name is the camera's configured name, used in logs and statuses.
	Name string
	// URL is opened with Open(ctx, URL, Source) for each session.
	URL string
	// Source tunes each session. Its StallTimeout is also the hub's
	// watchdog limit (DefaultHubStallTimeout when zero).
	Source Options
	// Open, when set, replaces camera.Open (tests, benchmarks, other sources).
	Open func(ctx context.Context) (Source, error)
	// Preload pulls the camera even when no consumer is attached.
	Preload bool
	// OfflineAfter is how long the camera may fail before camera_offline.
	OfflineAfter time.Duration
	// Linger keeps the session open this long after the last consumer left.
	Linger time.Duration
	// GOPCacheBytes caps the cached GOP: payload plus GOPFrameOverhead per
	// frame.
	GOPCacheBytes int
	// GOPCacheFrames caps the cached GOP in frames.
	GOPCacheFrames int
	// QueueFrames is each consumer's queue length beyond the cached GOP.
	QueueFrames int
	// MinBackoff and MaxBackoff bound the delay between reconnects.
	MinBackoff, MaxBackoff time.Duration
	// CheckEvery is how often an idle camera (not pulled) is checked, so
	// that it too is reported offline; after a failed check the next one
	// comes sooner, with the reconnect backoff. Negative turns checks off
	// (an idle camera's health is then unknown).
	CheckEvery time.Duration
	// Check checks an idle camera. Zero means camera.Check on URL; with
	// Open set and no Check, idle cameras are not checked.
	Check func(ctx context.Context) error
	// OnEvent receives EventOffline and EventOnline with their attributes.
	// It is called from the hub's own goroutine, never concurrently, and
	// may block (the device makes the event durable there); media keeps
	// flowing meanwhile.
	OnEvent func(kind string, attrs map[string]any)
	Logger  *slog.Logger
}

func (o *HubOptions) fill() {
	if o.OfflineAfter <= 0 {
		o.OfflineAfter = DefaultOfflineAfter
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.GOPCacheBytes <= 0 {
		o.GOPCacheBytes = DefaultGOPCacheBytes
	}
	if o.GOPCacheFrames <= 0 {
		o.GOPCacheFrames = DefaultGOPCacheFrames
	}
	if o.QueueFrames <= 0 {
		o.QueueFrames = DefaultQueueFrames
	}
	if o.Source.StallTimeout <= 0 {
		o.Source.StallTimeout = DefaultHubStallTimeout
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.CheckEvery == 0 {
		o.CheckEvery = DefaultCheckEvery
	}
	switch {
	case o.Check != nil:
	case o.Open == nil:
		url, so := o.URL, o.Source
		o.Check = func(ctx context.Context) error { return Check(ctx, url, so) }
	default:
		o.CheckEvery = -1 // a custom source has no way to be checked without pulling it
	}
	if o.Open == nil {
		url, so := o.URL, o.Source
		o.Open = func(ctx context.Context) (Source, error) { return Open(ctx, url, so) }
	}
}

// HubFrame is a frame as a Hub hands it out: a copy of the Source's Frame
// that stays valid for as long as anyone holds it. The same HubFrame goes
// to every consumer and into the GOP cache, so it must never be modified.
type HubFrame struct {
	Frame
	// Epoch numbers the camera session the frame came from. It changes
	// after a reconnect: PTS and RTP times restart there, and the first
	// video frame of the new epoch is a key frame.
	Epoch uint64
	// Size is the payload bytes (NAL units or Payload).
	Size int
}

// ErrHubClosed is returned by Subscribe once the hub's Run has returned.
var ErrHubClosed = errors.New("camera: hub stopped")

// Hub shares one camera among any number of consumers (live viewers, the
// snapshot taker). It owns the camera session:
//   - The camera is pulled only while a consumer is attached or Preload is
//     set; the session closes Linger after the last consumer left.
//   - A failed or stalled session (no packets for the stall timeout) is
//     reopened with backoff, quick first, then slower up to MaxBackoff.
//     Consumers stay attached across reconnects; the new session starts on
//     a key frame with a new Epoch.
//   - The current GOP (from the last key frame) is kept, up to
//     GOPCacheBytes (each frame charged GOPFrameOverhead) and
//     GOPCacheFrames, so a new consumer starts on a key frame at once.
//     Empty frames (an H.265 packet with no payload) are dropped.
//   - A consumer that does not keep up loses frames up to the next key frame
//     (counted); it never blocks the camera or the other consumers.
//   - Health: camera_offline once the camera has failed for OfflineAfter,
//     camera_online when it is back after that.
type Hub struct {
	opts HubOptions
	log  *slog.Logger
	wake chan struct{}

	mu        sync.Mutex
	consumers []*Consumer
	gop       []*HubFrame
	gopBytes  int  // payload bytes of gop
	gopCharge int  // gopBytes plus GOPFrameOverhead per frame: what the bound counts
	gopOK     bool // gop starts at a key frame of the current session
	hasVideo  bool
	epoch     uint64
	tracks    []Track
	src       Source
	srcStats  Stats
	state     State
	since     time.Time
	lastErr   string
	checkedAt time.Time
	closed    bool
	warnings  map[string]string // key → text, see NoteWarning

	attempts, sessions, stalls, frames, gopOverflows, checks, empty atomic.Uint64
}

// NewHub makes a hub; nothing is opened until Run (and, without Preload,
// until the first Subscribe).
func NewHub(opts HubOptions) *Hub {
	builtinCheck := opts.Check == nil && opts.Open == nil
	opts.fill()
	h := &Hub{
		opts:  opts,
		log:   opts.Logger.With("camera", opts.Name),
		wake:  make(chan struct{}, 1),
		state: StateIdle,
		since: time.Now(),
	}
	if builtinCheck {
		// The built-in check also learns how the camera authenticates.
		url, so := opts.URL, opts.Source
		h.opts.Check = func(ctx context.Context) error {
			basic, err := check(ctx, url, so)
			h.noteRTSPAuth(basic, err == nil)
			return err
		}
	}
	return h
}

// NoteWarning sets (or, with text "", clears) a warning shown in the
// camera's status under key, such as WarnRTSPBasic, which the hub sets
// itself. Safe to call at any time.
func (h *Hub) NoteWarning(key, text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if text == "" {
		delete(h.warnings, key)
		return
	}
	if h.warnings[key] != text {
		h.log.Warn("camera warning", "warning", text)
	}
	if h.warnings == nil {
		h.warnings = make(map[string]string)
	}
	h.warnings[key] = text
}

// noteRTSPAuth records what the camera's RTSP authentication showed: Basic
// over plain rtsp:// sets the warning; a successful exchange without it
// clears it (the camera was set to Digest since).
func (h *Hub) noteRTSPAuth(basicInClear, ok bool) {
	switch {
	case basicInClear:
		h.NoteWarning(WarnRTSPBasic, rtspBasicWarning)
	case ok:
		h.NoteWarning(WarnRTSPBasic, "")
	}
}

// Name is the camera's configured name.
func (h *Hub) Name() string { return h.opts.Name }

// Consumer is one attachment to a Hub.
type Consumer struct {
	hub *Hub
	ch  chan *HubFrame
	// guarded by hub.mu
	waitKey bool
	fresh   bool // nothing queued yet: waiting for the first key frame is no loss
	closed  bool

	delivered, dropped atomic.Uint64
}

// Subscribe attaches a consumer. Its channel first holds the cached GOP
// (from a key frame), then live frames; without a cached GOP it starts at
// the next key frame. The channel is closed by Close or when the hub stops.
// Its capacity is the cached GOP's frames plus QueueFrames, so never more
// than ConsumerCap.
func (h *Hub) Subscribe() (*Consumer, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrHubClosed
	}
	c := &Consumer{hub: h, ch: make(chan *HubFrame, h.opts.QueueFrames+len(h.gop))}
	if h.gopOK && len(h.gop) > 0 {
		for _, f := range h.gop {
			c.ch <- f
		}
		c.delivered.Add(uint64(len(h.gop)))
	} else {
		c.waitKey, c.fresh = true, true
	}
	h.consumers = append(h.consumers, c)
	h.mu.Unlock()
	h.poke()
	return c, nil
}

// ConsumerCap is the most frames a consumer's channel can hold:
// GOPCacheFrames plus QueueFrames.
func (h *Hub) ConsumerCap() int { return h.opts.GOPCacheFrames + h.opts.QueueFrames }

// Frames is the consumer's queue.
func (c *Consumer) Frames() <-chan *HubFrame { return c.ch }

// Dropped counts frames this consumer lost because its queue was full (and
// those skipped after that until the next key frame).
func (c *Consumer) Dropped() uint64 { return c.dropped.Load() }

// Delivered counts frames queued for this consumer.
func (c *Consumer) Delivered() uint64 { return c.delivered.Load() }

// Close detaches the consumer and closes its channel. Safe to call more
// than once.
func (c *Consumer) Close() {
	h := c.hub
	h.mu.Lock()
	if c.closed {
		h.mu.Unlock()
		return
	}
	c.closed = true
	close(c.ch)
	if i := slices.Index(h.consumers, c); i >= 0 {
		h.consumers = slices.Delete(h.consumers, i, i+1)
	}
	h.mu.Unlock()
	h.poke()
}

func (h *Hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Tracks describes the camera's streams as of the last session (nil before
// the first one).
func (h *Hub) Tracks() []Track {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Track(nil), h.tracks...)
}

// State is the camera's health now.
func (h *Hub) State() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// HubStatus is a hub's state for /api/status.
type HubStatus struct {
	Name      string    `json:"name"`
	State     State     `json:"state"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	Consumers int       `json:"consumers"`
	Preload   bool      `json:"preload,omitempty"`
	// Video describes the video track once known: "H264 1920x1080 25fps".
	Video string `json:"video,omitempty"`
	Note  string `json:"note,omitempty"`
	// Warnings are security problems seen with this camera, such as its
	// password sent in clear (Basic authentication without TLS).
	Warnings []string `json:"warnings,omitempty"`
	// CheckedAt is when a check of the idle camera last passed; Checks
	// counts the checks made.
	CheckedAt time.Time `json:"checked_at,omitzero"`
	Checks    uint64    `json:"checks,omitempty"`
	// Attempts counts session opens tried, Sessions those that succeeded,
	// Stalls those ended by the watchdog.
	Attempts     uint64 `json:"attempts"`
	Sessions     uint64 `json:"sessions"`
	Stalls       uint64 `json:"stalls"`
	Frames       uint64 `json:"frames"`
	GOPFrames    int    `json:"gop_frames"`
	GOPBytes     int    `json:"gop_bytes"`
	GOPOverflows uint64 `json:"gop_overflows"`
	// EmptyFrames counts frames dropped for carrying no payload.
	EmptyFrames uint64 `json:"empty_frames,omitempty"`
	// The current (or last) session's receive counters (see Stats).
	Packets       uint64 `json:"packets"`
	Lost          uint64 `json:"lost"`
	Malformed     uint64 `json:"malformed"`
	DroppedFrames uint64 `json:"dropped_frames"`
}

// Status reports the hub's state and counters.
func (h *Hub) Status() HubStatus {
	h.mu.Lock()
	st := HubStatus{Name: h.opts.Name, State: h.state, Since: h.since, LastError: h.lastErr,
		Consumers: len(h.consumers), Preload: h.opts.Preload, GOPFrames: len(h.gop), GOPBytes: h.gopBytes,
		CheckedAt: h.checkedAt}
	src := h.srcStats
	if h.src != nil {
		src = h.src.Stats()
	}
	for _, k := range slices.Sorted(maps.Keys(h.warnings)) {
		st.Warnings = append(st.Warnings, h.warnings[k])
	}
	st.Packets, st.Lost, st.Malformed, st.DroppedFrames = src.Packets, src.Lost, src.Malformed, src.DroppedFrames
	for _, t := range h.tracks {
		if t.Kind == Video {
			st.Video = fmt.Sprintf("%s %dx%d %gfps", t.Codec, t.Width, t.Height, t.FrameRate)
			st.Note = t.Note
			break
		}
	}
	h.mu.Unlock()
	st.Attempts, st.Sessions, st.Stalls = h.attempts.Load(), h.sessions.Load(), h.stalls.Load()
	st.Frames, st.GOPOverflows, st.Checks = h.frames.Load(), h.gopOverflows.Load(), h.checks.Load()
	st.EmptyFrames = h.empty.Load()
	return st
}

func (h *Hub) wanted() bool {
	if h.opts.Preload {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.consumers) > 0
}

func (h *Hub) setState(s State, errText string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if errText != "" {
		h.lastErr = errText
	}
	if h.state != s {
		h.log.Info("camera state", "from", h.state, "to", s)
		h.state, h.since = s, time.Now()
	}
}

// session is one attempt: Open, then Run until it fails or is cancelled.
type session struct {
	cancel  context.CancelFunc
	first   chan struct{} // closed at the first frame
	done    chan struct{} // closed when the goroutine ends
	err     error         // set before done is closed
	stopped bool          // the hub cancelled it (not wanted any more)
	online  bool
}

// timer is a restartable one-shot whose channel is nil while unarmed, so it
// can sit in a select unconditionally.
type timer struct {
	t *time.Timer
	C <-chan time.Time
}

func (t *timer) set(d time.Duration) {
	t.stop()
	t.t = time.NewTimer(d)
	t.C = t.t.C
}

func (t *timer) stop() {
	if t.t != nil {
		t.t.Stop()
	}
	t.t, t.C = nil, nil
}

// Run owns the camera session and the health state machine until ctx ends;
// then it closes the session and every consumer's channel and returns nil.
// Call it once.
func (h *Hub) Run(ctx context.Context) error {
	var (
		cur             *session
		retry, linger   timer
		offline         timer
		check           timer      // the next check of the idle camera
		checking        chan error // the running check's result; nil when none runs
		cancelCheck     context.CancelFunc
		checked         bool // a check has been made (the first comes at once)
		backoff         time.Duration
		failSince       time.Time
		offlineReported bool
	)
	defer func() {
		retry.stop()
		linger.stop()
		offline.stop()
		check.stop()
		if checking != nil {
			cancelCheck()
			<-checking
		}
		if cur != nil {
			cur.cancel()
			<-cur.done
		}
		h.mu.Lock()
		h.closed = true
		for _, c := range h.consumers {
			c.closed = true
			close(c.ch)
		}
		h.consumers = nil
		h.mu.Unlock()
	}()
	startFailing := func(now time.Time) {
		if failSince.IsZero() {
			failSince = now
			offline.set(h.opts.OfflineAfter)
		}
	}
	// answering records that the camera answers (again): camera_online if
	// it had been reported offline.
	answering := func() {
		backoff = 0
		offline.stop()
		down := time.Since(failSince)
		failSince = time.Time{}
		if offlineReported {
			offlineReported = false
			h.emit(EventOnline, map[string]any{"offline_s": down.Round(time.Millisecond).Seconds()})
		}
	}
	for {
		want := h.wanted()
		switch {
		case want && cur == nil && retry.C == nil:
			check.stop()
			if checking != nil {
				cancelCheck() // its result is ignored: the session tells more
			}
			startFailing(time.Now())
			if !offlineReported {
				h.setState(StateConnecting, "")
			}
			cur = h.start(ctx)
		case !want && cur == nil && h.opts.CheckEvery < 0:
			retry.stop()
			offline.stop()
			failSince = time.Time{}
			if !offlineReported {
				h.setState(StateIdle, "")
			}
		case !want && cur == nil:
			retry.stop()
			if !offlineReported {
				h.setState(StateIdle, "")
			}
			if checking == nil && check.C == nil {
				d := h.opts.CheckEvery
				switch {
				case !checked:
					d = 0
				case !failSince.IsZero():
					backoff = h.nextBackoff(backoff)
					d = min(backoff, h.opts.CheckEvery)
				}
				check.set(d)
			}
		}
		if want || cur == nil {
			linger.stop()
		} else if linger.C == nil && !cur.stopped {
			linger.set(h.opts.Linger)
		}
		var first, done chan struct{}
		if cur != nil {
			done = cur.done
			if !cur.online {
				first = cur.first
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-h.wake:
		case <-first:
			cur.online = true
			checked = true // healthy now: once idle, the next check waits CheckEvery
			h.setState(StateOnline, "")
			answering()
		case <-check.C:
			check.stop()
			cctx, cancel := context.WithCancel(ctx)
			res := make(chan error, 1)
			checking, cancelCheck = res, cancel
			go func() { res <- h.opts.Check(cctx) }()
		case err := <-checking:
			cancelCheck()
			checking, cancelCheck = nil, nil
			if cur != nil || ctx.Err() != nil {
				continue
			}
			checked = true
			h.checks.Add(1)
			if err == nil {
				h.mu.Lock()
				h.checkedAt = time.Now()
				h.mu.Unlock()
				h.setState(StateIdle, "")
				answering()
				continue
			}
			msg := err.Error()
			if failSince.IsZero() {
				h.log.Warn("camera check failed", "err", msg)
			}
			startFailing(time.Now())
			if offlineReported {
				h.setState(StateOffline, msg)
			} else {
				h.setState(StateIdle, msg)
			}
		case <-done:
			s := cur
			cur = nil
			if s.stopped || ctx.Err() != nil {
				continue
			}
			now := time.Now()
			msg := s.err.Error()
			h.log.Warn("camera session ended", "err", msg)
			if errors.Is(s.err, rtsp.ErrStalled) {
				h.stalls.Add(1)
			}
			startFailing(now)
			if offlineReported {
				h.setState(StateOffline, msg)
			} else {
				h.setState(StateConnecting, msg)
			}
			if s.online {
				backoff = 0
			}
			backoff = h.nextBackoff(backoff)
			retry.set(backoff)
		case <-retry.C:
			retry.stop()
		case <-linger.C:
			linger.stop()
			if cur != nil && !h.wanted() {
				cur.stopped = true
				cur.cancel()
			}
		case <-offline.C:
			offline.stop()
			if cur != nil && cur.online {
				continue
			}
			offlineReported = true
			h.mu.Lock()
			last := h.lastErr
			h.mu.Unlock()
			h.setState(StateOffline, "")
			h.log.Warn("camera offline", "since", failSince, "err", last)
			attrs := map[string]any{"since": failSince.UTC().Format(time.RFC3339Nano)}
			if last != "" {
				attrs["error"] = last
			}
			h.emit(EventOffline, attrs)
		}
	}
}

func (h *Hub) emit(kind string, attrs map[string]any) {
	if h.opts.OnEvent != nil {
		h.opts.OnEvent(kind, attrs)
	}
}

// nextBackoff doubles from MinBackoff to MaxBackoff, with ±20% jitter so
// cameras behind one failed switch do not retry in lockstep.
func (h *Hub) nextBackoff(prev time.Duration) time.Duration {
	d := h.opts.MinBackoff
	if prev > 0 {
		d = min(prev*2, h.opts.MaxBackoff)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (h *Hub) start(ctx context.Context) *session {
	sctx, cancel := context.WithCancel(ctx)
	s := &session{cancel: cancel, first: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer cancel()
		s.err = h.runSession(sctx, s)
	}()
	return s
}

// runSession opens the camera and delivers its frames. The watchdog ends it
// with rtsp.ErrStalled when the source's packet and frame counters stop
// moving for the stall timeout, whatever kind of source it is.
func (h *Hub) runSession(ctx context.Context, s *session) error {
	h.attempts.Add(1)
	src, err := h.opts.Open(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	h.sessions.Add(1)
	if a, ok := src.(interface{ BasicInClear() bool }); ok {
		h.noteRTSPAuth(a.BasicInClear(), true)
	}
	h.mu.Lock()
	h.epoch++
	epoch := h.epoch
	h.src = src
	h.setTracksLocked(src.Tracks())
	h.resetGOPLocked()
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.srcStats = src.Stats()
		h.src = nil
		h.resetGOPLocked()
		h.mu.Unlock()
	}()

	rctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		wg.Wait()
	}()
	wg.Go(func() { h.watchdog(rctx, src, cancel) })

	seen := false
	err = src.Run(rctx, func(f *Frame) {
		if !seen {
			seen = true
			close(s.first)
		}
		h.onFrame(src, epoch, f)
	})
	if cause := context.Cause(rctx); errors.Is(cause, rtsp.ErrStalled) {
		return cause
	}
	if err == nil {
		err = errors.New("camera: source ended")
	}
	return err
}

// onFrame is the hub's Handler body: a key frame may carry new parameter
// sets (a camera's resolution changed), so the tracks are refreshed there.
func (h *Hub) onFrame(src Source, epoch uint64, f *Frame) {
	if f.Key {
		h.mu.Lock()
		h.setTracksLocked(src.Tracks())
		h.mu.Unlock()
	}
	h.deliver(copyFrame(f, epoch))
}

func (h *Hub) watchdog(ctx context.Context, src Source, cancel context.CancelCauseFunc) {
	limit := h.opts.Source.StallTimeout
	tick := time.NewTicker(max(limit/8, 10*time.Millisecond))
	defer tick.Stop()
	var last uint64
	moved := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			st := src.Stats()
			if n := st.Packets + st.Frames + st.DroppedFrames; n != last {
				last, moved = n, now
			} else if now.Sub(moved) >= limit {
				cancel(fmt.Errorf("camera %s: %w for %v (watchdog)", h.opts.Name, rtsp.ErrStalled, limit))
				return
			}
		}
	}
}

func (h *Hub) setTracksLocked(ts []Track) {
	h.tracks = ts
	h.hasVideo = false
	for _, t := range ts {
		if t.Kind == Video {
			h.hasVideo = true
		}
	}
}

func (h *Hub) resetGOPLocked() {
	clear(h.gop)
	h.gop = h.gop[:0]
	h.gopBytes, h.gopCharge = 0, 0
	h.gopOK = false
}

// copyFrame copies f's bytes into one buffer, so a frame costs three
// allocations whatever the number of slices.
func copyFrame(f *Frame, epoch uint64) *HubFrame {
	n := len(f.Payload)
	for _, nal := range f.NALUs {
		n += len(nal)
	}
	hf := &HubFrame{Frame: *f, Epoch: epoch, Size: n}
	buf := make([]byte, 0, n)
	if len(f.NALUs) > 0 {
		hf.NALUs = make([][]byte, len(f.NALUs))
		for i, nal := range f.NALUs {
			start := len(buf)
			buf = append(buf, nal...)
			hf.NALUs[i] = buf[start:len(buf):len(buf)]
		}
	}
	if f.Payload != nil {
		start := len(buf)
		buf = append(buf, f.Payload...)
		hf.Payload = buf[start:len(buf):len(buf)]
	}
	return hf
}

// deliver caches the frame and offers it to every consumer without ever
// waiting for one.
func (h *Hub) deliver(f *HubFrame) {
	if f.Size == 0 {
		// Nothing to decode (an H.265 packet with no payload): it would
		// only cost a cache slot and a consumer's queue slot.
		h.empty.Add(1)
		return
	}
	h.frames.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	charge := f.Size + GOPFrameOverhead
	switch {
	case f.Key:
		h.resetGOPLocked()
		h.gopOK = true
		h.gop = append(h.gop, f)
		h.gopBytes, h.gopCharge = f.Size, charge
		if charge > h.opts.GOPCacheBytes {
			h.gopOverflow()
		}
	case h.gopOK:
		if h.gopCharge+charge > h.opts.GOPCacheBytes || len(h.gop) >= h.opts.GOPCacheFrames {
			h.gopOverflow()
		} else {
			h.gop = append(h.gop, f)
			h.gopBytes += f.Size
			h.gopCharge += charge
		}
	}
	keyable := f.Key || !h.hasVideo
	for _, c := range h.consumers {
		if c.waitKey && !keyable {
			if !c.fresh {
				c.dropped.Add(1)
			}
			continue
		}
		select {
		case c.ch <- f:
			c.waitKey, c.fresh = false, false
			c.delivered.Add(1)
		default:
			c.waitKey = true
			c.dropped.Add(1)
		}
	}
}

// gopOverflow gives up caching this GOP: a partial GOP cannot be decoded,
// so new consumers wait for the next key frame instead.
func (h *Hub) gopOverflow() {
	h.gopOverflows.Add(1)
	h.resetGOPLocked()
}
