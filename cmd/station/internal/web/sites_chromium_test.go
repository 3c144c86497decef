package web

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// TestSitesChromium: in real headless Chromium, under the page's CSP, the
// sites page draws each gateway's outages of the last 24 hours (a blip
// shorter than the grace, an outage, a camera's) as bars the stylesheet
// colours, a blip still visible; the list beside it opens from the
// keyboard; the gateway offline only for the blip is shown online; the
// span switches to 7 days; on a 390 px phone nothing overflows. The
// screenshots go to docs/screenshots with ANTT_SCREENSHOTS=1.
func TestSitesChromium(t *testing.T) {
	f := newFixture(t)
	t0 := f.clock()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, o := range []struct{ down, up time.Duration }{
		{-20 * time.Hour, -20*time.Hour + 40*time.Second}, // a blip
		{-9 * time.Hour, -9*time.Hour + 25*time.Minute},
		{-10 * time.Minute, -10*time.Minute + 50*time.Second}, // a blip just now
	} {
		f.st.SetStatus(gwGate, wire.Status{Online: false, Boot: "b1"}, at(o.down))
		f.st.SetStatus(gwGate, wire.Status{Online: true, Boot: "b1", Version: "1.0.0"}, at(o.up))
	}
	f.st.SetStatus(gwGate, wire.Status{Online: false, Boot: "b1"}, at(-30*time.Second)) // down, within the grace
	f.seq[gwGate] = 10
	f.mu.Lock()
	f.now = at(-4 * time.Hour)
	f.mu.Unlock()
	f.event(gwGate, wire.KindCameraOffline, "gate-cam", nil)
	f.advance(2 * time.Hour)
	f.event(gwGate, wire.KindCameraOnline, "gate-cam", nil)
	f.mu.Lock()
	f.now = t0
	f.mu.Unlock()
	f.st.SetTelemetry(gwGate, wire.Telemetry{Outbox: wire.OutboxStats{Depth: 14, OldestS: 900}, DiskFree: 3 << 30,
		Cameras: map[string]string{"gate-cam": "online"}, Alarm: "disarmed"}, at(-time.Minute))
	base := serveFixture(t, f)

	shots := t.TempDir()
	if os.Getenv(screenshotsEnv) == "1" {
		shots = filepath.Join("..", "..", "..", "..", "docs", "screenshots")
	}
	ctx := newBrowser(t, 60*time.Second)
	text := func(sel string) string { t.Helper(); return chromiumtest.Text(t, ctx, sel) }
	shot := func(name string, w, h int64) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
			t.Fatal(err)
		}
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if cfg, err := png.DecodeConfig(bytes.NewReader(b)); err != nil || int64(cfg.Width) != w {
			t.Fatalf("screenshot %s: %v %d wide", name, err, cfg.Width)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", testPassword), chromedp.Click("button.primary"),
		chromedp.WaitVisible("#tl-"+gwGate)); err != nil {
		t.Fatal(err)
	}
	gate := "#gw-" + gwGate
	if s := text(gate + " .badge"); s != "Trực tuyến" {
		t.Errorf("gateway down for 30 s (within the grace): badge %q, want Trực tuyến", s)
	}
	if s := text("#gw-" + gwSchool + " .badge"); s != "Ngoại tuyến" {
		t.Errorf("school down for an hour: badge %q", s)
	}
	// The bars, as drawn: two blips and the one just begun, an outage, a
	// camera's; each visible, coloured by the stylesheet.
	type bar struct {
		Class string  `json:"c"`
		W     float64 `json:"w"`
		Fill  string  `json:"f"`
	}
	bars := evalJS[[]bar](t, ctx, `[...document.querySelectorAll("#tl-`+gwGate+` rect:not(.tl-bg)")].map(r => ({c: r.getAttribute("class"), w: r.getBoundingClientRect().width, f: getComputedStyle(r).fill}))`)
	count := map[string]int{}
	fills := map[string]string{"tl-out": "rgb(183, 28, 28)", "tl-blip": "rgb(239, 154, 0)", "tl-cam": "rgb(106, 27, 154)"}
	for _, b := range bars {
		count[b.Class]++
		if b.W < 1 {
			t.Errorf("a %s bar is %.2f px wide: not visible", b.Class, b.W)
		}
		if b.Fill != fills[b.Class] {
			t.Errorf("a %s bar is filled %q, want %q (the stylesheet's)", b.Class, b.Fill, fills[b.Class])
		}
	}
	if count["tl-blip"] != 3 || count["tl-out"] != 1 || count["tl-cam"] != 1 {
		t.Errorf("bars drawn: %v, want 3 blips (one still open, within the grace), 1 outage, 1 camera outage", count)
	}
	if s := text(gate + " .oldest"); !strings.HasPrefix(s, "chờ 16 phút") {
		t.Errorf("oldest waiting event %q", s)
	}
	// The list opens from the keyboard.
	if err := chromedp.Do(ctx, chromedp.Focus(gate+" .tl-list summary"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(gate+" .tl-list table")); err != nil {
		t.Fatal("the outage list does not open from the keyboard:", err)
	}
	if s := text(gate + " .tl-list tbody"); !strings.Contains(s, "25 phút") || !strings.Contains(s, "40 giây (ngắn, không báo động)") ||
		!strings.Contains(s, "Camera gate-cam") || !strings.Contains(s, "01/12/2026 06:00:00") {
		t.Errorf("outage list: %q", s)
	}
	shot("sites-timeline-vi", 1280, 800)
	shot("sites-timeline-vi-phone", 390, 844)
	if overflow := evalJS[float64](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
		t.Errorf("at 390 px the page is %.0f px wider than the screen", overflow)
	}
	if barW := evalJS[float64](t, ctx, `document.querySelector("#tl-`+gwGate+` svg.tl-bar").getBoundingClientRect().width`); barW < 150 {
		t.Errorf("at 390 px the timeline is %.0f px wide", barW)
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Click(`.spans a[href="/sites?span=7d"]`),
		chromedp.WaitVisible(`.spans a[aria-current][href="/sites?span=7d"]`)); err != nil {
		t.Fatal("7 days:", err)
	}
	if s := text(gate + " .tl-axis"); !strings.Contains(s, "24/11") || !strings.Contains(s, "01/12") {
		t.Errorf("7-day axis %q", s)
	}
}

// evalJS evaluates js in the page and decodes its value.
func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}
