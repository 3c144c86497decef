package live

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/devtest"
)

// h265Source is an H.265 camera in process: one RTP payload per picture,
// 25 a second, an IRAP picture (IDR_W_RADL, NAL type 19) every 25th and
// TRAIL_R (type 1) between; the payloads are filler after the NAL header.
type h265Source struct{ frames atomic.Uint64 }

func (s *h265Source) Tracks() []camera.Track {
	return []camera.Track{{Kind: camera.Video, Codec: camera.H265, ClockRate: 90000, Note: "H.265"}}
}

func (s *h265Source) Run(ctx context.Context, h camera.Handler) error {
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	f := &camera.Frame{Codec: camera.H265, Marker: true}
	key, p := make([]byte, 800), make([]byte, 300)
	key[0], key[1] = 19<<1, 1
	p[0], p[1] = 1<<1, 1
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		f.Key = i%25 == 0
		f.Payload = p
		if f.Key {
			f.Payload = key
		}
		f.RTPTime, f.PTS = uint32(i*3600), time.Duration(i)*40*time.Millisecond
		h(f)
		s.frames.Add(1)
	}
}

func (s *h265Source) Stats() camera.Stats { return camera.Stats{Frames: s.frames.Load()} }
func (s *h265Source) Close() error        { return nil }

// An H.265 camera: an offer without H.265 is refused with an error naming
// the codecs on both sides; an offer listing H.265 gets it, and the
// viewer's first video packet is the camera's IRAP picture, passed
// through unchanged.
func TestLiveH265OnlyWhenOffered(t *testing.T) {
	t.Parallel()
	src := &h265Source{}
	hub := camera.NewHub(camera.HubOptions{Name: "gate", Linger: 300 * time.Millisecond, CheckEvery: -1, Logger: testLogger(t),
		Open: func(context.Context) (camera.Source, error) { return src, nil }})
	hctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(hctx) }()
	t.Cleanup(func() { stop(); <-done })
	m := startManager(t, Options{}, hub)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, offer := makeOffer(t, viewerAPI(t), webrtc.RTPCodecTypeVideo)
	_, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer})
	if !errors.Is(err, ErrUnsupportedCodec) || !strings.Contains(err.Error(), "sends H.265") || !strings.Contains(err.Error(), "H264") {
		t.Fatalf("H.264-only offer for an H.265 camera: %v", err)
	}

	h265 := webrtc.RTPCodecParameters{PayloadType: 49, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}}
	pc, offer := makeOffer(t, viewerAPI(t, h264Codec(102, "42e01f"), h265), webrtc.RTPCodecTypeVideo)
	var pkts atomic.Int64
	first := make(chan []byte, 1)
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if pkts.Add(1) == 1 {
					first <- append([]byte(nil), p.Payload...)
				}
			}
		}()
	})
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer})
	if err != nil {
		t.Fatalf("offer listing H.265: %v", err)
	}
	if ans.Video != "H265" || !strings.Contains(ans.SDP, "H265/90000") {
		t.Errorf("answer's video %q, SDP:\n%s", ans.Video, ans.SDP)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 20*time.Second, "50 H.265 packets", func() bool { return pkts.Load() >= 50 })
	p := <-first
	if typ := p[0] >> 1 & 0x3f; typ != 19 || len(p) != 800 {
		t.Errorf("first H.265 payload: NAL type %d, %d bytes; want the camera's IRAP picture (19, 800 bytes)", typ, len(p))
	}
}
