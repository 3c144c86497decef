package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/devtest"
)

// chromiumFlags keep the browser on loopback and quiet, as
// internal/web's Chromium test does: no sandbox (CI runs as root), no
// background traffic, a station PC set up in Vietnamese.
var chromiumFlags = []chromedp.ExecAllocatorOption{
	chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("lang", "vi"),
	chromedp.Flag("accept-lang", "vi,en;q=0.5"),
}

// TestChromiumArmRealGateway: real headless Chromium on the real
// station's console, the real gateway binary with the simulated alarm
// (a PIR in mode away, a simulated siren). The officer arms the site from
// its card after the confirmation, the gateway carries it out (the
// station's command over MQTT, the gateway's reply), the card shows the
// mode the gateway's telemetry reports, the gateway's mode event is on
// the events page in Vietnamese, and disarming does the same back.
func TestChromiumArmRealGateway(t *testing.T) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: install the Debian package chromium (.ci/test-deps.sh)")
	}
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
outputs:
  - {name: siren, driver: sim}
`, gw, filepath.Join(dir, "gw"), st.addr, gw, api)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startBinGateway(t, cfg, api)
	_ = g

	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir())}, chromiumFlags...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	base := "http://" + st.http
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
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
