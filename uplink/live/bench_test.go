package live

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

// BenchmarkChromiumFirstFrame opens headless Chromium viewers on a warm
// camera (another viewer keeps it pulled) with a 2 s GOP, one per
// iteration (-benchtime 20x), and reports the time from the viewer's
// start (before its offer) to its first decoded frame, median and p95,
// with the GOP beside it; then, on one viewer watching for 3 s, how far
// behind live it plays (Chromium's jitter buffer delay per emitted frame).
func BenchmarkChromiumFirstFrame(b *testing.B) {
	cam := rtsptest.StartCamera(b, "--auth", "digest", "--fps", "25", "--key-int-max", "50", "--width", "640", "--height", "360")
	hub := startHub(b, "gate", "rtsp://viewer:secret@"+cam.URL[len("rtsp://"):])
	m := startManager(b, Options{}, hub)
	keep := watchWithPion(b, m, "gate")
	waitFrames(b, keep, 60) // warm: the hub has a GOP cached
	ctx := startChromium(b, servePage(b, m)+"/")
	var ms []float64
	b.ResetTimer()
	for range b.N {
		ms = append(ms, chromiumOpen(b, ctx, ""))
		chromiumStop(b, ctx, m, 1)
	}
	b.StopTimer()
	reportFirstFrame(b, ms, "")
	b.ReportMetric(2000, "ms-gop")
	chromiumOpen(b, ctx, "")
	b.ReportMetric(behindAfter3s(b, ctx), "ms-behind-live-3s")
}

// chromiumOpen opens the page's viewer of camera "gate" under prefix (see
// servePage) and returns the milliseconds from start() to its first
// decoded frame.
func chromiumOpen(b *testing.B, ctx context.Context, prefix string) float64 {
	b.Helper()
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](fmt.Sprintf(`openTimed("gate", %q)`, prefix), chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatalf("open %q: %v", prefix, err)
	}
	return ms
}

// chromiumStop stops the page's viewer and waits until m is left with
// viewers viewers.
func chromiumStop(b *testing.B, ctx context.Context, m *Manager, viewers int) {
	b.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`stop()`, chromedp.EvalAwaitPromise)); err != nil {
		b.Fatalf("stop: %v", err)
	}
	devtest.WaitFor(b, 10*time.Second, "the session to close", func() bool { return m.Viewers() == viewers })
}

// behindAfter3s is how far behind live the page's viewer plays after 3 s
// of watching (ms of jitter buffer delay per emitted frame).
func behindAfter3s(b *testing.B, ctx context.Context) float64 {
	b.Helper()
	start := time.Now()
	devtest.WaitFor(b, 10*time.Second, "3 s of watching", func() bool { return time.Since(start) >= 3*time.Second })
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`behind()`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatalf("behind: %v", err)
	}
	return ms
}

// reportFirstFrame sorts ms and reports its median and p95 as
// ms-first-frame-p50 and -p95, the metric names ending in suffix.
func reportFirstFrame(b *testing.B, ms []float64, suffix string) {
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "ms-first-frame-p50"+suffix)
	b.ReportMetric(ms[min(len(ms)-1, len(ms)*95/100)], "ms-first-frame-p95"+suffix)
}

// BenchmarkChromiumFirstFrameCold is the same with a cold camera: before
// each open the hub has let the camera go (nobody else watches), so the
// time includes the RTSP session and the camera's first key frame.
func BenchmarkChromiumFirstFrameCold(b *testing.B) {
	cam := rtsptest.StartCamera(b, "--auth", "digest", "--fps", "25", "--key-int-max", "50", "--width", "640", "--height", "360")
	hub := startHub(b, "gate", "rtsp://viewer:secret@"+cam.URL[len("rtsp://"):])
	m := startManager(b, Options{}, hub)
	ctx := startChromium(b, servePage(b, m)+"/")
	var ms []float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		devtest.WaitFor(b, 10*time.Second, "the camera to be let go", func() bool { return hub.State() == camera.StateIdle })
		b.StartTimer()
		ms = append(ms, chromiumOpen(b, ctx, ""))
		chromiumStop(b, ctx, m, 0)
	}
	b.StopTimer()
	reportFirstFrame(b, ms, "")
	b.ReportMetric(2000, "ms-gop")
}

// BenchmarkChromiumPlayoutDelay compares, in one run and one Chromium,
// three Managers on the same warm camera (GOP 2 s): without the RTP
// playout-delay extension (the default), with min = max = 0 on the
// fast-forwarded frames and Chromium's defaults (0–10 s) back on the live
// frames (Options.PlayoutDelay), and with 0/0 left in force. Each
// iteration opens one viewer of each, in turn, and reports per variant
// the first decoded frame (median and p95) and how far behind live the
// viewer plays after 3 s (jitter buffer delay per emitted frame, median).
func BenchmarkChromiumPlayoutDelay(b *testing.B) {
	cam := rtsptest.StartCamera(b, "--fps", "25", "--key-int-max", "50", "--width", "640", "--height", "360")
	hub := startHub(b, "gate", cam.URL)
	variants := []struct {
		name string
		opts Options
	}{
		{"off", Options{}},
		{"catchup", Options{PlayoutDelay: true}},
		{"sticky", Options{PlayoutDelay: true, playoutSticky: true}},
	}
	ms := make([]*Manager, len(variants))
	for i, v := range variants {
		ms[i] = startManager(b, v.opts, hub)
		waitFrames(b, watchWithPion(b, ms[i], "gate"), 60) // warm: each feed has a GOP cached
	}
	ctx := startChromium(b, servePage(b, ms[0], ms[1:]...)+"/")
	first := make([][]float64, len(variants))
	behind := make([][]float64, len(variants))
	b.ResetTimer()
	for range b.N {
		for i, v := range variants {
			prefix := ""
			if i > 0 {
				prefix = fmt.Sprintf("/m%d", i)
			}
			first[i] = append(first[i], chromiumOpen(b, ctx, prefix))
			ext, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.lastAnswer.includes("rtp-hdrext/playout-delay")`))
			if err != nil || ext != v.opts.PlayoutDelay {
				b.Fatalf("%s: the answer negotiates playout-delay: %v (%v), want %v", v.name, ext, err, v.opts.PlayoutDelay)
			}
			behind[i] = append(behind[i], behindAfter3s(b, ctx))
			chromiumStop(b, ctx, ms[i], 1)
		}
	}
	b.StopTimer()
	for i, v := range variants {
		reportFirstFrame(b, first[i], "-"+v.name)
		slices.Sort(behind[i])
		b.ReportMetric(behind[i][len(behind[i])/2], "ms-behind-live-3s-"+v.name)
	}
}
