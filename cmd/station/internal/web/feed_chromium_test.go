package web

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/devtest"
)

// In real headless Chromium (Vietnamese, the loopback-only flags of
// TestChromium): a row the live feed adds carries the officer's links to
// the live view and the playback exactly as the server renders them for
// the same event; the events filter's dates read and write dd/mm/yyyy on
// the Vietnamese page, a wrong date is refused with the format named, and
// the server still gets yyyy-mm-dd.
func TestChromiumFeedRowsAndDates(t *testing.T) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: install the Debian package chromium (.ci/test-deps.sh)")
	}
	f := newFixture(t, func(o *Options) { o.Now = time.Now })
	f.event(gwGate, "motion", "before", nil)
	ln, _, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(sctx, NewHTTPServer(f.s, f.s.log), ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	base := "http://" + ln.Addr().String()
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}, chromiumFlags...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", testPassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards"),
		chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#live")); err != nil {
		t.Fatal(err)
	}

	// Two events while the page is open: one naming its camera, one not.
	f.event(gwGate, "motion", "with-cam", map[string]any{"snapshot_camera": "gate-cam"})
	withCam, _ := f.st.LastArrival()
	f.event(gwSchool, "motion", "no-cam", nil)
	noCam, _ := f.st.LastArrival()
	links := func(arrival uint64) string {
		t.Helper()
		sel := "tr#ev-" + strconv.FormatUint(arrival, 10)
		if err := chromedp.Do(ctx, chromedp.WaitVisible(sel+" a.live-link")); err != nil {
			t.Fatalf("no live link in %s: %v", sel, err)
		}
		return eval(`[...document.querySelectorAll("` + sel + ` a.button")].map((a) => a.className + " «" + a.textContent + "» " +
			new URL(a.href).pathname + " " + [...new URL(a.href).searchParams].map((p) => p.join("=")).join("&")).join(" | ")`)
	}
	liveWith, liveNo := links(withCam), links(noCam)
	if !strings.Contains(liveWith, "«Xem trực tiếp» /live gateway="+gwGate+"&camera=gate-cam") || !strings.Contains(liveWith, "replay-link") {
		t.Errorf("live row with a camera: %s", liveWith)
	}
	if liveNo != "button live-link «Xem trực tiếp» /live gateway="+gwSchool {
		t.Errorf("live row without a camera: %s", liveNo)
	}
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("#live")); err != nil {
		t.Fatal(err)
	}
	if srvWith, srvNo := links(withCam), links(noCam); srvWith != liveWith || srvNo != liveNo {
		t.Errorf("live rows' links differ from the server's:\n live   %s\n        %s\n server %s\n        %s", liveWith, liveNo, srvWith, srvNo)
	}

	// The filter's dates on the Vietnamese page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/events?since=2026-12-01&until=2026-12-03"), chromedp.WaitVisible("#since")); err != nil {
		t.Fatal(err)
	}
	got := eval(`[since.type, since.value, until.value, document.querySelector('input[type=hidden][name=since]').value,
		document.querySelector('label[for=since]').textContent].join(" ; ")`)
	if !strings.HasPrefix(got, "text ; 01/12/2026 ; 03/12/2026 ; 2026-12-01 ; ") || !strings.HasSuffix(got, "(dd/mm/yyyy)") {
		t.Errorf("date inputs: %s", got)
	}
	typed := func(v string) string {
		return eval(`since.value = "` + v + `"; since.dispatchEvent(new Event("input"));
			since.checkValidity() + " " + since.validationMessage`)
	}
	if got := typed("31/02/2026"); !strings.HasPrefix(got, "false ") || !strings.Contains(got, "dd/mm/yyyy") {
		t.Errorf("31/02/2026: %s", got)
	}
	if got := typed("12/01/2026"); got != "true " {
		t.Errorf("12/01/2026: %s", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`form.filters button[type=submit]`)); err != nil {
		t.Fatal("filter by a typed date:", err)
	}
	devtest.WaitFor(t, 10*time.Second, "the filtered page", func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.search.includes("since=2026-01-12") && document.readyState === "complete"`))
		return err == nil && ok
	})
	if got := eval(`location.search + " " + since.value`); got != "?gateway=&site=&since=2026-01-12&until=2026-12-03&kind=&state=&q= 12/01/2026" {
		t.Errorf("after filtering: %s", got)
	}
}
