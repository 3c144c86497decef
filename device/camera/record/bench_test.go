package record

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/mp4"
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
	// Steady state, as on a gateway that records for days: measured from
	// 5 s in, when the recorder has written its first fragments (its
	// file, index entry and buffers are made) and the hub its GOP cache.
	devtest.WaitFor(b, 30*time.Second, "the camera's first 5 s", func() bool { return hub.Status().Frames > 125 })
	if store != nil && store.Stats().BytesToday == 0 {
		b.Fatal("nothing recorded in the first 5 s")
	}
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
// runs in its own process, so only the gateway's side is measured. The
// two are measured in four alternating pairs of windows (receive first,
// then record first, ...) and compared as totals, so that a burst of
// another process's load or a GC lands on both sides alike; the pairs'
// own ratios are reported as their lowest and highest.
func BenchmarkContinuousRecordingCPU(b *testing.B) {
	window, pairs := 8*time.Second, 4
	if testing.Short() {
		window, pairs = 2*time.Second, 2
	}
	main := rtsptest.StartCamera(b, "--width", "1280", "--height", "720", "--fps", "25", "--key-int-max", "50", "--bitrate", "2000", "--pattern", "snow")
	sub := rtsptest.StartCamera(b, "--width", "640", "--height", "360", "--fps", "25", "--key-int-max", "50", "--bitrate", "512", "--pattern", "snow")
	for b.Loop() {
		var base, rec time.Duration
		var perHour int64
		lo, hi := 0.0, 0.0
		for i := range pairs {
			var bc, rc time.Duration
			if i%2 == 0 {
				bc, _ = measureCamera(b, main.URL, window, false)
				rc, perHour = measureCamera(b, main.URL, window, true)
			} else {
				rc, perHour = measureCamera(b, main.URL, window, true)
				bc, _ = measureCamera(b, main.URL, window, false)
			}
			base, rec = base+bc, rec+rc
			r := float64(rc) / float64(bc)
			if i == 0 || r < lo {
				lo = r
			}
			hi = max(hi, r)
		}
		_, subPerHour := measureCamera(b, sub.URL, window, true)
		total := window * time.Duration(pairs)
		b.ReportMetric(float64(base)/float64(total)*100, "receive-cpu-%")
		b.ReportMetric(float64(rec)/float64(total)*100, "record-cpu-%")
		b.ReportMetric(float64(rec)/float64(base), "record/receive")
		b.ReportMetric(lo, "pair-min")
		b.ReportMetric(hi, "pair-max")
		b.ReportMetric(float64(perHour)/(1<<20), "MiB/h@2M")
		b.ReportMetric(float64(subPerHour)/(1<<20), "MiB/h@512k")
	}
}

// BenchmarkRecordPath is the recorder's own work for one frame of a
// 2 Mbit/s camera (25 frames/s, 10 kB a frame, a key frame every 2 s),
// without a camera: the muxer, the SHA-256, the clip store's writes, and
// per fragment its fsync and index commit, on the test's disk, with the
// gateway's free-space check. core-%@2M is the CPU (user + system) a
// second of video costs, as a share of one core; profile it with
// -cpuprofile.
func BenchmarkRecordPath(b *testing.B) {
	dir := b.TempDir()
	keep := filepath.Join(dir, "outbox.db")
	if err := os.WriteFile(keep, make([]byte, 1<<20), 0o600); err != nil {
		b.Fatal(err)
	}
	store, err := OpenStore(StoreOptions{Dir: filepath.Join(dir, "rec"), MaxBytes: 1 << 40, Logger: slog.New(slog.DiscardHandler),
		KeepFree: func() int64 { fi, _ := os.Stat(keep); return 64<<20 - fi.Size() }})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	frame := func(key bool) [][]byte {
		n := make([]byte, 10_000)
		for i := range n {
			n[i] = byte(i*7 + 3)
		}
		if key {
			n[0] = 0x65
			return [][]byte{sps, pps, n}
		}
		n[0] = 0x41
		return [][]byte{n}
	}
	keyAU, deltaAU := frame(true), frame(false)
	c, err := store.Create(CreateOptions{Camera: "cam1", Start: time.Now(), Reason: ReasonContinuous, Upload: UploadOnRequest})
	if err != nil {
		b.Fatal(err)
	}
	var w *mp4.Writer
	w, err = mp4.NewWriter(c, mp4.Track{SPS: sps, PPS: pps}, mp4.WriterOptions{AfterFragment: func() error { return c.Sync(w.Frames(), w.Duration()) }})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(10_000)
	b.ReportAllocs()
	c0 := cpuTime(b)
	for i := 0; b.Loop(); i++ {
		au := deltaAU
		if i%50 == 0 {
			au = keyAU
		}
		if err := w.WriteFrame(time.Duration(i)*40*time.Millisecond, i%50 == 0, au); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// CPU time (user + system, this process), not wall time: the fsyncs'
	// waits cost the board no CPU.
	cpu := cpuTime(b) - c0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/frame")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)*25/1e9*100, "core-%@2M")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Finish(w.Frames(), w.Duration()); err != nil {
		b.Fatal(err)
	}
}
