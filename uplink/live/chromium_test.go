package live

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
)

// whepPage is the viewer page the Chromium test loads: WHEP with trickle
// (the offer goes out before gathering ends; candidates follow by PATCH).
const whepPage = `<!doctype html>
<meta charset="utf-8"><title>live</title>
<video id="v" autoplay muted playsinline></video>
<script>
let pc, location_, pending = [], t0;
async function patch(c) {
  const frag = "a=mid:" + c.sdpMid + "\r\n" + (c.candidate ? "a=" + c.candidate : "a=end-of-candidates") + "\r\n";
  const r = await fetch(location_, {method: "PATCH", headers: {"Content-Type": "application/trickle-ice-sdpfrag"}, body: frag});
  if (r.status !== 204) window.patchError = r.status + " " + await r.text();
}
// start opens a viewer of camera through the WHEP endpoint under prefix
// ("" or the path a second Manager is mounted on); query ("?from=...")
// asks for a playback of the camera's recordings.
async function start(camera, prefix = "", query = "") {
  t0 = performance.now();
  pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addTransceiver("audio", {direction: "recvonly"});
  pc.ontrack = e => { document.getElementById("v").srcObject = e.streams[0]; };
  pc.onicecandidate = e => {
    const c = e.candidate ? e.candidate.toJSON() : {sdpMid: "0", candidate: ""};
    if (location_) patch(c); else pending.push(c);
  };
  await pc.setLocalDescription(await pc.createOffer());
  const r = await fetch(prefix + "/api/cameras/" + camera + "/whep" + query, {method: "POST", headers: {"Content-Type": "application/sdp"}, body: pc.localDescription.sdp});
  const body = await r.text();
  if (r.status !== 201) throw new Error("WHEP POST " + r.status + ": " + body);
  window.lastAnswer = body;
  location_ = prefix + r.headers.get("Location");
  await pc.setRemoteDescription({type: "answer", sdp: body});
  for (const c of pending) await patch(c);
  return location_;
}
// openTimed opens a viewer and resolves, once the first frame is decoded,
// with the milliseconds since start() began (before the offer was made).
async function openTimed(camera, prefix = "") {
  await start(camera, prefix);
  for (;;) {
    const st = await stats();
    if (st.video && st.video.framesDecoded > 0) return st.ms;
    if (st.ms > 20000) throw new Error("no frame decoded in 20 s");
    await new Promise(r => setTimeout(r, 5));
  }
}
// behind is the jitter buffer's delay per emitted frame so far, in ms:
// how far behind the live edge the viewer plays.
async function behind() {
  let out = -1;
  (await pc.getStats()).forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "video" && s.jitterBufferEmittedCount > 0)
      out = 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount;
  });
  return out;
}
async function stop() {
  pc.close();
  const r = await fetch(location_, {method: "DELETE"});
  location_ = undefined; pending = [];
  return r.status;
}
async function stats() {
  const out = {state: pc.connectionState, ms: performance.now() - t0, patchError: window.patchError || ""};
  (await pc.getStats()).forEach(s => {
    if (s.type === "inbound-rtp") out[s.kind] = {framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0,
      frameHeight: s.frameHeight || 0, packetsReceived: s.packetsReceived || 0};
  });
  return out;
}
</script>`

type browserStats struct {
	State      string  `json:"state"`
	Ms         float64 `json:"ms"`
	PatchError string  `json:"patchError"`
	Video      struct {
		FramesDecoded   int `json:"framesDecoded"`
		FrameWidth      int `json:"frameWidth"`
		FrameHeight     int `json:"frameHeight"`
		PacketsReceived int `json:"packetsReceived"`
	} `json:"video"`
	Audio struct {
		PacketsReceived int `json:"packetsReceived"`
	} `json:"audio"`
}

// startChromium opens the project's headless Chromium, with WebRTC on
// loopback, on url and returns its tab's context. The context lasts as
// long as go test's default -timeout (10 min), for benchmarks; each wait
// of a test has its own, shorter deadline.
func startChromium(t testing.TB, url string) context.Context {
	t.Helper()
	ctx := chromiumtest.New(t, 10*time.Minute, chromiumtest.WebRTC...)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium: open %s: %v", url, err)
	}
	return ctx
}

// servePage serves the viewer page and m's WHEP routes on loopback; the
// routes of each of more are mounted under /m1, /m2, ... (the page's
// prefix argument).
func servePage(t testing.TB, m *Manager, more ...*Manager) string {
	mux := http.NewServeMux()
	m.RegisterWHEP(mux)
	for i, o := range more {
		sub := http.NewServeMux()
		o.RegisterWHEP(sub)
		prefix := fmt.Sprintf("/m%d", i+1)
		mux.Handle(prefix+"/", http.StripPrefix(prefix, sub))
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(whepPage))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// Real headless Chromium watches the GStreamer camera through WHEP on the
// local API: frames are decoded at the camera's size, audio arrives, the
// trickled candidates are accepted, and DELETE ends the session.
func TestLiveChromiumWHEP(t *testing.T) {
	t.Parallel()
	hub := startHub(t, "gate", digestCamera(t))
	m := startManager(t, Options{}, hub)
	base := servePage(t, m)

	ctx := startChromium(t, base+"/")
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`start("gate")`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("start the viewer: %v", err)
	}
	if !strings.HasPrefix(loc, "/api/cameras/gate/whep/") {
		t.Fatalf("Location %q", loc)
	}
	var st browserStats
	read := func() browserStats {
		var err error
		if st, err = chromedp.Run(ctx, chromedp.Evaluate[browserStats](`stats()`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatalf("getStats: %v", err)
		}
		return st
	}
	devtest.WaitFor(t, 30*time.Second, "Chromium to decode 25 frames", func() bool { return read().Video.FramesDecoded >= 25 })
	first := st
	t.Logf("Chromium: 25 frames decoded %.0f ms after start()", first.Ms)
	devtest.WaitFor(t, 20*time.Second, "more decoded frames and audio", func() bool {
		s := read()
		return s.Video.FramesDecoded >= first.Video.FramesDecoded+25 && s.Audio.PacketsReceived >= 25
	})
	if st.Video.FrameWidth != 320 || st.Video.FrameHeight != 180 {
		t.Errorf("Chromium decodes %dx%d, the camera sends 320x180", st.Video.FrameWidth, st.Video.FrameHeight)
	}
	if st.State != "connected" || st.PatchError != "" {
		t.Errorf("connection %s, trickle PATCH error %q", st.State, st.PatchError)
	}
	ss := m.AllStats()
	if len(ss) != 1 || ss[0].Frames == 0 || ss[0].Audio != "PCMA" {
		t.Fatalf("gateway stats %+v", ss)
	}
	t.Logf("gateway: first frame sent %.0f ms after the offer; %d catch-up frames, %d PLIs (%d replays), %d NACKs, RTT %.1f ms",
		ss[0].FirstFrameMs, ss[0].CatchUpFrames, ss[0].PLIs, ss[0].Replays, ss[0].NACKs, ss[0].RTTMs)
	req, _ := http.NewRequest(http.MethodDelete, base+loc, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || m.Viewers() != 0 {
		t.Errorf("DELETE: %s, %d viewers left", res.Status, m.Viewers())
	}
}
