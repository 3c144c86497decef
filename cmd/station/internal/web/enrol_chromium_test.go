package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
)

// TestEnrolChromium: in real headless Chromium, with the page's CSP, an
// admin opens Thiết bị from the menu, enrols a school with the keyboard
// reachable form, downloads the SD card files once (a zip that passes
// check-config), and a second click on the same button gets the page
// saying the download is gone.
func TestEnrolChromium(t *testing.T) {
	f, _, _ := enrolFixture(t)
	base := serveFixture(t, f)
	downloads := t.TempDir()
	shots := t.TempDir()
	if os.Getenv(screenshotsEnv) == "1" {
		shots = filepath.Join("..", "..", "..", "..", "docs", "screenshots")
	}

	ctx := newBrowser(t, 60*time.Second)
	events := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: &events}); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string { t.Helper(); return chromiumtest.Text(t, ctx, sel) }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "an"), chromedp.SendKeys("#password", testPassword), chromedp.Click("button.primary"),
		chromedp.WaitVisible(".cards"), chromedp.Click(`nav a[href="/gateways"]`), chromedp.WaitVisible(`form[action="/gateways"]`)); err != nil {
		t.Fatal(err)
	}
	if h := text("h1"); h != "Thêm và thu hồi thiết bị" {
		t.Fatalf("enrolment page h1 %q", h)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys("#id", "truong-mn-7"), chromedp.SendKeys("#name", "Trường mầm non 7"),
		chromedp.SendKeys("#site", "chi-dam"), chromedp.SendKeys("#site_name", "Xã Chí Đám"),
		chromedp.SetValue("#kind", "school"), chromedp.Submit("#id"),
		chromedp.WaitVisible(`form[action="/gateways/truong-mn-7/download"] button`)); err != nil {
		t.Fatal(err)
	}
	if s := text("table.gateways"); !strings.Contains(s, "Trường mầm non 7") || !strings.Contains(s, "Trường học") {
		t.Errorf("the list lacks the new school: %q", s)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	if b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(filepath.Join(shots, "gateways-vi.png"), b, 0o644)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`form[action="/gateways/truong-mn-7/download"] button`)); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(downloads, "antt-truong-mn-7-boot.zip")
	devtest.WaitFor(t, 15*time.Second, "the browser's download", func() bool {
		st, err := os.Stat(zipPath)
		return err == nil && st.Size() > 0
	})
	zb, err := os.ReadFile(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	checkBundle(t, zb, "truong-mn-7")
	// The same button again: the download is gone.
	if err := chromedp.Do(ctx, chromedp.Click(`form[action="/gateways/truong-mn-7/download"] button`), chromedp.WaitVisible(`p.failed[role="alert"]`)); err != nil {
		t.Fatal(err)
	}
	if s := text(`p.failed[role="alert"]`); !strings.Contains(s, "đã được tải hoặc đã hết hạn") {
		t.Errorf("second download: %q", s)
	}
}
