package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The events page offers an officer, and only an officer, the form that
// fetches a time range of a gateway's camera, with that gateway's cameras
// (as its telemetry names them) and the range limit the API enforces.
func TestRangeFormOfficersOnly(t *testing.T) {
	f, _, _ := clipFixture(t)
	f.st.SetTelemetry(gwGate, wire.Telemetry{Cameras: map[string]string{"gate-cam": "online", "yard-cam": "offline"}}, time.Now())
	officer := must(t, f.do(req{path: "/events", cookie: f.login("tuan")}), 200, "officer's events").body
	for _, want := range []string{`id="clip-range"`, `id="range-` + gwGate + `"`, `<option value="gate-cam">gate-cam</option><option value="yard-cam">yard-cam</option>`,
		`<label for="rf-` + gwGate + `">Từ (giờ Việt Nam)</label>`, `data-max="` + strconv.Itoa(int(MaxFetchRange/time.Minute)) + `"`, "Lấy bản ghi theo khoảng thời gian"} {
		if !strings.Contains(officer, want) {
			t.Errorf("officer's events page lacks %s", want)
		}
	}
	// A gateway without cameras has no form; one of another site is not listed.
	if strings.Contains(officer, `id="range-`+gwSchool+`"`) {
		t.Error("a form for a gateway of another site, or without cameras")
	}
	if viewer := must(t, f.do(req{path: "/events", cookie: f.login("binh")}), 200, "viewer's events").body; strings.Contains(viewer, "clip-range") || strings.Contains(viewer, "range-form") {
		t.Error("a viewer is offered the range fetch")
	}
	if en := must(t, f.do(req{path: "/events", cookie: f.login("tuan"), header: map[string]string{"Accept-Language": "en"}}), 200, "english").body; !strings.Contains(en, "Fetch recordings for a time range") {
		t.Error("the English page lacks the form's title")
	}
}

// Real headless Chromium: an officer opens the range form on the
// Vietnamese events page, types the times as dd/mm/yyyy HH:MM in Vietnam
// time, and the gateway (the fixture's commander, behind the real API and
// clip store) is asked clip.get for that camera with the times in UTC; the
// page lists the segments the reply says will come. A reversed range is
// refused in the page without asking the gateway.
func TestChromiumRangeFetch(t *testing.T) {
	f, cmd, _ := clipFixture(t)
	f.st.SetTelemetry(gwGate, wire.Telemetry{Cameras: map[string]string{"gate-cam": "online", "yard-cam": "online"}}, time.Now())
	cmd.reply = `{"id":"x","ok":true,"clips":[{"clip":"seg-1","camera":"yard-cam","start":"2026-12-01T01:00:00Z","duration_ms":60000,"bytes":4000000,"sha256":"00"},` +
		`{"clip":"seg-2","camera":"yard-cam","start":"2026-12-01T01:01:00Z","duration_ms":60000,"bytes":4000000,"sha256":"00"}]}`
	base := serveFixture(t, f)
	ctx := newBrowser(t, 60*time.Second)
	form := "#range-" + gwGate
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "tuan"), chromedp.SendKeys("#password", testPassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards"),
		chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#clip-range summary"),
		chromedp.Click("#clip-range summary"), chromedp.WaitVisible(form+" #rf-"+gwGate),
		chromedp.SetValue(form+" select", "yard-cam"),
		// Reversed first: refused in the page.
		chromedp.SendKeys("#rf-"+gwGate, "01/12/2026 08:02"), chromedp.SendKeys("#rt-"+gwGate, "01/12/2026 08:00"),
		chromedp.Click(form+" button")); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	devtest.WaitFor(t, 10*time.Second, "the reversed range refused", func() bool { return strings.Contains(text(form+" .range-result"), "phải sau") })
	if typ, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("rf-`+gwGate+`").type`)); err != nil || typ != "text" {
		t.Fatalf("the Vietnamese page's time field is %q (%v), not dd/mm/yyyy text", typ, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(document.getElementById("rt-`+gwGate+`").value = "", 0)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys("#rt-"+gwGate, "01/12/2026 08:10"), chromedp.Click(form+" button")); err != nil {
		t.Fatal(err)
	}
	last := ""
	devtest.WaitFor(t, 10*time.Second, "the reply listed", func() bool {
		if s := text(form + " .range-result"); s != last {
			last = s
			v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("rf-`+gwGate+`").value + " | " + document.getElementById("rt-`+gwGate+`").value`))
			t.Logf("the page says %q (fields %q)", s, v)
		}
		return strings.Contains(last, "seg-2")
	})
	cmd.mu.Lock()
	got := append([]string(nil), cmd.got...)
	cmd.mu.Unlock()
	want := gwGate + " clip.get " + `{"camera":"yard-cam","from":"2026-12-01T01:02:00Z","to":"2026-12-01T01:10:00Z"}`
	if len(got) != 1 || got[0] != want {
		t.Fatalf("the gateway was asked %q, want %q", got, want)
	}
	res := text(form + " .range-result")
	if !strings.Contains(res, "Thiết bị sẽ gửi 2 đoạn video") || !strings.Contains(res, "01/12/2026 08:00:00 · 60 s · seg-1") {
		t.Fatalf("the reply is shown as %q", res)
	}
	if es := f.entries("clip.fetch"); len(es) != 1 || es[0].Actor != "tuan" || es[0].Target != "yard-cam" {
		t.Fatalf("audit %+v", es)
	}
}
