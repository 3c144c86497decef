package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The whole path of an alarm's clip with the real parts: the GStreamer
// camera (320x240, a key frame every second), the real gateway binary
// recording it, a tamper (a 24-hour zone, armed at all hours) going off,
// the clip uploaded unasked to the real station binary (embedded broker),
// and an officer logged in through headless Chromium who opens the clip
// event's clip on the events page: the <video> plays it to its end, at
// the camera's size, for the duration the clip event announced.
func TestConsolePlaysGatewayClip(t *testing.T) {
	t.Parallel()
	const pre, post = time.Second, time.Second
	cam := rtsptest.StartCamera(t, "--width", "320", "--height", "240", "--fps", "25", "--key-int-max", "25")
	dir := t.TempDir()
	st := startConsoleStation(t, filepath.Join(dir, "station"), "-turn", "")
	const gw = "cong-khu-3"
	api := devtest.FreeAddr(t)
	cfg := filepath.Join(dir, gw+".yaml")
	y := fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink:
  broker: mqtt://%s
  client_id: %s
  keepalive: 5s
  telemetry_interval: 1h
api: {listen: "%s"}
alarm:
  trigger_time: 1s
  trigger: [{output: siren}]
sensors:
  - {name: hop-tu, kind: tamper, driver: sim, debounce: 0s, always: true, script: [{at: 3s, level: high}]}
outputs:
  - {name: siren, driver: sim, max_on: 5s}
cameras:
  - {name: cam-cong, url: %q, record: clips, pre_roll: %s, post_roll: %s}
`, gw, filepath.Join(dir, "gw"), st.addr, gw, api, cam.URL, pre, post)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	startBinGateway(t, cfg, api)

	// The clip event at the station, then its bytes (uploaded unasked).
	type item struct {
		Gateway string `json:"gateway"`
		Epoch   string `json:"epoch"`
		Event   *struct {
			Seq   uint64         `json:"seq"`
			Kind  string         `json:"kind"`
			Attrs map[string]any `json:"attrs"`
		} `json:"event"`
	}
	var clip item
	devtest.WaitFor(t, 60*time.Second, "the alarm's clip event at the station", func() bool {
		var page struct {
			Items []item `json:"items"`
		}
		st.tryAPI(t, "GET", "/api/events?gateway="+gw+"&limit=100", &page)
		for _, it := range page.Items {
			if it.Event != nil && it.Event.Kind == wire.KindClip {
				clip = it
				return true
			}
		}
		return false
	})
	a := clip.Event.Attrs
	id, _ := a[wire.ClipAttrID].(string)
	ms, _ := a[wire.ClipAttrDuration].(float64)
	if !wire.ValidClipID(id) || ms <= 0 || a[wire.ClipAttrUpload] != "auto" || a[wire.ClipAttrReason] != "alarm" {
		t.Fatalf("clip event %+v", a)
	}
	var cs struct {
		State string `json:"state"`
		Have  int64  `json:"have"`
		Bytes int64  `json:"bytes"`
	}
	devtest.WaitFor(t, 30*time.Second, "clip "+id+" complete at the station", func() bool {
		st.tryAPI(t, "GET", "/api/clips/"+gw+"/"+id+"/status", &cs)
		return cs.State == "complete"
	})
	if want, _ := a[wire.ClipAttrBytes].(float64); cs.Bytes != int64(want) || cs.Have != cs.Bytes {
		t.Fatalf("station holds %d of %d bytes, the clip event says %v", cs.Have, cs.Bytes, want)
	}

	// An officer opens the event's clip on the console's events page.
	ctx := chromiumtest.New(t, 90*time.Second, append([]chromedp.ExecAllocatorOption{chromedp.Flag("autoplay-policy", "no-user-gesture-required")},
		chromiumtest.Vietnamese...)...)
	base := "http://" + st.http
	row := `tr[data-ref="` + gw + "/" + clip.Epoch + "/" + strconv.FormatUint(clip.Event.Seq, 10) + `"]`
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", consolePassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards"),
		chromedp.Navigate(base+"/events"), chromedp.WaitVisible(row+" button.clip-play"),
		chromedp.Click(row+" button.clip-play"), chromedp.WaitVisible(row+" video.clip-video")); err != nil {
		t.Fatal("open the clip on the events page:", err)
	}
	type playState struct {
		Ended bool    `json:"ended"`
		W     int     `json:"w"`
		H     int     `json:"h"`
		T     float64 `json:"t"`
		Err   string  `json:"err"`
	}
	var ps playState
	devtest.WaitFor(t, 30*time.Second, "the clip played to its end in the console", func() bool {
		var err error
		ps, err = chromedp.Run(ctx, chromedp.Evaluate[playState](`(() => { const v = document.querySelector(`+strconv.Quote(row+" video.clip-video")+`);
			return {ended: v.ended, w: v.videoWidth, h: v.videoHeight, t: v.currentTime, err: v.error ? String(v.error.code) + " " + v.error.message : ""}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		if ps.Err != "" {
			t.Fatalf("Chromium cannot play the clip: %s", ps.Err)
		}
		return ps.Ended
	})
	if ps.W != 320 || ps.H != 240 {
		t.Fatalf("the console shows the clip at %dx%d, the camera sends 320x240", ps.W, ps.H)
	}
	if d := ps.T*1000 - ms; math.Abs(d) > 200 {
		t.Fatalf("played %.3f s of a clip of %.0f ms", ps.T, ms)
	}
	t.Logf("clip %s: %d bytes, %.0f ms, played to its end at %dx%d", id, cs.Bytes, ms, ps.W, ps.H)
}
