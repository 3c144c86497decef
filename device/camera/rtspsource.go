package camera

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/rtsp"
	"github.com/pion/rtp"
)

// rtspSource adapts an rtsp.Client to Source: it parses RTP headers,
// depacketises H.264 and stamps frames. Everything on the packet path
// reuses buffers, so a steady stream allocates nothing.
type rtspSource struct {
	c *rtsp.Client

	mu     sync.Mutex // guards tracks (Tracks may be called during Run)
	tracks []Track

	st    []trackState // by rtsp track number
	cnt   counters
	hdr   rtp.Header
	frame Frame
	h     Handler
}

type trackState struct {
	idx    int // index in tracks
	codec  Codec
	rate   int64
	dep    *h264.Depacketizer
	spsGen uint64
	// timestamp unwrapping
	started bool
	last    uint32
	ext     int64
}

func openRTSP(ctx context.Context, rawURL string, opts Options) (Source, error) {
	c, err := rtsp.Dial(ctx, rawURL, rtspConfig(opts))
	if err != nil {
		return nil, err
	}
	s := &rtspSource{c: c}
	if err := s.start(ctx, opts); err != nil {
		_ = c.Close()
		return nil, err
	}
	return s, nil
}

func (s *rtspSource) start(ctx context.Context, opts Options) error {
	if err := s.c.Options(ctx); err != nil {
		return err
	}
	d, err := s.c.Describe(ctx)
	if err != nil {
		return err
	}
	var video, audio *rtsp.Media
	var skipped []string
	for i := range d.Medias {
		m := &d.Medias[i]
		switch {
		case m.Type == "video" && (m.Codec == "H264" || m.Codec == "H265") && video == nil:
			video = m
		case m.Type == "audio" && (m.Codec == "PCMA" || m.Codec == "PCMU") && audio == nil && !opts.NoAudio:
			audio = m
		default:
			skipped = append(skipped, m.Type+"/"+m.Codec)
		}
	}
	if video == nil && audio == nil {
		return fmt.Errorf("%w at %s (offered: %s)", ErrNoMedia, s.c.URL(), strings.Join(skipped, ", "))
	}
	for _, m := range []*rtsp.Media{video, audio} {
		if m == nil {
			continue
		}
		if err := s.setup(ctx, *m); err != nil {
			return err
		}
	}
	return s.c.Play(ctx)
}

func (s *rtspSource) setup(ctx context.Context, m rtsp.Media) error {
	t := Track{Codec: Codec(m.Codec), ClockRate: m.ClockRate, Channels: m.Channels, BrowserPlayable: true}
	ts := trackState{codec: t.Codec, rate: int64(m.ClockRate)}
	switch t.Codec {
	case H264:
		t.Kind = Video
		sps, pps, err := h264.ParseSpropParameterSets(m.FMTP["sprop-parameter-sets"])
		if err != nil {
			// In-band parameter sets will do; the SDP's are only a head start.
			sps, pps = nil, nil
		}
		ts.dep = h264.NewDepacketizer(sps, pps, nil)
		if mode := m.FMTP["packetization-mode"]; mode == "2" {
			return fmt.Errorf("camera: %s: H.264 packetization-mode 2 (interleaved) is not supported", s.c.URL())
		}
	case H265:
		t.Kind = Video
		t.BrowserPlayable = false
		t.Note = "H.265: passed through as received; browsers may not play it — set the camera to H.264 for live view"
	default:
		t.Kind = Audio
	}
	n, err := s.c.Setup(ctx, m)
	if err != nil {
		return err
	}
	for len(s.st) <= n {
		s.st = append(s.st, trackState{})
	}
	ts.idx = len(s.tracks)
	s.st[n] = ts
	s.tracks = append(s.tracks, t)
	if ts.dep != nil {
		s.refreshSPS(&s.st[n])
	}
	return nil
}

// refreshSPS copies what the SPS says into the public track description.
func (s *rtspSource) refreshSPS(ts *trackState) {
	ts.spsGen = ts.dep.SPSGeneration()
	info, ok := ts.dep.SPS()
	sps, pps := ts.dep.ParameterSets()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &s.tracks[ts.idx]
	t.SPS = append([]byte(nil), sps...)
	t.PPS = append([]byte(nil), pps...)
	if ok {
		t.Width, t.Height, t.FrameRate = info.Width, info.Height, info.FrameRate
	}
}

func (s *rtspSource) Tracks() []Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Track, len(s.tracks))
	copy(out, s.tracks)
	return out
}

func (s *rtspSource) Run(ctx context.Context, h Handler) error {
	s.h = h
	for i := range s.st {
		ts := &s.st[i]
		if ts.dep != nil {
			ts.dep.Emit = func(au *h264.AccessUnit) { s.emitAU(ts, au) }
		}
	}
	return s.c.Run(ctx, s.packet)
}

func (s *rtspSource) packet(p rtsp.Packet) {
	if p.RTCP || p.Track >= len(s.st) {
		return
	}
	s.cnt.packets.Add(1)
	n, err := s.hdr.Unmarshal(p.Data)
	if err != nil || n > len(p.Data) {
		s.cnt.badRTP.Add(1)
		return // not RTP; a camera's garbage must not stop the stream
	}
	payload := p.Data[n:]
	if s.hdr.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			return
		}
		payload = payload[:len(payload)-int(payload[len(payload)-1])]
	}
	ts := &s.st[p.Track]
	switch ts.codec {
	case H264:
		// Damage is counted and resynchronised on the next IDR.
		_ = ts.dep.Push(&s.hdr, payload)
		st := ts.dep.Stats()
		s.cnt.lost.Store(st.Lost)
		s.cnt.badH264.Store(st.Malformed)
		s.cnt.dropped.Store(st.DroppedAUs)
		if ts.dep.SPSGeneration() != ts.spsGen {
			s.refreshSPS(ts)
		}
	case H265:
		if len(payload) < 2 {
			// Not even the payload header (RFC 7798 §1.1.4): nothing to
			// pass on, and it would cost every consumer a queue slot.
			s.cnt.badRTP.Add(1)
			return
		}
		s.frame = Frame{Track: ts.idx, Codec: H265, PTS: ts.pts(s.hdr.Timestamp), RTPTime: s.hdr.Timestamp,
			Key: h265Key(payload), Payload: payload, Marker: s.hdr.Marker}
		s.cnt.frames.Add(1)
		s.h(&s.frame)
	default:
		if len(payload) == 0 {
			return
		}
		s.frame = Frame{Track: ts.idx, Codec: ts.codec, PTS: ts.pts(s.hdr.Timestamp), RTPTime: s.hdr.Timestamp,
			Payload: payload, Marker: s.hdr.Marker}
		s.cnt.frames.Add(1)
		s.h(&s.frame)
	}
}

func (s *rtspSource) emitAU(ts *trackState, au *h264.AccessUnit) {
	if au.Key && ts.dep.SPSGeneration() != ts.spsGen {
		s.refreshSPS(ts)
	}
	s.frame = Frame{Track: ts.idx, Codec: H264, PTS: ts.pts(au.RTPTime), RTPTime: au.RTPTime, Key: au.Key, NALUs: au.NALUs, Marker: true}
	s.cnt.frames.Add(1)
	s.h(&s.frame)
}

// pts unwraps 32-bit RTP timestamps into time since the track's first frame.
func (ts *trackState) pts(rtpTime uint32) time.Duration {
	if !ts.started {
		ts.started, ts.last = true, rtpTime
		return 0
	}
	ts.ext += int64(int32(rtpTime - ts.last))
	ts.last = rtpTime
	// Split so ext*1e9 cannot overflow (it would after a day at 90 kHz).
	sec, rem := ts.ext/ts.rate, ts.ext%ts.rate
	return time.Duration(sec)*time.Second + time.Duration(rem*int64(time.Second)/ts.rate)
}

// h265Key reports whether an H.265 RTP payload starts an IRAP picture
// (NAL types 16–21), looking inside aggregation (48) and fragmentation
// (49, start fragment) packets.
func h265Key(p []byte) bool {
	if len(p) < 3 {
		return false
	}
	t := (p[0] >> 1) & 0x3f
	switch t {
	case 48:
		if len(p) < 5 {
			return false
		}
		t = (p[4] >> 1) & 0x3f
	case 49:
		if p[2]&0x80 == 0 {
			return false
		}
		t = p[2] & 0x3f
	}
	return t >= 16 && t <= 21
}

func (s *rtspSource) Stats() Stats { return s.cnt.snapshot() }

// BasicInClear tells the hub the camera took its password as Basic over
// plain rtsp:// (see rtsp.Client.BasicInClear).
func (s *rtspSource) BasicInClear() bool { return s.c.BasicInClear() }

func (s *rtspSource) Close() error { return s.c.Close() }
