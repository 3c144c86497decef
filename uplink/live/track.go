package live

import (
	"errors"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// track is one viewer's outgoing stream. Unlike pion's TrackLocalStatic*,
// which write one timeline to every peer bound to them, a track belongs to
// one session, so its sequence numbers, SSRC and timestamps are that
// viewer's own; the payloads it writes are the feed's shared ones.
type track struct {
	id, stream string
	codec      webrtc.RTPCodecCapability

	mu      sync.Mutex
	bound   bool
	ssrc    uint32
	pt      uint8
	playout uint8 // the negotiated id of the playout-delay extension; 0: not negotiated
	writer  webrtc.TrackLocalWriter
}

// playoutDelayURI is the RTP header extension that tells a browser how
// long it may hold a frame before showing it (min and max, 10 ms units).
const playoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

var errTrackUnbound = errors.New("track not bound")

func newTrack(codec webrtc.RTPCodecCapability, id, stream string) *track {
	return &track{id: id, stream: stream, codec: codec}
}

// Bind is called by pion once negotiation picked a codec for the track.
func (t *track) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, t.codec.MimeType) {
			var playout uint8
			for _, e := range ctx.HeaderExtensions() {
				if e.URI == playoutDelayURI && e.ID > 0 && e.ID < 15 {
					playout = uint8(e.ID)
				}
			}
			t.mu.Lock()
			t.bound, t.ssrc, t.pt, t.playout, t.writer = true, uint32(ctx.SSRC()), uint8(c.PayloadType), playout, ctx.WriteStream()
			t.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind is called when the sender stops.
func (t *track) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bound, t.writer = false, nil
	return nil
}

// ID names the track.
func (t *track) ID() string { return t.id }

// RID is empty: no simulcast.
func (t *track) RID() string { return "" }

// StreamID groups the camera's audio and video for lip sync.
func (t *track) StreamID() string { return t.stream }

// Kind is audio or video, from the codec.
func (t *track) Kind() webrtc.RTPCodecType {
	if strings.HasPrefix(strings.ToLower(t.codec.MimeType), "audio/") {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// binding returns what writing needs.
func (t *track) binding() (w webrtc.TrackLocalWriter, ssrc uint32, pt, playout uint8, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.bound {
		return nil, 0, 0, 0, errTrackUnbound
	}
	return t.writer, t.ssrc, t.pt, t.playout, nil
}

// timeline is one track's RTP numbering for one viewer.
type timeline struct {
	seq uint16
	ts  uint32 // the last timestamp sent
	any bool   // something was sent
}

// write sends u's payloads with timestamp ts, each packet carrying the
// playout delay pd when pd is set and the viewer negotiated the extension.
// Each header is a fresh allocation because the NACK responder keeps it
// (with the shared payload, without copying) for retransmission.
func (t *track) write(tl *timeline, u *unit, ts uint32, pd []byte) (bytes int, err error) {
	w, ssrc, pt, playout, err := t.binding()
	if err != nil {
		return 0, err
	}
	for i, p := range u.pkts {
		h := &rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: tl.seq, Timestamp: ts, SSRC: ssrc,
			Marker: u.marker && i == len(u.pkts)-1}
		if pd != nil && playout != 0 {
			if err := h.SetExtension(playout, pd); err != nil {
				return bytes, err
			}
		}
		tl.seq++
		n, err := w.WriteRTP(h, p)
		if err != nil {
			return bytes, err
		}
		bytes += n
	}
	tl.ts, tl.any = ts, true
	return bytes, nil
}
