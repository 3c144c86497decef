package live

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// session is one viewer: its PeerConnection, its sender and its timers.
// supervise owns it; the Manager only signals it.
type session struct {
	id, camera, quality string
	feedKey             string // the feed's key: the camera, or camera#low for its substream
	noSub               bool   // low was asked for and the camera has no substream
	m                   *Manager
	f                   *feed     // nil for a playback
	play                *playback // nil for live video
	pc                  *webrtc.PeerConnection
	video, audio        *track
	vsender, asender    *webrtc.RTPSender
	ch                  choice
	created             time.Time
	st                  counters

	poke      chan struct{}  // the connection state changed
	renew     chan time.Time // a new end
	closeReq  chan struct{}  // closed by close
	closeOnce sync.Once
	done      chan struct{} // closed when supervise has cleaned up

	// cands carries the gateway's gathered candidates to trickle (nil
	// when the answer was complete); relayed notes a relay among them.
	cands   chan *webrtc.ICECandidate
	relayed atomic.Bool
	// restartMu serialises ICE restarts; generation counts them (the
	// WHEP ETag changes with each).
	restartMu  sync.Mutex
	generation atomic.Uint64

	mu          sync.Mutex
	expires     time.Time
	state       string
	connectedAt time.Time
	reason      string  // why it ended (or is ending)
	viewerRef   *viewer // the sender, once connected
}

// etag is the session's WHEP entity tag: a new one after each ICE restart.
func (s *session) etag() string {
	if g := s.generation.Load(); g > 0 {
		return fmt.Sprintf(`"%s-%d"`, s.id, g)
	}
	return `"` + s.id + `"`
}

func (s *session) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

func (s *session) close(reason string) {
	s.closeOnce.Do(func() {
		s.setReason(reason)
		close(s.closeReq)
	})
}

func (s *session) setReason(r string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == "" {
		s.reason = r
	}
}

func (s *session) setExpires(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expires = t
}

// supervise runs the session until it fails, is closed, expires or ctx
// ends, then tears it down: sender, RTCP readers, PeerConnection, feed.
func (s *session) supervise(ctx context.Context) {
	defer close(s.done)
	opts := &s.m.opts
	var wg sync.WaitGroup
	vctx, stopSender := context.WithCancel(ctx)
	senderDone := make(chan struct{})
	started := false
	defer func() {
		stopSender()
		if started {
			<-senderDone
		}
		_ = s.pc.Close()
		wg.Wait()
		s.m.release(s)
		s.mu.Lock()
		reason := s.reason
		s.state = "closed"
		s.mu.Unlock()
		if s.play != nil {
			s.play.release()
			s.publishEnd(reason)
		}
		s.m.log.Info("live session closed", "session", s.id, "camera", s.camera, "reason", reason,
			"bytes", s.st.bytes.Load(), "nacks", s.st.nacks.Load(), "plis", s.st.plis.Load(), "dropped", s.st.dropped.Load())
	}()
	for _, snd := range []*webrtc.RTPSender{s.vsender, s.asender} {
		if snd != nil {
			wg.Go(func() { s.readRTCP(snd) })
		}
	}
	connect := time.NewTimer(opts.ConnectTimeout)
	defer connect.Stop()
	s.mu.Lock()
	expiry := time.NewTimer(time.Until(s.expires))
	s.mu.Unlock()
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			s.setReason("live view stopped")
			return
		case <-s.closeReq:
			return
		case <-senderDone:
			s.setReason("the sender stopped: the camera's feed ended or the connection closed")
			return
		case <-connect.C:
			s.setReason("ICE/DTLS did not connect within " + opts.ConnectTimeout.String())
			return
		case <-expiry.C:
			s.setReason("reached its maximum length without live.renew")
			return
		case t := <-s.renew:
			expiry.Reset(time.Until(t))
		case <-s.poke:
			st := s.pc.ConnectionState()
			s.mu.Lock()
			s.state = st.String()
			if st == webrtc.PeerConnectionStateConnected && s.connectedAt.IsZero() {
				s.connectedAt = time.Now()
			}
			s.mu.Unlock()
			switch st {
			case webrtc.PeerConnectionStateConnected:
				connect.Stop()
				if !started && s.play != nil {
					started = true
					go func() {
						defer close(senderDone)
						s.play.run(vctx, s)
					}()
				}
				if !started {
					started = true
					v := newViewer(s.f, s.video, s.audio, s.ch.vcodec, s.ch.acodec, clockOf(s.ch.video), clockOf(s.ch.audio),
						opts.QueueUnits, pacing{rate: opts.CatchUpRate, spacing: opts.CatchUpSpacing, maxAge: opts.MaxCatchUpAge,
							pliEvery: opts.PLIInterval, maxBytes: opts.CacheBytes, playout: opts.playoutMode()}, &s.st, s.created)
					s.mu.Lock()
					s.viewerRef = v
					s.mu.Unlock()
					go func() {
						defer close(senderDone)
						v.run(vctx)
					}()
				}
			case webrtc.PeerConnectionStateFailed:
				s.setReason("connection failed (ICE or DTLS)")
				return
			case webrtc.PeerConnectionStateClosed:
				s.setReason("connection closed")
				return
			}
		}
	}
}

func clockOf(c *offered) uint32 {
	if c == nil {
		return 90000
	}
	return c.clock
}

// readRTCP reads a sender's RTCP until the connection closes: the NACK
// responder and the sender-report interceptor see every packet this way,
// and PLIs, FIRs and receiver reports are counted here.
func (s *session) readRTCP(snd *webrtc.RTPSender) {
	for {
		pkts, _, err := snd.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.st.plis.Add(1)
				s.mu.Lock()
				v := s.viewerRef
				s.mu.Unlock()
				if v != nil {
					v.askPicture()
				}
			case *rtcp.TransportLayerNack:
				for _, n := range p.Nacks {
					s.st.nacks.Add(uint64(len(n.PacketList())))
				}
			case *rtcp.ReceiverReport:
				s.receptionReports(p.Reports)
			}
		}
	}
}

// receptionReports takes the round trip from a viewer's report: now less
// the time of the sender report it refers to and the delay the viewer held it.
func (s *session) receptionReports(rs []rtcp.ReceptionReport) {
	for _, r := range rs {
		if s.video == nil || r.SSRC != s.videoSSRC() {
			continue
		}
		s.st.lossFraction.Store(uint32(r.FractionLost))
		if s.play != nil {
			s.play.received(r.LastSequenceNumber) // the end of a playback waits on it
		}
		if r.LastSenderReport == 0 {
			continue
		}
		now := ntpMiddle(time.Now())
		rtt := now - r.LastSenderReport - r.Delay // units of 1/65536 s
		if int32(rtt) >= 0 {
			s.st.rttMicros.Store(int64(rtt) * 1_000_000 / 65536)
		}
	}
}

func (s *session) videoSSRC() uint32 {
	_, ssrc, _, _, _ := s.video.binding()
	return ssrc
}

// ntpMiddle is the middle 32 bits of the NTP timestamp of t (RFC 3550 LSR).
func ntpMiddle(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32((secs<<32 | frac) >> 16)
}

// SessionStats are one session's figures for live.stats and /api/status.
type SessionStats struct {
	Session     string    `json:"session"`
	Camera      string    `json:"camera"`
	Quality     string    `json:"quality,omitempty"`
	State       string    `json:"state"`
	Started     time.Time `json:"started"`
	ConnectedAt time.Time `json:"connected_at,omitzero"`
	Expires     time.Time `json:"expires"`
	Video       string    `json:"video,omitempty"`
	Audio       string    `json:"audio,omitempty"`
	// Bytes and Packets are RTP sent (video and audio, headers included).
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	Frames  uint64 `json:"frames"`
	// AudioPackets counts audio packets sent.
	AudioPackets uint64 `json:"audio_packets"`
	// Dropped counts units lost to a full queue (the viewer fell behind);
	// Skipped video frames passed over waiting for a key frame.
	Dropped uint64 `json:"dropped"`
	Skipped uint64 `json:"skipped"`
	NACKs   uint64 `json:"nacks"`
	PLIs    uint64 `json:"plis"`
	// Replays counts PLIs answered with the cached GOP; PLIsIgnored those
	// inside the rate limit.
	Replays     uint64 `json:"replays"`
	PLIsIgnored uint64 `json:"plis_ignored"`
	// CatchUpFrames were fast-forwarded from the cache; Stills counts
	// starts from a lone cached key frame (the GOP was too old).
	CatchUpFrames uint64  `json:"catch_up_frames"`
	Stills        uint64  `json:"stills"`
	FirstFrameMs  float64 `json:"first_frame_ms,omitempty"`
	RTTMs         float64 `json:"rtt_ms,omitempty"`
	LossPercent   float64 `json:"loss_percent"`
	WriteErrors   uint64  `json:"write_errors,omitempty"`
	// Position is, for a playback, the recording time of the last frame sent.
	Position time.Time `json:"position,omitzero"`
	Reason   string    `json:"reason,omitempty"`
}

func (s *session) stats() SessionStats {
	s.mu.Lock()
	out := SessionStats{Session: s.id, Camera: s.camera, Quality: s.quality, State: s.state, Started: s.created,
		ConnectedAt: s.connectedAt, Expires: s.expires, Reason: s.reason}
	s.mu.Unlock()
	if out.State == "" {
		out.State = "new"
	}
	out.Video, out.Audio = string(s.ch.vcodec), string(s.ch.acodec)
	c := &s.st
	out.Bytes, out.Packets, out.Frames, out.AudioPackets = c.bytes.Load(), c.packets.Load(), c.frames.Load(), c.audio.Load()
	out.Dropped, out.Skipped, out.NACKs, out.PLIs = c.dropped.Load(), c.skipped.Load(), c.nacks.Load(), c.plis.Load()
	out.Replays, out.PLIsIgnored, out.CatchUpFrames, out.Stills = c.replays.Load(), c.ignored.Load(), c.catchUp.Load(), c.stills.Load()
	out.WriteErrors = c.writeErrors.Load()
	if s.play != nil {
		out.Position = time.Unix(0, s.play.pos.Load()).UTC()
	}
	if ff := c.firstFrame.Load(); ff > 0 {
		out.FirstFrameMs = float64(ff) / 1e6
	}
	if r := c.rttMicros.Load(); r > 0 {
		out.RTTMs = float64(r) / 1000
	}
	out.LossPercent = float64(c.lossFraction.Load()) * 100 / 256
	return out
}
