package live

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

// digestCamera starts the GStreamer camera with Digest auth and returns
// its URL with the credentials.
func digestCamera(t *testing.T, args ...string) string {
	cam := rtsptest.StartCamera(t, append([]string{"--auth", "digest", "--fps", "25", "--key-int-max", "25"}, args...)...)
	return strings.Replace(cam.URL, "rtsp://", "rtsp://viewer:secret@", 1)
}

// A pion viewer watches the GStreamer camera (Digest auth) through the
// Manager: video and audio arrive, the first frame is an IDR behind a
// STAP-A with its SPS, and the SPS gives the camera's size.
func TestLivePionRealCamera(t *testing.T) {
	t.Parallel()
	hub := startHub(t, "gate", digestCamera(t))
	m := startManager(t, Options{}, hub)
	v := watchWithPion(t, m, "gate")
	waitFrames(t, v, 50)
	devtest.WaitFor(t, 10*time.Second, "audio packets", func() bool { return v.audioPkts.Load() >= 25 })
	v.check(t, 320, 180)
	st, err := m.Stats(v.session)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "connected" || st.Frames < 50 || st.AudioPackets < 25 || st.FirstFrameMs <= 0 || st.Video != "H264" || st.Audio != "PCMA" {
		t.Errorf("stats %+v", st)
	}
	if err := m.Close(v.session); err != nil {
		t.Fatal(err)
	}
	if m.Viewers() != 0 {
		t.Errorf("%d viewers after close", m.Viewers())
	}
	// After the close live.stats still answers, with the final figures.
	end, err := m.Stats(v.session)
	if err != nil {
		t.Fatalf("stats after the close: %v", err)
	}
	if end.State != "closed" || end.Reason != "closed by the viewer" || end.Bytes < st.Bytes || end.Frames < st.Frames {
		t.Errorf("stats after the close %+v, before it %+v", end, st)
	}
	if err := m.Close(v.session); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("second close: %v, want ErrUnknownSession", err)
	}
	devtest.WaitFor(t, 5*time.Second, "the camera to be let go after the last viewer", func() bool { return hub.State() == camera.StateIdle })
}

// Four viewers at once: one RTSP session feeds them all, each with its own
// SSRC and timeline, and each starts on a key frame. The camera is reached
// through a counting TCP proxy, so "one session" is what the camera saw:
// one connection.
func TestLiveFourViewersOneCameraSession(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(digestCamera(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCountingProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	hub := startHub(t, "gate", u.String())
	m := startManager(t, Options{}, hub)
	var vs []*pionViewer
	for range 4 {
		vs = append(vs, watchWithPion(t, m, "gate"))
	}
	ssrcs := map[uint32]bool{}
	for _, v := range vs {
		waitFrames(t, v, 25)
		v.check(t, 320, 180)
		ssrcs[v.videoSSRC] = true
	}
	if len(ssrcs) != 4 {
		t.Errorf("%d distinct video SSRCs for 4 viewers", len(ssrcs))
	}
	if st := hub.Status(); st.Sessions != 1 || st.Consumers != 1 {
		t.Errorf("camera: %d RTSP sessions and %d hub consumers for 4 viewers, want 1 and 1", st.Sessions, st.Consumers)
	}
	if n := proxy.conns.Load(); n != 1 {
		t.Errorf("the camera was connected to %d times for 4 viewers, want once", n)
	}
	if n := m.Viewers(); n != 4 {
		t.Errorf("%d viewers, want 4", n)
	}
}

// Offers that cannot be served are refused with errors naming why.
func TestLiveOfferErrors(t *testing.T) {
	t.Parallel()
	hub := fileHub(t, "gate")
	m := startManager(t, Options{MaxViewersPerCamera: 1}, hub)
	_, good := makeOffer(t, viewerAPI(t))
	ctx := context.Background()
	vp8 := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}
	_, vp8Only := makeOffer(t, viewerAPI(t, vp8), webrtc.RTPCodecTypeVideo)
	mode0 := h264Codec(102, "42e01f")
	mode0.SDPFmtpLine = "profile-level-id=42e01f"
	_, mode0Only := makeOffer(t, viewerAPI(t, mode0), webrtc.RTPCodecTypeVideo)
	for _, tc := range []struct {
		name, cam, sdp, quality string
		want                    error
		text                    string
	}{
		{"empty SDP", "gate", "", "", ErrBadOffer, "empty SDP"},
		{"garbage SDP", "gate", "hello\r\n", "", ErrBadOffer, "does not parse"},
		{"no media", "gate", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "", ErrBadOffer, "no media section"},
		{"unknown camera", "back-door", good, "", ErrUnknownCamera, `"back-door"`},
		{"VP8 only", "gate", vp8Only, "", ErrUnsupportedCodec, "VP8"},
		{"H.264 mode 0", "gate", mode0Only, "", ErrUnsupportedCodec, "packetization-mode=1"},
		{"bad quality", "gate", good, "ultra", ErrBadOffer, "quality"},
	} {
		_, err := m.Offer(ctx, OfferRequest{Camera: tc.cam, SDP: tc.sdp, Quality: tc.quality})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: error %v, want %v mentioning %q", tc.name, err, tc.want, tc.text)
		}
	}
	if n := m.Viewers(); n != 0 {
		t.Errorf("%d sessions left by refused offers", n)
	}
	if st := hub.Status(); st.Consumers != 0 {
		devtest.WaitFor(t, 5*time.Second, "the feed to let the camera go", func() bool { return hub.Status().Consumers == 0 })
	}
	// One viewer is allowed per camera here; the second is refused.
	first := watchWithPion(t, m, "gate")
	_, second := makeOffer(t, viewerAPI(t))
	if _, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: second}); !errors.Is(err, ErrTooManyViewers) {
		t.Errorf("second viewer: %v, want %v", err, ErrTooManyViewers)
	}
	waitFrames(t, first, 10)
}

// The same request id is answered once: a repeated live.offer (the station
// re-sent it) gets the first answer, not a second session.
func TestLiveRepeatedOfferAnsweredOnce(t *testing.T) {
	t.Parallel()
	hub := fileHub(t, "gate")
	m := startManager(t, Options{}, hub)
	_, offer := makeOffer(t, viewerAPI(t))
	ctx := context.Background()
	type res struct {
		a   *Answer
		err error
	}
	out := make(chan res, 2)
	for range 2 {
		go func() {
			a, err := m.Offer(ctx, OfferRequest{RequestID: "r-1", Camera: "gate", SDP: offer})
			out <- res{a, err}
		}()
	}
	a, b := <-out, <-out
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	if a.a.Session != b.a.Session || a.a.SDP != b.a.SDP {
		t.Errorf("two answers for one request id: %s and %s", a.a.Session, b.a.Session)
	}
	if n := m.Viewers(); n != 1 {
		t.Errorf("%d sessions for one request id", n)
	}
	c, err := m.Offer(ctx, OfferRequest{RequestID: "r-2", Camera: "gate", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	if c.Session == a.a.Session {
		t.Error("a new request id got the old session")
	}
}

// A session not renewed closes at its maximum length; live.renew moves
// the end; an unknown session is refused.
func TestLiveSessionMaxLength(t *testing.T) {
	t.Parallel()
	hub := fileHub(t, "gate")
	m := startManager(t, Options{MaxSession: 1500 * time.Millisecond}, hub)
	v := watchWithPion(t, m, "gate")
	waitFrames(t, v, 5)
	st0, _ := m.Stats(v.session)
	exp, err := m.Renew(v.session)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.After(st0.Expires) {
		t.Errorf("renew moved the end from %v to %v", st0.Expires, exp)
	}
	if st, _ := m.Stats(v.session); !st.Expires.Equal(exp) {
		t.Errorf("stats say the session ends %v, renew said %v", st.Expires, exp)
	}
	devtest.WaitFor(t, 15*time.Second, "the session to end at its maximum length", func() bool { return m.Viewers() == 0 })
	if time.Now().Before(exp) {
		t.Errorf("the session ended before its renewed end %v", exp)
	}
	if _, err := m.Renew(v.session); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("renew of an ended session: %v", err)
	}
	if err := m.Close("00000000000000000000000000000000"); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("close of an unknown session: %v", err)
	}
}

// The tests run in a network namespace holding only loopback (as root),
// and the Manager listens on loopback only.
func TestLiveNetworkIsolated(t *testing.T) {
	t.Parallel()
	m := startManager(t, Options{}, fileHub(t, "gate"))
	for _, a := range m.Addrs() {
		if ip := a.(*net.UDPAddr).IP; !ip.IsLoopback() {
			t.Errorf("the Manager listens on %v", a)
		}
	}
	if os.Getenv(envNetns) == "" {
		if noNetns == "" {
			t.Error("a network namespace was possible but the tests do not run in one")
		}
		t.Logf("no network namespace (%s): loopback candidates only", noNetns)
		return
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Name != "lo" {
			t.Errorf("interface %s in the test's network namespace", i.Name)
		}
	}
}

// The camera dies and comes back while watched: video resumes in the same
// session, on a key frame, with the viewer's timeline unbroken.
func TestLiveCameraRestartResumes(t *testing.T) {
	t.Parallel()
	cam := rtsptest.StartCamera(t, "--auth", "digest", "--fps", "25", "--key-int-max", "25")
	hub := startHub(t, "gate", strings.Replace(cam.URL, "rtsp://", "rtsp://viewer:secret@", 1))
	m := startManager(t, Options{}, hub)
	v := watchWithPion(t, m, "gate")
	waitFrames(t, v, 25)
	cam.Kill()
	devtest.WaitFor(t, 15*time.Second, "the hub to see the camera gone", func() bool { return hub.State() != camera.StateOnline })
	before := v.frames()
	cam.Start()
	devtest.WaitFor(t, 30*time.Second, "video to resume", func() bool { return v.frames() >= before+25 })
	v.check(t, 320, 180)
	if st := hub.Status(); st.Sessions < 2 {
		t.Errorf("%d camera sessions: the camera did not restart", st.Sessions)
	}
	if ss := m.AllStats(); len(ss) != 1 || ss[0].Session != v.session || ss[0].State != "connected" {
		t.Errorf("after the restart: %+v", ss)
	}
}

// Stopping live view (the gateway stopping) closes every session and lets
// the cameras go; a viewer that never connects is dropped at the connect
// timeout; the gateway-wide limit counts every camera's viewers.
func TestLiveLifecycleLimits(t *testing.T) {
	t.Parallel()
	gate, yard := fileHub(t, "gate"), fileHub(t, "yard")
	opts := Options{MaxViewers: 2, ConnectTimeout: time.Second, Cameras: func(n string) (*camera.Hub, bool) {
		switch n {
		case "gate":
			return gate, true
		case "yard":
			return yard, true
		}
		return nil, false
	}, LoopbackCandidates: true, Interfaces: []string{"lo"}, Logger: testLogger(t)}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	defer func() { stop(); <-done }()

	// A viewer that offers and never takes the answer.
	_, silent := makeOffer(t, viewerAPI(t))
	ans, err := m.Offer(context.Background(), OfferRequest{Camera: "yard", SDP: silent})
	if err != nil {
		t.Fatal(err)
	}
	v := watchWithPion(t, m, "gate")
	waitFrames(t, v, 5)
	_, third := makeOffer(t, viewerAPI(t))
	if _, err := m.Offer(context.Background(), OfferRequest{Camera: "yard", SDP: third}); !errors.Is(err, ErrTooManyViewers) || !strings.Contains(err.Error(), "gateway serves at most 2") {
		t.Errorf("third viewer on the gateway: %v", err)
	}
	devtest.WaitFor(t, 10*time.Second, "the silent viewer to be dropped at the connect timeout", func() bool {
		st, err := m.Stats(ans.Session) // its last figures stay a while (ended.go)
		return errors.Is(err, ErrUnknownSession) || err == nil && st.State == "closed"
	})
	if m.Viewers() != 1 {
		t.Errorf("%d viewers, want the connected one", m.Viewers())
	}
	stop()
	<-done
	if m.Viewers() != 0 {
		t.Errorf("%d sessions after live view stopped", m.Viewers())
	}
	devtest.WaitFor(t, 10*time.Second, "the viewer to see the end", func() bool {
		st := v.pc.ConnectionState()
		return st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateDisconnected
	})
	devtest.WaitFor(t, 5*time.Second, "the cameras to be let go", func() bool {
		return gate.Status().Consumers == 0 && yard.Status().Consumers == 0
	})
}
