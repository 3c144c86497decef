package live

import (
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
		d, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`openTimed("gate")`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatalf("open: %v", err)
		}
		ms = append(ms, d)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`stop()`, chromedp.EvalAwaitPromise)); err != nil {
			b.Fatalf("stop: %v", err)
		}
		devtest.WaitFor(b, 10*time.Second, "the session to close", func() bool { return m.Viewers() == 1 })
	}
	b.StopTimer()
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "ms-first-frame-p50")
	b.ReportMetric(ms[min(len(ms)-1, len(ms)*95/100)], "ms-first-frame-p95")
	b.ReportMetric(2000, "ms-gop")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`openTimed("gate")`, chromedp.EvalAwaitPromise)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	devtest.WaitFor(b, 10*time.Second, "3 s of watching", func() bool { return time.Since(start) >= 3*time.Second })
	behind, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`behind()`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(behind, "ms-behind-live-3s")
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
		d, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`openTimed("gate")`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatalf("open: %v", err)
		}
		ms = append(ms, d)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`stop()`, chromedp.EvalAwaitPromise)); err != nil {
			b.Fatalf("stop: %v", err)
		}
		devtest.WaitFor(b, 10*time.Second, "the session to close", func() bool { return m.Viewers() == 0 })
	}
	b.StopTimer()
	slices.Sort(ms)
	b.ReportMetric(ms[len(ms)/2], "ms-first-frame-p50")
	b.ReportMetric(ms[min(len(ms)-1, len(ms)*95/100)], "ms-first-frame-p95")
	b.ReportMetric(2000, "ms-gop")
}
