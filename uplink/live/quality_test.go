package live

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/devtest"
)

// A camera with a substream: an offer asking quality low gets the
// substream's picture (its own size) and only then is the substream
// pulled; high, and WHEP's default, get the main stream; the MQTT
// command's default is low. A camera without a substream sends its main
// stream to a low viewer, with a warning only when low was asked for.
func TestLiveQualitySubstream(t *testing.T) {
	t.Parallel()
	main := startHub(t, "gate", digestCamera(t))
	sub := camera.NewHub(camera.HubOptions{Name: "gate", URL: digestCamera(t, "--width", "160", "--height", "96"), Linger: 300 * time.Millisecond,
		CheckEvery: -1, Source: camera.Options{Timeout: 5 * time.Second}, Logger: testLogger(t)})
	m := startManager(t, Options{Substreams: []*camera.Hub{sub}}, main, fileHub(t, "plain"))

	watch := func(req OfferRequest) (*pionViewer, *Answer) {
		t.Helper()
		v, offer := newPionViewer(t)
		req.SDP = offer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ans, err := m.Offer(ctx, req)
		if err != nil {
			t.Fatalf("offer %+v: %v", req, err)
		}
		v.session = ans.Session
		if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
			t.Fatal(err)
		}
		return v, ans
	}
	if sub.Status().Consumers != 0 {
		t.Fatal("the substream is pulled before anyone asked for it")
	}
	low, _ := watch(OfferRequest{Camera: "gate", Quality: "low", Explicit: true})
	waitFrames(t, low, 10)
	low.check(t, 160, 96)
	high, _ := watch(OfferRequest{Camera: "gate", Quality: "high"})
	waitFrames(t, high, 10)
	high.check(t, 320, 180)
	if st, _ := m.Stats(low.session); st.Quality != "low" {
		t.Errorf("low session's stats: quality %q", st.Quality)
	}
	if n := sub.Status().Consumers; n != 1 {
		t.Errorf("substream while the low viewer watches: %d consumers, want 1", n)
	}
	if err := m.Close(low.session); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the substream let go", func() bool { return sub.Status().Consumers == 0 })
	if main.Status().Consumers != 1 {
		t.Errorf("main stream: %d consumers, want 1 (the high viewer)", main.Status().Consumers)
	}
	// MQTT's default is low.
	req, err := decodeOffer(json.RawMessage(`{"camera":"gate","sdp":"v=0"}`))
	if err != nil || req.Quality != "low" || req.Explicit {
		t.Errorf("live.offer without quality: %+v, %v", req, err)
	}
	_, ans := watch(OfferRequest{Camera: "plain", Quality: "low", Explicit: true})
	if len(ans.Warnings) != 1 {
		t.Errorf("low on a camera without substream: warnings %v", ans.Warnings)
	}
	_, ans = watch(OfferRequest{Camera: "plain", Quality: "low"})
	if len(ans.Warnings) != 0 {
		t.Errorf("default low on a camera without substream: warnings %v", ans.Warnings)
	}
}
