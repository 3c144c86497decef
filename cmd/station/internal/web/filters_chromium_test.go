package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// In real headless Chromium (Vietnamese): the events filter by kind and
// text, each field labelled, filled from the keyboard (Enter submits);
// "cong khu" finds "Cổng khu dân cư 3"; the values stay in the URL, the
// fields and the pager's link to older events; on the newest filtered
// page the live feed adds the rows the filters show and no other, an
// alarm they do not show is still pinned; on a phone's width the form
// fits the screen.
func TestChromiumEventFilters(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Now = time.Now })
	for i := range 60 {
		f.storeEvent(gwGate, wire.Event{Kind: "motion", Source: "pir-cong-" + strconv.Itoa(i), State: "active", ClockSynced: true})
		f.storeEvent(gwSchool, wire.Event{Kind: "motion", Source: "pir-san", State: "active", ClockSynced: true})
		f.storeEvent(gwGate, wire.Event{Kind: "contact", Source: "cua", State: "active", ClockSynced: true})
	}
	base := serveFixture(t, f)
	ctx := newBrowser(t, 90*time.Second)
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", testPassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards"),
		chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#q")); err != nil {
		t.Fatal(err)
	}
	// Every field has its label; the text field its hint.
	if got := eval(`["kind", "state", "q"].map((id) => document.querySelector("label[for=" + id + "]").control.id + ":" +
		document.querySelector("label[for=" + id + "]").textContent).join(" ; ") + " ; " + document.getElementById(q.getAttribute("aria-describedby")).textContent`); got !=
		"kind:Loại ; state:Tình trạng ; q:Tìm ; Tên địa điểm, thiết bị, cảm biến, camera, ghi chú; không cần gõ dấu." {
		t.Errorf("labels: %s", got)
	}
	// From the keyboard: the kind select takes a typed letter's option
	// ("P": Phát hiện chuyển động), the text is typed, Enter submits.
	if err := chromedp.Do(ctx, chromedp.Focus("#kind"), chromedp.KeyEvent("P"), chromedp.Focus("#q"), chromedp.KeyEvent("cong khu"+kb.Enter)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the filtered page", func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.search.includes("q=cong+khu") && document.readyState === "complete"`))
		return err == nil && ok
	})
	count := func() string {
		return eval(`JSON.stringify([...document.querySelectorAll("#feed-rows tr")].reduce((m, tr) => {
			const k = tr.className.split(" ")[1] + " " + tr.cells[1].textContent; m[k] = (m[k] || 0) + 1; return m; }, {}))`)
	}
	if got := eval(`location.search + " | " + kind.value + " | " + q.value`); !strings.Contains(got, "kind=motion") || !strings.HasSuffix(got, " | motion | cong khu") {
		t.Errorf("after filtering: %s", got)
	}
	if got := count(); got != `{"kind-motion Cổng khu dân cư 3":50}` {
		t.Errorf("filtered rows: %s", got)
	}
	older := eval(`document.querySelector("nav.pager a:last-child").href`)
	if !strings.Contains(older, "before=") || !strings.Contains(older, "kind=motion") || !strings.Contains(older, "q=cong+khu") {
		t.Errorf("older link %s", older)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(older), chromedp.WaitVisible("#q")); err != nil {
		t.Fatal(err)
	}
	if got := count() + " " + eval(`kind.value + " | " + q.value`); got != `{"kind-motion Cổng khu dân cư 3":10} motion | cong khu` {
		t.Errorf("older page: %s", got)
	}

	// The newest filtered page runs the live feed with its filters.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/events?kind=motion&q=cong+khu"), chromedp.WaitVisible("#live")); err != nil {
		t.Fatal(err)
	}
	f.storeEvent(gwSchool, wire.Event{Kind: "motion", Source: "pir-san-live", State: "active", ClockSynced: true})
	other, _ := f.st.LastArrival()
	f.storeEvent(gwGate, wire.Event{Kind: "tamper", Source: "hop-dien", State: "active", ClockSynced: true})
	tamper, _ := f.st.LastArrival()
	f.storeEvent(gwGate, wire.Event{Kind: "motion", Source: "pir-cong-live", State: "active", ClockSynced: true})
	shown, _ := f.st.LastArrival()
	sel := "tr#ev-" + strconv.FormatUint(shown, 10)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel), chromedp.WaitVisible("#al-a"+strconv.FormatUint(tamper, 10))); err != nil {
		t.Fatal("the live row or the pinned alarm:", err)
	}
	if got := eval(`[!!document.querySelector("tr#ev-` + strconv.FormatUint(other, 10) + `"), !!document.querySelector("tr#ev-` +
		strconv.FormatUint(tamper, 10) + `"), document.querySelector("` + sel + `").cells[3].textContent].join(" ")`); got != "false false pir-cong-live" {
		t.Errorf("live rows: other site, tamper, shown: %s", got)
	}

	// A phone: the form fits the screen's width.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible("#q")); err != nil {
		t.Fatal(err)
	}
	if got := eval(`[...document.querySelectorAll("form.filters > *")].filter((e) => e.getBoundingClientRect().right > innerWidth + 1).map((e) => e.id || e.tagName).join(",")`); got != "" {
		t.Errorf("on a phone these filter fields overflow the screen: %s", got)
	}
}
