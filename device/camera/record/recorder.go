// Package record records cameras on the gateway: event clips with
// pre-roll, optional continuous one-minute segments, and the clip store on
// the data partition that keeps them within their bounds (docs/recording.md).
//
// A Recorder subscribes to its camera's hub and so keeps the camera pulled.
// It keeps the last PreRoll of video in memory (a ring starting at a key
// frame, bounded in bytes too). A Trigger (a sensor event listed in the
// camera's clip_on, an alarm) starts a clip with that ring and extends it
// PostRoll past the last trigger, up to MaxClip; the clip is fragmented MP4
// (device/camera/mp4), one fragment per GOP or per two seconds, fsynced
// each time. When a clip is complete OnClip receives its Info, which the
// gateway turns into a wire.KindClip event.
//
// The Store is what the uploader reads: List, Open and Info.
package record

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/mp4"
)

// Defaults for RecorderOptions left zero.
const (
	// DefaultPreRoll is what a clip holds before its event.
	DefaultPreRoll = 5 * time.Second
	// DefaultPostRoll is how long a clip goes on after the last trigger.
	DefaultPostRoll = 10 * time.Second
	// DefaultMaxClip bounds one clip; activity beyond it goes on in a new clip.
	DefaultMaxClip = 60 * time.Second
	// DefaultSegment is the length of a continuous segment.
	DefaultSegment = time.Minute
	// DefaultPreRollBytes bounds the pre-roll ring: 8 MiB holds 5 s plus a
	// long GOP of a 4 Mbit/s main stream.
	DefaultPreRollBytes = 8 << 20
	// NoPreRoll as RecorderOptions.PreRoll keeps no pre-roll beyond the
	// key frame a clip must start at (config pre_roll: 0s).
	NoPreRoll time.Duration = -1
)

// Modes of a Recorder.
const (
	ModeClips      = "clips"
	ModeContinuous = "continuous"
)

// Trigger asks for a clip around Time.
type Trigger struct {
	Time time.Time
	// Reason is ReasonEvent or ReasonAlarm; Upload UploadAuto or
	// UploadOnRequest. A clip triggered again keeps the strongest: alarm
	// over event, auto over on_request.
	Reason, Upload string
	// Seq returns the outbox seq of the causing event once it is stored
	// (0 before); it is asked when the clip completes. Nil means 0.
	Seq func() uint64
}

// RecorderOptions configures a Recorder.
type RecorderOptions struct {
	Camera string
	Hub    *camera.Hub
	Store  *Store
	// Mode is ModeClips (default) or ModeContinuous (segments all the time,
	// and event clips as well).
	Mode string
	// PreRoll is the video kept before a trigger (zero: DefaultPreRoll;
	// NoPreRoll: from the last key frame only). PostRoll and MaxClip are
	// measured both in media time and in the gateway's monotonic time,
	// whichever ends first: a camera's clock cannot stretch a clip.
	PreRoll, PostRoll, MaxClip time.Duration
	Segment                    time.Duration
	PreRollBytes               int
	// MaxFragment bounds a fragment's media (mp4.DefaultMaxFragment).
	MaxFragment time.Duration
	// OnClip receives each complete recording (clips and segments). It is
	// called from the recorder's goroutine and should not block for long.
	OnClip func(Info)
	Logger *slog.Logger
}

// Recorder records one camera. Run owns everything; Trigger may be called
// from any goroutine.
type Recorder struct {
	opt      RecorderOptions
	log      *slog.Logger
	triggers chan Trigger
	dropped  atomic.Uint64 // triggers dropped: the queue was full
	busy     atomic.Bool   // the queue is full (said once per spell)
}

// Dropped counts the triggers dropped because the recorder was busy.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// NewRecorder makes a recorder; nothing happens until Run.
func NewRecorder(opt RecorderOptions) *Recorder {
	if opt.PreRoll == 0 {
		opt.PreRoll = DefaultPreRoll
	}
	if opt.PostRoll <= 0 {
		opt.PostRoll = DefaultPostRoll
	}
	if opt.MaxClip <= 0 {
		opt.MaxClip = DefaultMaxClip
	}
	if opt.Segment <= 0 {
		opt.Segment = DefaultSegment
	}
	if opt.PreRollBytes <= 0 {
		opt.PreRollBytes = DefaultPreRollBytes
	}
	if opt.Mode == "" {
		opt.Mode = ModeClips
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Recorder{opt: opt, log: opt.Logger.With("camera", opt.Camera), triggers: make(chan Trigger, 64)}
}

// Trigger asks for a clip; it never blocks (a full queue drops the trigger:
// 64 pending means the recorder is stuck, and the clip under way already
// covers them).
func (r *Recorder) Trigger(t Trigger) {
	if t.Time.IsZero() {
		t.Time = time.Now()
	}
	select {
	case r.triggers <- t:
	default:
		r.dropped.Add(1)
		if !r.busy.Swap(true) {
			r.log.Warn("recording triggers dropped: recorder busy (said once until it catches up; see Dropped)")
		}
	}
}

// ringFrame is a frame with its arrival time (the wall clock the events
// share).
type ringFrame struct {
	f  *camera.HubFrame
	at time.Time
}

// ring is the pre-roll: frames from a key frame, the oldest GOPs dropped
// once a later key frame is at least PreRoll old.
type ring struct {
	frames []ringFrame
	bytes  int
}

func (g *ring) push(f ringFrame, preRoll time.Duration, maxBytes int) {
	if len(g.frames) == 0 && !f.f.Key {
		return
	}
	g.frames = append(g.frames, f)
	g.bytes += f.f.Size
	cut := f.at.Add(-preRoll)
	// Keep the last key frame at or before cut: drop everything before it.
	drop := 0
	for i := 1; i < len(g.frames); i++ {
		if g.frames[i].f.Key {
			if g.frames[i].at.After(cut) {
				break
			}
			drop = i
		}
	}
	for g.bytes > maxBytes {
		next := 0
		for i := drop + 1; i < len(g.frames); i++ {
			if g.frames[i].f.Key {
				next = i
				break
			}
		}
		if next == 0 {
			drop = len(g.frames) // one GOP over the bound: start again at the next key frame
			break
		}
		drop = next
		g.bytes = 0
		for _, x := range g.frames[drop:] {
			g.bytes += x.f.Size
		}
	}
	if drop > 0 {
		for _, x := range g.frames[:drop] {
			g.bytes -= x.f.Size
		}
		clear(g.frames[:drop])
		g.frames = append(g.frames[:0], g.frames[drop:]...)
		if len(g.frames) == 0 {
			g.bytes = 0
		}
	}
}

func (g *ring) reset() {
	clear(g.frames)
	g.frames, g.bytes = g.frames[:0], 0
}

// sink is one recording being written.
type sink struct {
	clip     *Clip
	w        *mp4.Writer
	start    time.Time     // arrival of its first frame
	pts      time.Duration // its first frame's PTS (lengths are measured in media time)
	epoch    uint64
	sps      []byte
	reason   string
	upload   string
	seq      func() uint64
	deadline time.Time // clips: PostRoll after the last trigger
	failed   bool
}

// Run records until ctx ends or the hub stops; clips under way are
// finished first.
func (r *Recorder) Run(ctx context.Context) error {
	c, err := r.opt.Hub.Subscribe()
	if err != nil {
		return err
	}
	defer c.Close()
	var (
		pre  ring
		clip *sink // event clip under way
		seg  *sink // continuous segment under way
		// want is a clip asked for with no pre-roll to start it (the
		// camera just connected) or going on after a cut (a new session,
		// MaxClip): it starts at the next key frame, until wantEnd.
		want    *Trigger
		wantEnd time.Time
		h265    bool
	)
	defer func() {
		r.finish(clip)
		r.finish(seg)
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-r.triggers:
			if len(r.triggers) == 0 && r.busy.Swap(false) {
				r.log.Info("recorder caught up with its triggers", "dropped_total", r.dropped.Load())
			}
			t.Time = arrival(t.Time, time.Now(), r.opt)
			switch {
			case clip != nil:
				clip.extend(t, r.opt)
			case want != nil:
				want.merge(t)
				wantEnd = later(wantEnd, t.Time.Add(r.opt.PostRoll))
			case len(pre.frames) > 0:
				// The clip starts with the pre-roll.
				if clip = r.open(t, t.Time.Add(r.opt.PostRoll), pre.frames[0]); clip != nil {
					for _, f := range pre.frames {
						r.write(clip, f)
					}
				}
			default:
				want, wantEnd = &t, t.Time.Add(r.opt.PostRoll)
			}
		case now := <-tick.C:
			// A camera that went silent must not keep a clip open forever.
			if clip != nil && now.After(clip.deadline.Add(r.opt.PostRoll)) {
				r.finish(clip)
				clip = nil
			}
			if want != nil && now.After(wantEnd) {
				want = nil
			}
		case f, ok := <-c.Frames():
			if !ok {
				return nil
			}
			if f.Codec != camera.H264 {
				if f.Codec == camera.H265 && !h265 {
					h265 = true
					r.log.Warn("camera sends H.265: not recorded (browsers cannot play it); set the camera to H.264")
				}
				continue
			}
			rf := ringFrame{f: f, at: time.Now()}
			pre.push(rf, r.opt.PreRoll, r.opt.PreRollBytes)
			if f.Key {
				// A new session or new parameter sets start new files, and
				// so does a clip reaching MaxClip while activity goes on.
				if clip != nil && (clip.changed(f) || clip.longer(rf, r.opt.MaxClip)) {
					if clip.deadline.After(rf.at) {
						t := clip.trigger()
						want, wantEnd = &t, clip.deadline
					}
					r.finish(clip)
					clip = nil
				}
				if seg != nil && (seg.changed(f) || seg.longer(rf, r.opt.Segment)) {
					r.finish(seg)
					seg = nil
				}
				if want != nil && clip == nil {
					clip = r.open(*want, wantEnd, rf)
					want = nil
				}
				if seg == nil && r.opt.Mode == ModeContinuous {
					seg = r.open(Trigger{Reason: ReasonContinuous, Upload: UploadOnRequest}, time.Time{}, rf)
				}
			}
			if clip != nil {
				if rf.at.After(clip.deadline) {
					r.finish(clip)
					clip = nil
				} else {
					r.write(clip, rf)
				}
			}
			if seg != nil {
				r.write(seg, rf)
			}
		}
	}
}

// arrival is the time a trigger stamped at is taken at, received now: a
// time in the future, or older than the pre-roll and post-roll together,
// is a wrong clock (a sensor's, or the gateway's before NTP) and becomes
// now. Kept, the first would stretch the clip to MaxClip after MaxClip
// until that day, the second leave only the pre-roll.
func arrival(at, now time.Time, o RecorderOptions) time.Time {
	if at.After(now) || at.Before(now.Add(-max(o.PreRoll, 0)-o.PostRoll)) {
		return now
	}
	return at
}

// longer tells whether the recording reached d at key frame f, in media
// time or in the gateway's (monotonic) time: a camera whose clock stalls
// or jumps back must not make a file that never ends.
func (s *sink) longer(f ringFrame, d time.Duration) bool {
	return f.f.PTS-s.pts >= d || f.at.Sub(s.start) >= d
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// open starts a recording at key frame first, ending at deadline (clips).
func (r *Recorder) open(t Trigger, deadline time.Time, first ringFrame) *sink {
	start := first.at
	sps, pps := paramSets(first.f.NALUs)
	if sps == nil || pps == nil {
		if tr := r.videoTrack(); tr != nil {
			sps, pps = tr.SPS, tr.PPS
		}
	}
	if sps == nil || pps == nil {
		r.log.Warn("recording not started: no SPS/PPS known yet")
		return nil
	}
	if t.Reason == "" {
		t.Reason = ReasonEvent
	}
	if t.Upload == "" {
		t.Upload = UploadOnRequest
	}
	c, err := r.opt.Store.Create(CreateOptions{Camera: r.opt.Camera, Start: start, Reason: t.Reason, Upload: t.Upload})
	if err != nil {
		r.log.Error("recording not started", "reason", t.Reason, "err", err)
		return nil
	}
	s := &sink{clip: c, start: start, pts: first.f.PTS, epoch: first.f.Epoch, sps: sps, reason: t.Reason, upload: t.Upload, seq: t.Seq,
		deadline: deadline}
	w, err := mp4.NewWriter(c, mp4.Track{SPS: sps, PPS: pps}, mp4.WriterOptions{
		MaxFragment: r.opt.MaxFragment,
		AfterFragment: func() error {
			return c.Sync(s.w.Frames(), s.w.Duration())
		},
	})
	if err != nil {
		r.log.Error("recording not started", "err", err)
		_, _ = c.Finish(0, 0)
		return nil
	}
	s.w = w
	r.log.Info("recording", "clip", c.ID(), "reason", t.Reason)
	return s
}

func (r *Recorder) videoTrack() *camera.Track {
	for _, t := range r.opt.Hub.Tracks() {
		if t.Kind == camera.Video && t.Codec == camera.H264 {
			return &t
		}
	}
	return nil
}

func paramSets(nalus [][]byte) (sps, pps []byte) {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case h264.NALSPS:
			sps = n
		case h264.NALPPS:
			pps = n
		}
	}
	return sps, pps
}

// changed tells whether key frame f starts a stream the sink's file cannot
// hold: a new session (PTS restarts) or new parameter sets.
func (s *sink) changed(f *camera.HubFrame) bool {
	if f.Epoch != s.epoch {
		return true
	}
	sps, _ := paramSets(f.NALUs)
	return sps != nil && !bytes.Equal(sps, s.sps)
}

// trigger is what a clip going on in a new file inherits.
func (s *sink) trigger() Trigger {
	return Trigger{Time: s.deadline, Reason: s.reason, Upload: s.upload, Seq: s.seq}
}

// merge takes the stronger reason and upload policy of o into t.
func (t *Trigger) merge(o Trigger) {
	if o.Reason == ReasonAlarm {
		t.Reason = ReasonAlarm
	}
	if o.Upload == UploadAuto {
		t.Upload = UploadAuto
	}
	if t.Seq == nil {
		t.Seq = o.Seq
	}
}

// extend moves the clip's end to PostRoll after t (MaxClip cuts it into
// files) and takes the stronger reason and upload policy.
func (s *sink) extend(t Trigger, o RecorderOptions) {
	s.deadline = later(s.deadline, t.Time.Add(o.PostRoll))
	cur := Trigger{Reason: s.reason, Upload: s.upload, Seq: s.seq}
	cur.merge(t)
	s.reason, s.upload, s.seq = cur.Reason, cur.Upload, cur.Seq
}

func (r *Recorder) write(s *sink, f ringFrame) {
	if s.failed {
		return
	}
	if err := s.w.WriteFrame(f.f.PTS, f.f.Key, f.f.NALUs); err != nil {
		s.failed = true
		if errors.Is(err, ErrStoreFull) {
			r.log.Warn("recording cut short: no room left", "clip", s.clip.ID())
		} else {
			r.log.Error("recording failed; keeping what was written", "clip", s.clip.ID(), "err", err)
		}
	}
}

// finish closes s and hands the complete clip to OnClip.
func (r *Recorder) finish(s *sink) {
	if s == nil {
		return
	}
	if !s.failed {
		if err := s.w.Close(); err != nil {
			r.log.Error("recording's last fragment not written", "clip", s.clip.ID(), "err", err)
		}
	}
	s.clip.SetMeta(s.reason, s.upload, s.seqValue())
	info, err := s.clip.Finish(s.w.Frames(), s.w.Duration())
	if err != nil {
		r.log.Warn("recording dropped", "clip", s.clip.ID(), "err", err)
		return
	}
	r.log.Info("recording complete", "clip", info.ID, "duration", info.Duration, "bytes", info.Bytes)
	if r.opt.OnClip != nil {
		r.opt.OnClip(info)
	}
}

func (s *sink) seqValue() uint64 {
	if s.seq == nil {
		return 0
	}
	return s.seq()
}
