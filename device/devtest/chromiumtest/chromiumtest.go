// Package chromiumtest starts the real headless Chromium that the
// project's browser tests drive through chromedp, with one set of launch
// flags that keeps it on loopback and quiet. It is a package of its own,
// not part of devtest, so that the many tests importing devtest do not
// build chromedp.
package chromiumtest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Flags keep the browser on loopback and quiet: headless, no sandbox (CI
// runs as root), no first-run pages and no background traffic (no update
// checks, no sync), so a test talks only to the servers it started.
var Flags = []chromedp.ExecAllocatorOption{
	chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
}

// Vietnamese makes the browser a station PC set up in Vietnamese (its
// Accept-Language asks for vi first), for pages that pick their language
// from the request.
var Vietnamese = []chromedp.ExecAllocatorOption{
	chromedp.Flag("lang", "vi"),
	chromedp.Flag("accept-lang", "vi,en;q=0.5"),
}

// WebRTC lets the browser's peer connections play on loopback, for the
// live view tests: video starts without a user's gesture, loopback
// candidates are gathered, and host candidates carry their addresses
// rather than mDNS names (a test sends no mDNS).
var WebRTC = []chromedp.ExecAllocatorOption{
	chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	chromedp.Flag("allow-loopback-in-peer-connection", true),
	chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
}

// New starts Chromium with Flags, a fresh profile and extra, and returns
// its first tab's context, which ends after timeout; the browser is closed
// when the test ends. A missing chromium fails the test (never skips it):
// CI installs the Debian package (.ci/test-deps.sh).
func New(tb testing.TB, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		tb.Fatal("chromium not found: install the Debian package chromium (.ci/test-deps.sh)")
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(tb.TempDir())}, Flags...)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	tb.Cleanup(func() {
		cancelT()
		cancel()
		cancelA()
	})
	return ctx
}

// Text is the text of the first element matching sel in ctx's tab; not
// finding it (within ctx's deadline) fails the test.
func Text(tb testing.TB, ctx context.Context, sel string) string {
	tb.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		tb.Fatalf("text of %s: %v", sel, err)
	}
	return s
}
