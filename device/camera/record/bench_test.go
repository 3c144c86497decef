package record

import (
	"context"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

// cpuTime is this process's user plus system CPU time.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCamera pulls url for window with either a plain consumer (the
// receive path alone) or a continuous recorder, and returns the CPU used
// and the bytes recorded.
func measureCamera(b *testing.B, url string, window time.Duration, recordIt bool) (cpu time.Duration, written int64) {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	hub := camera.NewHub(camera.HubOptions{Name: "cam1", URL: url, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { _ = hub.Run(ctx) })
	var store *Store
	if recordIt {
		var err error
		store, err = OpenStore(StoreOptions{Dir: b.TempDir(), MaxBytes: 1 << 30, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		r := NewRecorder(RecorderOptions{Camera: "cam1", Hub: hub, Store: store, Mode: ModeContinuous, Logger: log})
		wg.Go(func() { _ = r.Run(ctx) })
	} else {
		c, err := hub.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for range c.Frames() {
			}
		})
		defer c.Close()
	}
	devtest.WaitFor(b, 20*time.Second, "the camera's first frames", func() bool { return hub.Status().Frames > 25 })
	c0, t0 := cpuTime(b), time.Now()
	var w0 int64
	if store != nil {
		w0 = store.Stats().BytesToday
	}
	deadline := time.NewTimer(window)
	<-deadline.C
	cpu = cpuTime(b) - c0
	if store != nil {
		written = int64(float64(store.Stats().BytesToday-w0) * float64(time.Hour) / float64(time.Since(t0)))
	}
	return cpu, written
}

// BenchmarkContinuousRecordingCPU compares the CPU of recording one real
// 2 Mbit/s camera continuously with its receive path alone (target: at
// most +25 %), and reports the bytes written per hour at 2 Mbit/s and at
// 512 kbit/s (a substream). Run with -benchtime=1x; the GStreamer camera
// runs in its own process, so only the gateway's side is measured.
func BenchmarkContinuousRecordingCPU(b *testing.B) {
	window := 20 * time.Second
	if testing.Short() {
		window = 3 * time.Second
	}
	main := rtsptest.StartCamera(b, "--width", "1280", "--height", "720", "--fps", "25", "--key-int-max", "50", "--bitrate", "2000", "--pattern", "snow")
	sub := rtsptest.StartCamera(b, "--width", "640", "--height", "360", "--fps", "25", "--key-int-max", "50", "--bitrate", "512", "--pattern", "snow")
	for b.Loop() {
		base, _ := measureCamera(b, main.URL, window, false)
		rec, perHour := measureCamera(b, main.URL, window, true)
		_, subPerHour := measureCamera(b, sub.URL, window, true)
		b.ReportMetric(float64(base)/float64(window)*100, "receive-cpu-%")
		b.ReportMetric(float64(rec)/float64(window)*100, "record-cpu-%")
		b.ReportMetric(float64(rec)/float64(base), "record/receive")
		b.ReportMetric(float64(perHour)/(1<<20), "MiB/h@2M")
		b.ReportMetric(float64(subPerHour)/(1<<20), "MiB/h@512k")
	}
}
