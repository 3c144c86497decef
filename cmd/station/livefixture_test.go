package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
)

// liveChromiumFlags make the browser of the live tests: WebRTC on
// loopback (no mDNS names, autoplay) on a station PC set up in Vietnamese.
var liveChromiumFlags = append(append([]chromedp.ExecAllocatorOption{}, chromiumtest.WebRTC...), chromiumtest.Vietnamese...)

// liveClip is the absolute path of the H.264 file (320×180, 25 fps) the
// live tests' file cameras play.
func liveClip(t testing.TB) string {
	t.Helper()
	clip, err := filepath.Abs(filepath.Join("..", "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	return clip
}

// startLiveGateway runs the real gateway binary as gw, connected to s's
// broker, with live view on loopback only; sensors and cameras are the
// YAML items of those lists (each line indented by two spaces).
func startLiveGateway(t testing.TB, s *consoleStation, gw, sensors, cameras string) *binGateway {
	t.Helper()
	return startLiveGatewayWith(t, s, gw, sensors, cameras, "")
}

// startLiveGatewayWith is startLiveGateway with more keys of the live:
// section (each line indented by two spaces).
func startLiveGatewayWith(t testing.TB, s *consoleStation, gw, sensors, cameras, live string) *binGateway {
	t.Helper()
	api := devtest.FreeAddr(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, gw+".yaml")
	y := `gateway: {id: ` + gw + `, data_dir: ` + filepath.Join(dir, "data") + `}
uplink:
  broker: mqtt://` + s.addr + `
  client_id: ` + gw + `
  keepalive: 5s
  telemetry_interval: 2s
api: {listen: "` + api + `"}
sensors:
` + sensors + `cameras:
` + cameras + `live:
  udp_port: 0
  interfaces: [lo]
  loopback_candidates: true
` + live
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return startBinGateway(t, cfg, api)
}

// openLiveConsole starts Chromium with liveChromiumFlags at 1280×800,
// logs the admin "an" in to s's console and follows the login to next
// until a tile's video shows. The tab's context ends after 3 minutes.
func openLiveConsole(t testing.TB, s *consoleStation, next string) context.Context {
	t.Helper()
	ctx := chromiumtest.New(t, 3*time.Minute, liveChromiumFlags...)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate("http://"+s.http+"/login?next="+url.QueryEscape(next)), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", consolePassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".tile video")); err != nil {
		t.Fatal("login:", err)
	}
	return ctx
}
