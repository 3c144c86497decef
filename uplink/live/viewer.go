package live

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antt-gateway/antt/device/camera"
)

// counters are a session's media figures, written by its sender and RTCP
// readers and read by Stats.
type counters struct {
	bytes, packets, frames, audio atomic.Uint64
	dropped, skipped              atomic.Uint64 // units lost to a full queue; video skipped waiting for a key frame
	nacks, plis, replays, ignored atomic.Uint64 // ignored: PLIs inside the replay interval
	catchUp, stills, writeErrors  atomic.Uint64
	firstFrame                    atomic.Int64 // ns from the session's start to its first video frame sent; 0 before
	rttMicros                     atomic.Int64
	lossFraction                  atomic.Uint32 // the viewer's last reported loss, /256
}

// pacing is how a viewer catches up with the live edge.
type pacing struct {
	rate     float64       // bytes per second for catch-up bursts
	spacing  time.Duration // the least time between two catch-up frames
	maxAge   time.Duration // a cached GOP spanning more is not fast-forwarded
	pliEvery time.Duration // the least time between two replays asked by PLI
	maxBytes int           // a catch-up backlog above this is abandoned
	playout  playoutMode   // whether catch-up frames ask the browser to show them at once
}

// playoutMode is how a viewer uses the RTP playout-delay extension
// (docs/live.md): not at all, min = max = 0 on the fast-forwarded frames
// and then the browser's defaults back on the live frames, or (measured
// only) 0/0 left in force, which Chrome keeps until told otherwise.
type playoutMode int

const (
	playoutOff playoutMode = iota
	playoutCatchUp
	playoutSticky
)

var (
	// playoutZero is min = max = 0: show each frame as soon as it is
	// decoded, whatever its timestamp.
	playoutZero = []byte{0, 0, 0}
	// playoutDefault is min 0, max 10 s (Chrome's own bounds): the jitter
	// buffer decides again.
	playoutDefault = []byte{0x00, 0x03, 0xe8}
)

// playoutRestore is how long after the live edge the live frames carry
// playoutDefault, so a lost packet cannot leave the viewer at 0/0.
const playoutRestore = 2 * time.Second

type mode int

const (
	modeWait    mode = iota // waiting for a key frame
	modeCatchUp             // sending the backlog, paced, re-timed to end at the live edge
	modeLive                // sending each unit as it comes
)

// viewer is one session's sender: a goroutine with a bounded queue fed by
// the camera's feed. The feed never waits for it; a viewer whose queue is
// full loses units until the next key frame.
type viewer struct {
	f            *feed
	video, audio *track
	vcodec       camera.Codec
	acodec       camera.Codec
	vclock       uint32
	aclock       uint32
	q            chan *unit
	pli          chan struct{}
	gone         chan struct{}
	goneOnce     sync.Once
	pace         pacing
	st           *counters
	start        time.Time

	// guarded by f.mu
	waitKey bool
}

func newViewer(f *feed, video, audio *track, vcodec, acodec camera.Codec, vclock, aclock uint32, queue int, p pacing, st *counters, start time.Time) *viewer {
	return &viewer{f: f, video: video, audio: audio, vcodec: vcodec, acodec: acodec, vclock: vclock, aclock: aclock,
		q: make(chan *unit, queue), pli: make(chan struct{}, 1), gone: make(chan struct{}), pace: p, st: st, start: start}
}

// offer runs on the feed's goroutine with f.mu held; it never blocks.
func (v *viewer) offer(u *unit) {
	switch {
	case u.kind == camera.Video && (v.video == nil || u.codec != v.vcodec):
		return
	case u.kind == camera.Audio && (v.audio == nil || u.codec != v.acodec):
		return
	}
	if v.waitKey && u.kind == camera.Video && !u.key {
		v.st.dropped.Add(1)
		return
	}
	select {
	case v.q <- u:
		if u.kind == camera.Video {
			v.waitKey = false
		}
	default:
		v.waitKey = true
		v.st.dropped.Add(1)
	}
}

func (v *viewer) feedGone() { v.goneOnce.Do(func() { close(v.gone) }) }

// askPicture is called for a PLI or FIR from the viewer.
func (v *viewer) askPicture() {
	select {
	case v.pli <- struct{}{}:
	default:
	}
}

// sender is the viewer goroutine's state.
type sender struct {
	*viewer
	mode      mode
	backlog   []*unit
	backlogB  int
	still     bool   // the backlog is a lone key frame: wait for the next one after it
	skipUpTo  uint64 // video units numbered up to this were replaced by a snapshot
	skipValid bool
	next      time.Time // when the next backlog unit may go

	vtl, atl       timeline
	vOff, aOff     uint32
	vEpoch, aEpoch uint64
	vSent, aSent   time.Time
	lastReplay     time.Time
	liveAt         time.Time // when the last catch-up ended (playoutRestore)
}

// run sends until ctx ends or the feed is gone.
func (v *viewer) run(ctx context.Context) {
	s := &sender{viewer: v}
	s.vtl.seq, s.atl.seq = uint16(rand.Uint32()), uint16(rand.Uint32())
	snap := v.f.join(v)
	defer v.f.leave(v)
	// The start is a replay of its own: a PLI sent by a decoder that has
	// not yet seen the fast-forwarded key frame waits out the interval.
	s.lastReplay = time.Now()
	s.startFrom(snap, s.lastReplay)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		var tick <-chan time.Time
		if s.mode == modeCatchUp && len(s.backlog) > 0 {
			d := time.Until(s.next)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-v.gone:
			return
		case u := <-v.q:
			if err := s.handle(u, time.Now()); err != nil {
				return
			}
		case <-tick:
			if err := s.sendHead(time.Now()); err != nil {
				return
			}
		case <-v.pli:
			now := time.Now()
			if !s.lastReplay.IsZero() && now.Sub(s.lastReplay) < v.pace.pliEvery {
				v.st.ignored.Add(1)
				continue
			}
			s.lastReplay = now
			v.st.replays.Add(1)
			s.startFrom(v.f.snapshot(), now)
		}
	}
}

// startFrom begins (again) from a cached GOP: the whole GOP fast-forwarded
// to the live edge, or only its key frame when the GOP is too old, or
// nothing (wait for the next key frame) when there is no usable cache.
// Cached audio is never sent: audio starts at the live edge.
func (s *sender) startFrom(snap []*unit, now time.Time) {
	s.backlog, s.backlogB, s.still = s.backlog[:0], 0, false
	s.mode = modeWait
	if s.video == nil || s.vcodec != camera.H264 {
		// H.265 comes as the camera's packets, several per picture: it
		// is not fast-forwarded (yet) and starts at the next key frame.
		return
	}
	for _, u := range snap {
		if u.kind == camera.Video && u.codec == s.vcodec {
			s.backlog = append(s.backlog, u)
			s.backlogB += u.size
		}
	}
	if len(s.backlog) == 0 || !s.backlog[0].key {
		s.backlog, s.backlogB = s.backlog[:0], 0
		return
	}
	last := s.backlog[len(s.backlog)-1]
	s.skipUpTo, s.skipValid = last.n, true
	if span := last.pts - s.backlog[0].pts; span > s.pace.maxAge || s.backlogB > s.pace.maxBytes {
		s.backlog = s.backlog[:1]
		s.backlogB = s.backlog[0].size
		s.still = true
		s.st.stills.Add(1)
	}
	s.mode = modeCatchUp
	s.next = now
}

// handle takes one live unit from the queue.
func (s *sender) handle(u *unit, now time.Time) error {
	if u.kind == camera.Audio {
		return s.sendAudio(u, now)
	}
	if s.skipValid && u.n <= s.skipUpTo {
		return nil // sent (or being sent) from the snapshot
	}
	switch s.mode {
	case modeWait:
		if !u.key {
			s.st.skipped.Add(1)
			return nil
		}
		s.mode = modeLive
		return s.sendVideo(u, now, true)
	case modeCatchUp:
		if s.still {
			// A lone key frame is going out; what follows it in the
			// camera's GOP cannot be decoded without the frames skipped.
			if u.key {
				s.backlog, s.backlogB, s.still = append(s.backlog[:0], u), u.size, false
			} else {
				s.st.skipped.Add(1)
			}
			return nil
		}
		if s.backlogB+u.size > s.pace.maxBytes {
			// Not catching up (the budget is below the stream's rate, or
			// the link stalls): give up the backlog and resume at a key frame.
			s.st.dropped.Add(uint64(len(s.backlog)) + 1)
			s.backlog, s.backlogB = s.backlog[:0], 0
			s.mode = modeWait
			return nil
		}
		s.backlog = append(s.backlog, u)
		s.backlogB += u.size
		return nil
	default:
		if u.epoch != s.vEpoch && !u.key {
			// A new camera session whose key frame this viewer lost.
			s.mode = modeWait
			s.st.skipped.Add(1)
			return nil
		}
		return s.sendVideo(u, now, u.epoch != s.vEpoch)
	}
}

// sendHead sends the next backlog unit and schedules the one after it by
// the byte budget.
func (s *sender) sendHead(now time.Time) error {
	u := s.backlog[0]
	s.backlog[0] = nil
	s.backlog = s.backlog[1:]
	s.backlogB -= u.size
	var pd []byte
	if s.pace.playout != playoutOff {
		pd = playoutZero
	}
	if err := s.sendVideoExt(u, now, true, pd); err != nil {
		return err
	}
	s.st.catchUp.Add(1)
	gap := time.Duration(float64(u.size) / s.pace.rate * float64(time.Second))
	s.next = now.Add(max(gap, s.pace.spacing))
	if len(s.backlog) == 0 {
		if s.still {
			s.still = false
			s.mode = modeWait
		} else {
			s.mode = modeLive
		}
		s.liveAt = now
	}
	return nil
}

// sendVideo writes a video unit. With rebase, its timestamp follows the
// send time (so a fast-forwarded GOP plays as fast as it arrives and ends
// at the live edge), and the camera-to-viewer offset is taken from it for
// the live frames after it.
func (s *sender) sendVideo(u *unit, now time.Time, rebase bool) error {
	var pd []byte
	if s.pace.playout == playoutCatchUp && !s.liveAt.IsZero() && now.Sub(s.liveAt) < playoutRestore {
		pd = playoutDefault
	}
	return s.sendVideoExt(u, now, rebase, pd)
}

// sendVideoExt is sendVideo with the playout delay pd on every packet
// (nil: none).
func (s *sender) sendVideoExt(u *unit, now time.Time, rebase bool, pd []byte) error {
	var ts uint32
	switch {
	case rebase && !s.vtl.any:
		ts = rand.Uint32()
		s.vOff = ts - u.rtp
	case rebase:
		step := ticks(now.Sub(s.vSent), s.vclock)
		ts = s.vtl.ts + max(step, ticks(s.pace.spacing, s.vclock), 1)
		s.vOff = ts - u.rtp
	default:
		ts = u.rtp + s.vOff
	}
	s.vEpoch, s.vSent = u.epoch, now
	n, err := s.video.write(&s.vtl, u, ts, pd)
	s.count(n, len(u.pkts), err)
	if err != nil {
		return fatal(err)
	}
	s.st.frames.Add(1)
	if s.st.firstFrame.Load() == 0 {
		s.st.firstFrame.Store(max(int64(now.Sub(s.start)), 1))
	}
	return nil
}

// sendAudio writes an audio packet at the live edge; a new camera session
// (or the first packet) rebases its timestamps on the send time.
func (s *sender) sendAudio(u *unit, now time.Time) error {
	var ts uint32
	switch {
	case !s.atl.any:
		ts = rand.Uint32()
		s.aOff = ts - u.rtp
	case u.epoch != s.aEpoch:
		ts = s.atl.ts + max(ticks(now.Sub(s.aSent), s.aclock), 1)
		s.aOff = ts - u.rtp
	default:
		ts = u.rtp + s.aOff
	}
	s.aEpoch, s.aSent = u.epoch, now
	n, err := s.audio.write(&s.atl, u, ts, nil)
	s.count(n, len(u.pkts), err)
	if err != nil {
		return fatal(err)
	}
	s.st.audio.Add(1)
	return nil
}

func (s *sender) count(bytes, pkts int, err error) {
	s.st.bytes.Add(uint64(bytes))
	if err == nil {
		s.st.packets.Add(uint64(pkts))
	} else {
		s.st.writeErrors.Add(1)
	}
}

// fatal keeps the errors that end the sender (the connection is gone) and
// drops the others (one packet that could not go).
func fatal(err error) error {
	if errors.Is(err, io.ErrClosedPipe) || errors.Is(err, errTrackUnbound) {
		return err
	}
	return nil
}

func ticks(d time.Duration, clock uint32) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(d.Seconds() * float64(clock))
}
