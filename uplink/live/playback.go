package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/mp4/demux"
	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Playback: a session that plays a camera's recordings (continuous
// segments and event clips from the record store) instead of its live
// stream, over the same WebRTC path, so that an officer at the station
// skims hours of a gate over prepaid 4G paying only for what is watched.
// It starts at the key frame at or before the asked time, is paced in
// real time by the samples' timestamps (or 2× or 4×), can jump (Seek), and
// closes by itself at the end of the range. Like a live viewer it has its
// own SSRC, sequence numbers and timestamps, and its bytes are counted.

// Recordings is what playback reads: record.Store satisfies it.
type Recordings interface {
	List(camera string, from, to time.Time) ([]record.Info, error)
	Open(id string) (*record.ClipReader, record.Info, error)
}

// ErrNoRecording reports a playback asked for a time no recording covers,
// or a gateway that records nothing.
var ErrNoRecording = errors.New("no recording")

// ErrNotPlayback reports a live.seek on a session that shows live video.
var ErrNotPlayback = errors.New("not a playback session")

// Playback limits.
const (
	// maxPlayGap: a step between two samples longer than this (a gap
	// between recordings, a seek) is sent as one frame's step, not waited.
	maxPlayGap = 2 * time.Second
	// defaultStep is the step taken over a gap when no frame rate is known.
	defaultStep = 40 * time.Millisecond
	// nextSlack: at the end of a file, a recording starting this soon
	// after it is its continuation (not one holding the time from earlier).
	nextSlack = time.Second
	// endAckWait bounds how long the end of a playback waits for the
	// viewer's receiver report to cover the last packet sent. Closing at
	// once sends DTLS close_notify right behind the last frame, and a
	// viewer closes on it before reading the packets still in its socket
	// and SRTP buffers (pion does; so may a browser on a busy phone): the
	// last frame, the last second an officer reviews, was lost. Receivers
	// report about once a second (pion's default, Chromium's for video);
	// a viewer that never reports is closed at this bound.
	endAckWait = 3 * time.Second
)

// CmdSeek jumps a playback session (docs/protocol.md).
const CmdSeek = "live.seek"

// ReasonRangeEnd and ReasonRecordingsEnd are the close reasons of a
// playback that played all it was asked to.
const (
	ReasonRangeEnd      = "playback reached the end of the asked range"
	ReasonRecordingsEnd = "playback reached the end of the recordings"
)

// playback is a session's recording side. The cursor is owned by whoever
// holds it: the offer until the sender starts, then the sender; Seek hands
// the sender a new one through seekc.
type playback struct {
	rec    Recordings
	camera string
	to     time.Time // zero: open
	speed  int
	start  *cursor
	pos    atomic.Int64 // unix ns of the last sample sent

	mu     sync.Mutex
	seekc  chan *cursor // one pending seek; sent and drained under mu
	closed bool         // released: a seek now closes its cursor
	first  *demux.File  // the first file's index (its SPS/PPS answer the offer)

	// acked is the highest sequence number the viewer reported received
	// (low 16 bits) with bit 16 set once it reported any; ackc is poked
	// on each report. The end of the playback waits on them.
	acked atomic.Uint32
	ackc  chan struct{}
}

// cursor is a position in the camera's recordings: one open file and the
// next sample in it.
type cursor struct {
	info  record.Info
	rd    *record.ClipReader
	file  *demux.File
	i     int
	start time.Time // the asked time (for the reply)
}

func (c *cursor) close() {
	if c != nil && c.rd != nil {
		_ = c.rd.Close()
		c.rd = nil
	}
}

// at is the wall time of sample i.
func (c *cursor) at(i int) time.Time { return c.info.Start.Add(c.file.Samples[i].PTS) }

// end is the wall time after the file's last sample.
func (c *cursor) end() time.Time {
	if n := len(c.file.Samples); n > 0 {
		s := c.file.Samples[n-1]
		return c.info.Start.Add(s.DTS + s.Duration)
	}
	return c.info.Start
}

// locate finds the recording holding t (continuous segments before
// clips), or the first one after t, and its key frame at or before t. A
// recording starting within slack after t counts as holding it (the next
// segment starts a frame after the last one ends). skip holds the
// recordings not to choose (those played to their end: two overlapping
// recordings cut short, each "holding" the other's end by its index, would
// otherwise be played in turn for ever). A recording that
// cannot be read is logged and passed over.
func (m *Manager) locate(rec Recordings, cam string, t, to time.Time, slack time.Duration, skip map[string]bool) (*cursor, error) {
	list, err := rec.List(cam, t, to)
	if err != nil {
		return nil, fmt.Errorf("live: list recordings of %s: %w", cam, err)
	}
	bad := map[string]bool{}
	for id := range skip {
		bad[id] = true
	}
	for range 8 {
		var best *record.Info
		for i := range list {
			in := &list[i]
			if bad[in.ID] || in.Frames == 0 || !in.Start.Add(in.Duration).After(t) {
				continue
			}
			holds := !in.Start.After(t.Add(slack))
			bestHolds := best != nil && !best.Start.After(t.Add(slack))
			switch {
			case best == nil:
				best = in
			case holds && !bestHolds: // holding t beats starting later
				best = in
			case holds && in.Reason == record.ReasonContinuous && best.Reason != record.ReasonContinuous:
				best = in
			case !holds && !bestHolds && in.Start.Before(best.Start):
				best = in
			}
		}
		if best == nil {
			break
		}
		c, err := openCursor(rec, best.ID, t)
		if err == nil {
			return c, nil
		}
		m.log.Warn("live: playback passes over a recording it cannot read", "recording", best.ID, "err", err)
		bad[best.ID] = true
	}
	return nil, fmt.Errorf("%w of camera %s at or after %s", ErrNoRecording, cam, t.UTC().Format(time.RFC3339))
}

// openCursor opens recording id at its key frame at or before t.
func openCursor(rec Recordings, id string, t time.Time) (*cursor, error) {
	rd, info, err := rec.Open(id)
	if err != nil {
		return nil, fmt.Errorf("live: open recording %s: %w", id, err)
	}
	f, err := demux.Open(rd, rd.Size())
	if err != nil {
		_ = rd.Close()
		return nil, fmt.Errorf("live: read recording %s: %w", id, err)
	}
	k := f.KeyAt(t.Sub(info.Start))
	if k < 0 {
		_ = rd.Close()
		return nil, fmt.Errorf("live: recording %s has no key frame", id)
	}
	return &cursor{info: info, rd: rd, file: f, i: k, start: t}, nil
}

// newPlayback locates the start of a playback.
func (m *Manager) newPlayback(req OfferRequest) (*playback, error) {
	if m.opts.Recordings == nil {
		return nil, fmt.Errorf("%w: this gateway records no camera", ErrNoRecording)
	}
	speed := req.Speed
	if speed == 0 {
		speed = 1
	}
	c, err := m.locate(m.opts.Recordings, req.Camera, req.From, req.To, 0, nil)
	if err != nil {
		return nil, err
	}
	p := &playback{rec: m.opts.Recordings, camera: req.Camera, to: req.To, speed: speed, start: c, seekc: make(chan *cursor, 1), first: c.file,
		ackc: make(chan struct{}, 1)}
	p.pos.Store(c.at(c.i).UnixNano())
	return p, nil
}

// tracks are what the offer is answered for: the recording's H.264.
func (p *playback) tracks() []camera.Track {
	return []camera.Track{{Kind: camera.Video, Codec: camera.H264, ClockRate: 90000, SPS: p.first.SPS, PPS: p.first.PPS,
		Width: p.first.Width, Height: p.first.Height, BrowserPlayable: true}}
}

// received notes a receiver report of the video: ehsn is its extended
// highest sequence number received (RFC 3550 6.4.1). Called from the
// session's RTCP reader.
func (p *playback) received(ehsn uint32) {
	p.acked.Store(1<<16 | ehsn&0xffff)
	select {
	case p.ackc <- struct{}{}:
	default:
	}
}

// hasReceived says whether the viewer reported receiving packet seq (or a
// later one).
func (p *playback) hasReceived(seq uint16) bool {
	a := p.acked.Load()
	return a&(1<<16) != 0 && int16(uint16(a)-seq) >= 0
}

// release closes whatever cursor is left (the sender never ran, or a seek
// was not taken); a later Seek is refused.
func (p *playback) release() {
	p.start.close()
	p.start = nil
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	select {
	case c := <-p.seekc:
		c.close()
	default:
	}
}

// Seek makes a playback session's next frame the key frame at or before
// t (or the first recording after t); the timestamps the viewer sees go
// on from where they were. It returns the time of that key frame.
func (m *Manager) Seek(id string, t time.Time) (time.Time, error) {
	s, err := m.lookup(id)
	if err != nil {
		return time.Time{}, err
	}
	p := s.play
	if p == nil {
		return time.Time{}, fmt.Errorf("%w: session %s shows live video", ErrNotPlayback, id)
	}
	if !p.to.IsZero() && t.After(p.to) {
		return time.Time{}, fmt.Errorf("%w: %s is after the session's end %s", ErrNoRecording,
			t.UTC().Format(time.RFC3339), p.to.UTC().Format(time.RFC3339))
	}
	c, err := m.locate(p.rec, p.camera, t, p.to, 0, nil)
	if err != nil {
		return time.Time{}, err
	}
	at := c.at(c.i)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.close()
		return time.Time{}, fmt.Errorf("%w %q (it just ended)", ErrUnknownSession, id)
	}
	select {
	case old := <-p.seekc: // an older seek not yet taken: this one replaces it
		old.close()
	default:
	}
	p.seekc <- c // room: only senders under mu fill it
	return at, nil
}

// run sends the recording until its end, ctx ends, or the connection
// goes. The first sample sent is the located key frame.
func (p *playback) run(ctx context.Context, s *session) {
	c := p.start
	p.start = nil
	defer func() { c.close() }()
	var tl timeline
	tl.seq = uint16(rand.Uint32())
	ts0 := rand.Uint32()
	var (
		t0       = time.Now()
		elapsed  time.Duration // media sent so far, at the playback's speed
		prev     time.Time     // wall time (in the recording) of the last sample
		step     = defaultStep
		jump     = true // the next sample starts anew (first, seek, next file)
		buf      []byte
		timer    = time.NewTimer(time.Hour)
		lastSPS  []byte
		lastSent bool
		played   = map[string]bool{} // recordings played to their end (since the last seek)
	)
	defer timer.Stop()
	// finish ends the playback once the last frame sent has had its
	// time on screen and the viewer has reported receiving its last
	// packet (or endAckWait passed): closing the session before that
	// loses the frame (see endAckWait). Until then lost packets are
	// still resent on NACK.
	finish := func(reason string) {
		if lastSent {
			timer.Reset(time.Until(t0.Add(elapsed + step/time.Duration(p.speed))))
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			last := tl.seq - 1
			timer.Reset(endAckWait)
		wait:
			for !p.hasReceived(last) {
				select {
				case <-ctx.Done():
					return
				case <-p.ackc:
				case <-timer.C:
					s.m.log.Info("live: playback ends without the viewer reporting its last frame", "session", s.id, "waited", endAckWait)
					break wait
				}
			}
		}
		s.setReason(reason)
	}
	for {
		// Next sample, across files.
		for c.i >= len(c.file.Samples) {
			end := c.end()
			if !p.to.IsZero() && !end.Before(p.to) {
				finish(ReasonRangeEnd)
				return
			}
			played[c.info.ID] = true
			next, err := s.m.locate(p.rec, p.camera, end, p.to, nextSlack, played)
			if err != nil {
				if errors.Is(err, ErrNoRecording) {
					finish(ReasonRecordingsEnd)
				} else {
					s.setReason("playback stopped: " + err.Error())
				}
				return
			}
			c.close()
			c, jump = next, true
		}
		smp := c.file.Samples[c.i]
		wall := c.at(c.i)
		if !p.to.IsZero() && wall.After(p.to) {
			finish(ReasonRangeEnd)
			return
		}
		d := wall.Sub(prev)
		switch {
		case !lastSent:
			d = 0
		case jump || d <= 0 || d > maxPlayGap:
			d = step
		default:
			step = d
		}
		inc := d / time.Duration(p.speed)
		elapsed += inc
		timer.Reset(time.Until(t0.Add(elapsed)))
		select {
		case <-ctx.Done():
			return
		case nc := <-p.seekc:
			c.close()
			c, jump = nc, true
			clear(played)  // a seek may go back over them
			elapsed -= inc // this sample was not sent
			continue
		case <-timer.C:
		}
		var err error
		if buf, err = c.file.ReadSample(c.i, buf); err != nil {
			// The file was cut under its index (or the card fails): go on
			// with the next recording.
			s.m.log.Warn("live: playback leaves a recording it cannot read", "session", s.id, "recording", c.info.ID, "err", err)
			c.i = len(c.file.Samples)
			continue
		}
		c.i++
		nalus, err := demux.NALUs(buf, c.file.LengthSize)
		if err != nil {
			s.m.log.Warn("live: playback skips a bad sample", "session", s.id, "recording", c.info.ID, "err", err)
			continue
		}
		if jump && !smp.Key {
			continue // only a key frame starts a picture
		}
		sps, pps := c.file.SPS, c.file.PPS
		u := &unit{kind: camera.Video, codec: camera.H264, key: smp.Key, marker: true, pts: smp.PTS,
			pkts: packetizeH264(nalus, smp.Key || !sameBytes(sps, lastSPS), sps, pps, MaxPayload)}
		lastSPS = sps
		ts := ts0 + uint32(ticks90k(elapsed)) + uint32(ticks90k((smp.PTS-smp.DTS)/time.Duration(p.speed)))
		n, werr := s.video.write(&tl, u, ts, nil)
		s.st.bytes.Add(uint64(n))
		if werr != nil {
			s.st.writeErrors.Add(1)
			if fatal(werr) != nil {
				return
			}
		} else {
			s.st.packets.Add(uint64(len(u.pkts)))
			s.st.frames.Add(1)
			if s.st.firstFrame.Load() == 0 {
				s.st.firstFrame.Store(max(int64(time.Since(s.created)), 1))
			}
		}
		prev, jump, lastSent = wall, false, true
		p.pos.Store(wall.UnixNano())
	}
}

func sameBytes(a, b []byte) bool { return string(a) == string(b) }

// ticks90k converts d to the 90 kHz clock without overflow.
func ticks90k(d time.Duration) int64 {
	return int64(d/time.Second)*90000 + int64(d%time.Second)*90000/int64(time.Second)
}

// publishEnd tells the viewer over MQTT why a playback session closed
// ({prefix}/{gateway}/live/{session}/end), when there is an uplink.
func (s *session) publishEnd(reason string) {
	pub := s.m.opts.Publish
	if pub == nil {
		return
	}
	b, err := json.Marshal(wire.LiveEndMsg{Session: s.id, Reason: reason})
	if err != nil {
		return
	}
	s.m.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := pub(ctx, wire.LiveEndLevels(s.id), 1, b); err != nil {
			s.m.log.Warn("live: publish the end of a playback", "session", s.id, "err", err)
		}
	})
}

// parseTime reads an RFC 3339 time argument.
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf(`argument %q: %.40q is not an RFC 3339 time (like 2026-12-02T08:30:00+07:00)`, name, v)
	}
	return t, nil
}

// checkRange checks a playback's from, to and speed.
func checkRange(from, to time.Time, speed int) error {
	switch {
	case from.IsZero() && !to.IsZero():
		return errors.New(`argument "to" needs "from"`)
	case from.IsZero() && speed != 0:
		return errors.New(`argument "speed" needs "from"`)
	case !to.IsZero() && !to.After(from):
		return errors.New(`argument "to" is not after "from"`)
	}
	switch speed {
	case 0, 1, 2, 4:
	default:
		return fmt.Errorf(`argument "speed": %d, want 1, 2 or 4`, speed)
	}
	return nil
}

type seekArgs struct {
	Session string `json:"session"`
	Time    string `json:"time"`
}

func decodeSeek(args json.RawMessage) (string, time.Time, error) {
	var a seekArgs
	if err := uplink.DecodeArgs(args, &a); err != nil {
		return "", time.Time{}, err
	}
	if err := checkSessionID(a.Session); err != nil {
		return "", time.Time{}, err
	}
	if a.Time == "" {
		return "", time.Time{}, errors.New(`missing argument "time"`)
	}
	t, err := parseTime("time", a.Time)
	return a.Session, t, err
}

func (m *Manager) handleSeek(_ context.Context, args json.RawMessage) (any, error) {
	id, t, err := decodeSeek(args)
	if err != nil {
		return nil, err
	}
	at, err := m.Seek(id, t)
	if err != nil {
		return nil, err
	}
	return map[string]string{"time": at.UTC().Format(time.RFC3339Nano)}, nil
}
