package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

// qualityJS reads the tile's decoded picture: the video element's size,
// its decoded frames, the quality label and the switch's state.
const qualityJS = `(() => {
  const el = document.querySelector(".tile"), v = el.querySelector("video"), b = el.querySelector(".switch");
  return { state: el.dataset.state, session: el.dataset.session || "", width: v.videoWidth, height: v.videoHeight,
    frames: v.getVideoPlaybackQuality().totalVideoFrames, label: el.querySelector(".quality").textContent,
    pressed: b.getAttribute("aria-pressed") || "", button: b.textContent.trim() };
})()`

type qualityTile struct {
	State, Session, Label, Pressed, Button string
	Width, Height, Frames                  int
}

// Main stream on demand, end to end: a real gateway whose camera is the
// GStreamer RTSP test camera with two streams (main 640×360, substream
// 320×180, as an IP camera's two profiles). The tile opens the
// substream; the officer presses the tile's switch with the keyboard and
// the decoded picture becomes the main stream's size; a click switches it
// back. Each opening is audited with its quality.
func TestLiveChromiumMainStreamOnDemand(t *testing.T) {
	main := rtsptest.StartCamera(t, "--width", "640", "--height", "360", "--fps", "15", "--key-int-max", "15", "--path", "/main")
	sub := rtsptest.StartCamera(t, "--width", "320", "--height", "180", "--fps", "15", "--key-int-max", "15", "--path", "/sub")
	s := startConsoleStation(t, t.TempDir(), "-turn", "", "-turn-tls", "")
	const gw, cam = "cong-khu-3", "cam-cong"
	startLiveGateway(t, s, gw, "  - {name: pir, kind: motion, driver: sim, every: 1h}\n",
		"  - {name: "+cam+", url: \""+main.URL+"\", substream_url: \""+sub.URL+"\"}\n")
	devtest.WaitFor(t, 30*time.Second, "gateway online with its camera", func() bool {
		var g struct {
			Online  bool              `json:"online"`
			Cameras map[string]string `json:"cameras"`
		}
		s.tryAPI(t, "GET", "/api/gateways/"+gw, &g)
		return g.Online && g.Cameras[cam] != ""
	})
	ctx := openLiveConsole(t, s, "/live?gateway="+gw+"&camera="+cam)
	var tl qualityTile
	playing := func(what string, width, height int) {
		t.Helper()
		var first qualityTile
		devtest.WaitFor(t, 40*time.Second, what, func() bool {
			raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](qualityJS))
			if err != nil || json.Unmarshal(raw, &tl) != nil {
				t.Fatal(err)
			}
			if tl.State == "failed" {
				t.Fatalf("tile failed: %+v\n%s", tl, e2eTail(s.stderr))
			}
			if tl.State != "playing" || tl.Width != width || tl.Height != height {
				first = qualityTile{}
				return false
			}
			if first.Session != tl.Session { // frames of this picture size, this session
				first = tl
				return false
			}
			return tl.Frames > first.Frames+5
		})
		t.Logf("%s: %+v", what, tl)
	}
	playing("the substream (320×180) decoded", 320, 180)
	if tl.Label != "· Luồng phụ" || tl.Pressed != "false" {
		t.Errorf("on the substream: label %q, switch pressed %q", tl.Label, tl.Pressed)
	}
	lowSession := tl.Session

	// The keyboard: focus the tile's switch, press Enter.
	if err := chromedp.Do(ctx, chromedp.Focus(".tile .switch"), chromedp.KeyEvent(kb.Enter)); err != nil {
		t.Fatal(err)
	}
	playing("the main stream (640×360) decoded", 640, 360)
	if tl.Label != "· Luồng chính" || tl.Pressed != "true" || tl.Session == lowSession {
		t.Errorf("on the main stream: %+v (the substream's session was %s)", tl, lowSession)
	}
	// And back with a click.
	if err := chromedp.Do(ctx, chromedp.Click(".tile .switch")); err != nil {
		t.Fatal(err)
	}
	playing("the substream again", 320, 180)

	var es struct {
		Entries []audit.Entry `json:"entries"`
	}
	s.api(t, "GET", "/api/audit?action="+audit.LiveOpen, "", "", &es)
	var qs []string
	for _, e := range es.Entries {
		if e.OK && e.Target == cam {
			qs = append(qs, e.Detail["quality"])
		}
	}
	if strings.Join(qs, ",") != "low,high,low" {
		t.Errorf("live_open audited with qualities %v (newest first), want low, high, low", qs)
	}
}
