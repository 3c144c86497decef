package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
	"github.com/antt-gateway/antt/device/reexec"
)

// TestChromiumArmRealGateway: real headless Chromium on the real
// station's console, the real gateway binary with the simulated alarm
// (a PIR in mode away, a simulated siren). The officer arms the site from
// its card after the confirmation, the gateway carries it out (the
// station's command over MQTT, the gateway's reply), the card shows the
// mode the gateway's telemetry reports, the gateway's mode event is on
// the events page in Vietnamese, and disarming does the same back. A
// detection whose camera takes a snapshot shows in the open events page,
// thumbnail loaded, within 2 s of its time.
func TestChromiumArmRealGateway(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := startConsoleStation(t, filepath.Join(dir, "station"))
	const gw = "cong-khu-3"
	api := devtest.FreeAddr(t)
	cfg := filepath.Join(dir, gw+".yaml")
	y := fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink:
  broker: mqtt://%s
  client_id: %s
  keepalive: 5s
  telemetry_interval: 1s
api: {listen: "%s"}
alarm: {modes: [{name: away, exit_delay: 0s}]}
sensors:
  - {name: pir, kind: motion, driver: sim, every: 1h, modes: [away]}
  - {name: gate-pir, kind: motion, driver: sim, every: 3s}
outputs:
  - {name: siren, driver: sim}
cameras:
  - {name: cam-cong, url: "rtsp://127.0.0.1:1/never", snapshot_url: %q, snapshot_on: [gate-pir]}
`, gw, filepath.Join(dir, "gw"), st.addr, gw, api, realJPEGServer(t))
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	startBinGateway(t, cfg, api)
	devtest.WaitFor(t, 30*time.Second, "gateway online in the console", func() bool {
		var g struct {
			Online bool   `json:"online"`
			Mode   string `json:"mode"`
		}
		st.tryAPI(t, "GET", "/api/gateways/"+gw, &g)
		return g.Online && g.Mode != ""
	})

	// A station PC set up in Vietnamese, as in internal/web's tests.
	ctx := chromiumtest.New(t, 2*time.Minute, chromiumtest.Vietnamese...)
	base := "http://" + st.http
	text := func(sel string) string { t.Helper(); return chromiumtest.Text(t, ctx, sel) }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", consolePassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards")); err != nil {
		t.Fatal("log in:", err)
	}
	// The card shows the gateway online, with the mode its telemetry reports.
	modeIs := func(want string) {
		t.Helper()
		devtest.WaitFor(t, 20*time.Second, "the card shows mode "+want, func() bool {
			if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#gw-"+gw)); err != nil {
				t.Fatal(err)
			}
			m, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("mode-now-`+gw+`") || {}).textContent || ""`))
			return m == want
		})
	}
	modeIs("Tắt bảo vệ")
	if s := text("#gw-" + gw + " .badge"); s != "Trực tuyến" {
		t.Errorf("gateway badge %q", s)
	}
	for _, c := range []struct{ mode, shown string }{{"away", "Đi vắng"}, {"disarmed", "Tắt bảo vệ"}} {
		if err := chromedp.Do(ctx, chromedp.SetValue("#mode-"+gw, c.mode)); err != nil {
			t.Fatal(err)
		}
		// The confirmation (window.confirm) is answered yes and counted;
		// chromedp's Evaluate is not bound by the page's CSP.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(window.asked = 0, window.confirm = () => { window.asked++; return true; }, 0)`)); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Click(`form[action="/gateways/`+gw+`/command"]:has(select) button`), chromedp.WaitVisible("#cmd-result")); err != nil {
			t.Fatalf("arm %s: %v", c.mode, err)
		}
		if got := text("#cmd-result"); !strings.Contains(got, "thiết bị đã thực hiện") {
			t.Fatalf("arm %s: %q", c.mode, got)
		}
		modeIs(c.shown)
		// The gateway's own mode event, on the events page in Vietnamese.
		devtest.WaitFor(t, 10*time.Second, "the mode event "+c.mode+" on the events page", func() bool {
			if err := chromedp.Do(ctx, chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#alarms")); err != nil {
				t.Fatal(err)
			}
			found, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll("#feed-rows tr")].some(tr =>
				tr.cells.length > 4 && tr.cells[2].textContent.trim() === "Đổi chế độ bảo vệ" && tr.cells[4].textContent.trim() === `+"`"+c.shown+"`"+`)`))
			return found
		})
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/sites"), chromedp.WaitVisible("#mode-"+gw)); err != nil {
			t.Fatal(err)
		}
	}
	// A detection with its snapshot shows in the open events page within
	// 2 s of its time: the page's own clock (Date.now, the same machine's)
	// when the row's thumbnail has loaded, against the event's time.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/events"), chromedp.WaitVisible("#live")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => {
	  window.shownAt = {};
	  const mark = (tr) => { if (!window.shownAt[tr.dataset.ref]) window.shownAt[tr.dataset.ref] = Date.now(); };
	  new MutationObserver(() => {
	    for (const tr of document.querySelectorAll("#feed-rows tr.new[data-ref]")) {
	      const img = tr.querySelector("img.thumb");
	      if (!img || window.shownAt[tr.dataset.ref]) continue;
	      if (img.complete && img.naturalWidth > 0) mark(tr); else img.addEventListener("load", () => mark(tr), { once: true });
	    }
	  }).observe(document.getElementById("feed-rows"), { childList: true, subtree: true });
	  return 0;
	})()`)); err != nil {
		t.Fatal(err)
	}
	var ref string
	var at int64
	devtest.WaitFor(t, 20*time.Second, "a detection with its snapshot added by the live feed", func() bool {
		m, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int64](`window.shownAt`))
		if err != nil {
			t.Fatal(err)
		}
		for r, a := range m {
			ref, at = r, a
			return true
		}
		return false
	})
	var page struct {
		Items []feedEvent `json:"items"`
	}
	st.api(t, "GET", "/api/events?gateway="+gw+"&limit=100", "", "", &page)
	found := false
	for _, it := range page.Items {
		if it.Event != nil && it.Gateway+"/"+it.Epoch+"/"+strconv.FormatUint(it.Event.Seq, 10) == ref {
			found = true
			late := time.UnixMilli(at).Sub(it.Event.Time)
			t.Logf("%s shown with its snapshot %v after its time", ref, late)
			if late > shownWithin() {
				t.Errorf("%s shown with its snapshot %v after its time, over %v", ref, late, shownWithin())
			}
		}
	}
	if !found {
		t.Errorf("row %s is not an event of the store", ref)
	}

	// Both commands are in the audit log with the officer's name.
	var audit struct {
		Entries []struct {
			Actor   string            `json:"actor"`
			Gateway string            `json:"gateway"`
			OK      bool              `json:"ok"`
			Detail  map[string]string `json:"detail"`
		} `json:"entries"`
	}
	st.api(t, "GET", "/api/audit?action=command", "", "", &audit)
	if len(audit.Entries) != 2 || audit.Entries[0].Detail["mode"] != "disarmed" || audit.Entries[1].Detail["mode"] != "away" ||
		audit.Entries[0].Actor != "an" || !audit.Entries[0].OK || audit.Entries[1].Gateway != gw {
		t.Errorf("audit of the commands: %+v", audit.Entries)
	}
}

// realJPEGServer serves a small real JPEG (a browser must decode it) as a
// camera's snapshot URL, until the test ends.
func realJPEGServer(t testing.TB) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 320, 180))
	for y := range 180 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(40 + x/3), uint8(80 + y/2), 120, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(b.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/snapshot.jpg"
}

// shownWithin is the 2 s for a detection to show in the page; the
// binaries run emulated under qemu-user (ANTT_TEST_EXEC, make test-arm)
// take several times longer for the same work, so there it is 10 s.
func shownWithin() time.Duration {
	if os.Getenv(reexec.EnvExec) != "" {
		return 10 * time.Second
	}
	return 2 * time.Second
}
