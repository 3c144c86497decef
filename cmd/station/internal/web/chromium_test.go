package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// screenshotsEnv, when set to 1, makes TestChromium write its screenshots
// into docs/screenshots/ (how the committed ones were made); otherwise
// they go to the test's temporary directory.
const screenshotsEnv = "ANTT_SCREENSHOTS"

// chromiumFlags are chromiumtest's loopback-only flags for a station PC
// set up in Vietnamese.
var chromiumFlags = slices.Concat(chromiumtest.Flags, chromiumtest.Vietnamese)

// newBrowser starts real headless Chromium as a Vietnamese station PC
// (chromiumtest.New with extra), its tab ending after timeout.
func newBrowser(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	return chromiumtest.New(t, timeout, slices.Concat(chromiumtest.Vietnamese, extra)...)
}

// testJPEG draws a small picture standing in for a camera's snapshot.
func testJPEG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 180))
	for y := range 180 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(60 + x/4), uint8(90 + y/3), 110, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Real headless Chromium logs in through the form (the Secure,
// SameSite=Strict session cookie works on http://127.0.0.1), sees the
// sites page in Vietnamese, switches to English, opens the events page
// with a snapshot, and the pages are screenshot, on a desktop screen and
// a phone.
func TestChromium(t *testing.T) {
	cm := &pageCommander{}
	f := newFixture(t, func(o *Options) { o.Now = time.Now; o.Commands = cm })
	cm.f = f
	seq := f.event(gwGate, "motion", "gate-pir", map[string]any{"snapshot_camera": "gate-cam"})
	if _, err := f.st.Add(gwGate, "snapshot/1", testJPEG(t)); err != nil || seq != 1 {
		t.Fatal(err)
	}
	f.event(gwSchool, "tamper", "school-box", nil)
	f.event(gwGate, "contact", "gate-door", map[string]any{"note": "<b>not bold</b>"})
	f.st.SetTelemetry(gwGate, wire.Telemetry{Outbox: wire.OutboxStats{Depth: 3}, Cameras: map[string]string{"gate-cam": "online"}}, time.Now())

	base := serveFixture(t, f)

	shots := t.TempDir()
	if os.Getenv(screenshotsEnv) == "1" {
		shots = filepath.Join("..", "..", "..", "..", "docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := newBrowser(t, 90*time.Second)

	shot := func(name string, w, h int64) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
			t.Fatal(err)
		}
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil || int64(cfg.Width) != w || cfg.Height < int(h)/2 {
			t.Fatalf("screenshot %s: %v, %dx%d", name, err, cfg.Width, cfg.Height)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string { t.Helper(); return chromiumtest.Text(t, ctx, sel) }

	// Without a login the page leads to the login form.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#user")); err != nil {
		t.Fatal(err)
	}
	shot("login-vi", 1280, 800)
	shot("login-vi-phone", 390, 844)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	// A wrong password first: the form says so.
	if err := chromedp.Do(ctx, chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", "sai mật khẩu"),
		chromedp.Click(`button.primary`), chromedp.WaitVisible("#login-error")); err != nil {
		t.Fatal(err)
	}
	if got := text("#login-error"); !strings.Contains(got, "Sai tên đăng nhập") {
		t.Fatalf("login error %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys("#password", testPassword), // the form kept the user name
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards")); err != nil {
		t.Fatal(err)
	}
	if h := text("h1"); h != "Địa điểm và thiết bị" {
		t.Fatalf("after login: h1 %q", h)
	}
	if s := text("#gw-" + gwGate + " .badge"); s != "Trực tuyến" {
		t.Errorf("gate badge %q", s)
	}
	if s := text("#gw-" + gwSchool + " .badge"); s != "Ngoại tuyến" {
		t.Errorf("school badge %q", s)
	}
	shot("sites-vi", 1280, 800)
	shot("sites-vi-phone", 390, 844)

	// Switch the language with the keyboard-reachable button.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Click(`button[value="en"]`),
		chromedp.WaitReady(`html[lang="en"]`)); err != nil {
		t.Fatal(err)
	}
	if h := text("h1"); h != "Sites and gateways" {
		t.Fatalf("after switching: h1 %q", h)
	}
	if s := text("#gw-" + gwGate + " .badge"); s != "Online" {
		t.Errorf("gate badge in English %q", s)
	}
	shot("sites-en", 1280, 800)

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/events"), chromedp.WaitVisible("table.events img.thumb")); err != nil {
		t.Fatal(err)
	}
	// Wait for the picture itself (the page loads it after the rows).
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const i = document.querySelector("img.thumb"); return i.complete && i.naturalWidth === 320; })()`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("snapshot thumbnail not shown: %v", err)
	}
	if s := text("table.events"); !strings.Contains(s, "<b>not bold</b>") {
		t.Errorf("event attrs not shown as text: %q", s)
	}
	shot("events-en", 1280, 800)
	if err := chromedp.Do(ctx, chromedp.Click(`button[value="vi"]`), chromedp.WaitReady(`html[lang="vi"]`)); err != nil {
		t.Fatal(err)
	}
	shot("events-vi-phone", 390, 844)
	// The live feed: a tamper stored while the page is open shows within
	// 2 s, pinned above the events, and plays the alarm tone.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.WaitVisible("#live")); err != nil {
		t.Fatal("live feed did not open:", err)
	}
	if got := text("#live"); got != "Đang cập nhật trực tiếp" {
		t.Errorf("live indicator %q", got)
	}
	f.event(gwGate, "tamper", "live-box", nil)
	lastArr, _ := f.st.LastArrival()
	lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
	err := chromedp.Do(lctx, chromedp.WaitVisible("#al-a"+strconv.FormatUint(lastArr, 10)),
		chromedp.WaitVisible("tr#ev-"+strconv.FormatUint(lastArr, 10)+".is-alarm"))
	lcancel()
	if err != nil {
		t.Fatal("live tamper not shown within 2 s:", err)
	}
	if played, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.alarmSound || ""`)); err != nil || played == "" {
		t.Errorf("alarm tone not played: %q %v", played, err)
	}
	// The live row reads as a server-rendered one: kind and state in
	// Vietnamese, the time in Asia/Ho_Chi_Minh as the page prints it.
	liveRow := "tr#ev-" + strconv.FormatUint(lastArr, 10)
	if k, st := text(liveRow+" td:nth-child(3)"), text(liveRow+" td:nth-child(5)"); k != "Cạy phá thiết bị" || st != "kích hoạt" {
		t.Errorf("live row kind %q state %q", k, st)
	}
	if got, want := text(liveRow+" td:nth-child(1)"), when(LangVI, f.lastEventTime(gwGate)); got != want {
		t.Errorf("live row time %q, want %q as the page prints it", got, want)
	}
	// A walk test shows within 2 s with its snapshot (stored after it).
	walk := f.storeEvent(gwGate, wire.Event{Kind: "motion", Source: "pir-cong", State: "active", ClockSynced: true, Test: true,
		Attrs: map[string]any{"snapshot_camera": "gate-cam"}})
	walkArr, _ := f.st.LastArrival()
	if _, err := f.st.Add(gwGate, "snapshot/"+strconv.FormatUint(walk, 10), testJPEG(t)); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	walkImg := "tr#ev-" + strconv.FormatUint(walkArr, 10) + " img.thumb"
	err = chromedp.Do(wctx, chromedp.WaitVisible(walkImg))
	if err == nil { // and the picture itself decoded
		_, err = chromedp.Run(wctx, chromedp.Poll[bool](`(() => { const i = document.querySelector("`+walkImg+`"); return i.complete && i.naturalWidth === 320; })()`))
	}
	wcancel()
	if err != nil {
		t.Fatal("walk test with its snapshot not shown within 2 s:", err)
	}
	shot("events-live-vi", 1280, 800)

	// Acknowledge the live tamper with an outcome and a note, in place:
	// the confirmation is asked, the page does not reload, the alarm
	// leaves the list, the store has the acknowledgement.
	liveKey := arrivalKey(lastArr)
	before, _ := strconv.Atoi(text("#alarm-count"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.keptPage = 1`)); err != nil {
		t.Fatal(err)
	}
	acceptConfirm(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Click(`#al-`+liveKey+` input[type=checkbox]`), chromedp.SetValue("#outcome", "handled"),
		chromedp.SendKeys("#note", "đã kiểm tra tại chỗ"), chromedp.Click("#ack-fields button"),
		chromedp.WaitNotPresent("#al-"+liveKey), chromedp.WaitVisible("#ack-result")); err != nil {
		t.Fatal("acknowledge from the page:", err)
	}
	if asked := confirmsAsked(t, ctx); asked != 1 {
		t.Errorf("confirmations asked: %d, want 1", asked)
	}
	if kept, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.keptPage || 0`)); err != nil || kept != 1 {
		t.Errorf("acknowledging reloaded the page (%d, %v)", kept, err)
	}
	acks, err := f.st.Acks()
	if a, ok := acks[liveKey]; err != nil || !ok || a.Outcome != "handled" || a.User != "an" || a.Note != "đã kiểm tra tại chỗ" {
		t.Fatalf("acknowledgement stored: %+v %v", acks[liveKey], err)
	}
	if got := text("#alarm-count"); got != strconv.Itoa(before-1) {
		t.Errorf("alarm count %q after acknowledging one of %d", got, before)
	}

	// Arm and disarm a site from its card, each after the confirmation;
	// the card shows the mode the gateway reports. Declining sends nothing.
	for _, c := range []struct{ mode, shown string }{{"away", "Đi vắng"}, {"disarmed", "Tắt bảo vệ"}} {
		form := `form[action="/gateways/` + gwGate + `/command"]:has(select)`
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#mode-"+gwGate),
			chromedp.SetValue("#mode-"+gwGate, c.mode)); err != nil {
			t.Fatal(err)
		}
		acceptConfirm(t, ctx)
		if err := chromedp.Do(ctx, chromedp.Click(form+" button"), chromedp.WaitVisible("#cmd-result")); err != nil {
			t.Fatalf("arm %s: %v", c.mode, err)
		}
		if got := text("#cmd-result"); !strings.Contains(got, "thiết bị đã thực hiện") {
			t.Errorf("arm %s: result %q", c.mode, got)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#mode-now-"+gwGate)); err != nil {
			t.Fatal(err)
		}
		if got := text("#mode-now-" + gwGate); got != c.shown {
			t.Errorf("after arm %s the card shows %q, want %q", c.mode, got, c.shown)
		}
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(window.confirm = () => false, 0)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`form[action="/gateways/`+gwGate+`/command"]:has(select) button`)); err != nil {
		t.Fatal(err)
	}
	if got := cm.sent(); len(got) != 2 || got[0]["mode"] != "away" || got[1]["mode"] != "disarmed" || got[0]["user"] != "an" {
		t.Errorf("commands sent: %v (the declined one must not be)", got)
	}
	shot("sites-armed-vi", 1280, 800)

	// A gateway offline beyond the grace is an alarm no feed item brings:
	// the open page finds it within a few seconds (it polls the alarms),
	// with the tone; an alarm acknowledged elsewhere leaves the list.
	// A page opened without a click may not sound (the browser's autoplay
	// policy): the officer turns the sound on.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#live"), chromedp.Click("#sound-on")); err != nil {
		t.Fatal(err)
	}
	tones, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.alarmSound || "0"`))
	since := time.Now().Add(-DefaultOfflineGrace - time.Minute).Truncate(time.Second)
	f.st.SetStatus(gwGate, wire.Status{Online: false, Boot: "b1"}, since)
	offKey := offlineKey(gwGate, since)
	octx, ocancel := context.WithTimeout(ctx, 15*time.Second)
	err = chromedp.Do(octx, chromedp.WaitVisible(`li[id="al-`+offKey+`"]`))
	ocancel()
	if err != nil {
		t.Fatal("gateway offline beyond the grace not pinned on the open page:", err)
	}
	if got := text(`li[id="al-` + offKey + `"] .what`); got != "Ngoại tuyến quá thời gian cho phép" {
		t.Errorf("offline alarm text %q", got)
	}
	if now, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.alarmSound || "0"`)); now == tones {
		t.Error("no alarm tone for the gateway offline")
	}
	al, _, err := (&view{s: f.s, p: &principal{name: "an", role: accounts.Admin}, lang: LangVI}).alarms()
	if err != nil {
		t.Fatal(err)
	}
	var other string
	for _, a := range al {
		if a.Key != offKey {
			other = a.Key
		}
	}
	if err := f.st.Acknowledge([]store.Ack{{Key: other, User: "tuan", Outcome: "handled", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	octx, ocancel = context.WithTimeout(ctx, 15*time.Second)
	err = chromedp.Do(octx, chromedp.WaitNotPresent(`li[id="al-`+other+`"]`))
	ocancel()
	if err != nil {
		t.Error("an alarm acknowledged elsewhere stayed on the page:", err)
	}
	f.st.SetStatus(gwGate, wire.Status{Online: true, Boot: "b1", Version: "1.0.0"}, time.Now())
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/stats"), chromedp.WaitVisible("svg.chart")); err != nil {
		t.Fatal("stats page:", err)
	}
	shot("stats-vi", 1280, 800)
	for _, page := range []string{"users", "audit"} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/"+page), chromedp.WaitVisible("table")); err != nil {
			t.Fatalf("%s page: %v", page, err)
		}
		shot(page+"-vi", 1280, 800)
	}

	// The log out button ends the session.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible("#user")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#user")); err != nil {
		t.Fatal("after logout the events page did not lead to the login form:", err)
	}
}

// pageCommander stands in for the gateway in TestChromium: an arm command
// is done and the next telemetry reports the new mode.
type pageCommander struct {
	f    *fixture
	mu   sync.Mutex
	args []map[string]any
}

func (c *pageCommander) Command(_ context.Context, gw, name string, args map[string]any) (json.RawMessage, error) {
	c.mu.Lock()
	c.args = append(c.args, args)
	c.mu.Unlock()
	if name == "arm" {
		c.f.st.SetTelemetry(gw, wire.Telemetry{Alarm: args["mode"].(string), Outbox: wire.OutboxStats{Depth: 3},
			Cameras: map[string]string{"gate-cam": "online"}}, time.Now())
	}
	return json.RawMessage(`{"id":"r1","ok":true}`), nil
}

func (c *pageCommander) sent() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.args)
}

// acceptConfirm answers the page's next confirmations yes, counting them
// (window.confirmsAsked); chromedp's Evaluate is not bound by the page's
// CSP.
func acceptConfirm(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(window.confirmsAsked = 0, window.confirm = () => { window.confirmsAsked++; return true; }, 0)`)); err != nil {
		t.Fatal(err)
	}
}

func confirmsAsked(t *testing.T, ctx context.Context) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.confirmsAsked || 0`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// lastEventTime is the time of gw's newest stored event.
func (f *fixture) lastEventTime(gw string) time.Time {
	f.t.Helper()
	items, _, err := f.s.o.Events.Page(0, 1, func(g string) bool { return g == gw })
	if err != nil || len(items) != 1 || items[0].Event == nil {
		f.t.Fatalf("newest event of %s: %v", gw, err)
	}
	return items[0].Event.Time
}
