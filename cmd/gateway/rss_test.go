package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkRSS measures the resident memory of the real, stripped gateway
// binary (built as `make build` does): idle and connected, then after it
// drained a backlog of 100,000 events into a local Mosquitto.
func BenchmarkRSS(b *testing.B) {
	const backlog = 100000
	dir := b.TempDir()
	bin := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build gateway: %v\n%s", err, out)
	}
	broker := mqtttest.Start(b, mqtttest.Options{})
	api := devtest.FreeAddr(b)
	data := filepath.Join(dir, "data")
	cfg := gwConfig{ID: "rss-gw", DataDir: data, Broker: "mqtt://" + broker.Addr(), API: api, MaxBytes: "256MiB"}.write(b, dir)

	start := func() (*exec.Cmd, func()) {
		cmd := exec.Command(bin, "run", "-config", cfg)
		logf, _ := os.Create(filepath.Join(dir, "gateway.log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		p := &gwProc{t: b, cmd: cmd, api: api, log: logf.Name(), done: make(chan struct{})}
		go func() { cmd.Wait(); logf.Close(); close(p.done) }()
		devtest.WaitFor(b, 20*time.Second, "gateway API", func() bool {
			st, ok := tryStatus(api)
			return ok && st.Uplink.Connected
		})
		return cmd, func() { p.stop(b) }
	}

	b.ResetTimer()
	// Idle: connected, nothing to send. Sampled over 2 s, the largest kept.
	cmd, stop := start()
	idle := sampleRSS(b, cmd.Process.Pid, 2*time.Second)
	stop()

	// A backlog written while the gateway is stopped, as after a long outage.
	ob, err := outbox.Open(filepath.Join(data, device.OutboxFile), outbox.Options{Gateway: "rss-gw", NoSync: true, MaxBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]*wire.Event, 0, 1000)
	for i := 0; i < backlog; i++ {
		batch = append(batch, &wire.Event{Kind: wire.KindMotion, Source: "pir", State: wire.StateActive, Time: time.Now(), Boot: "bench"})
		if len(batch) == cap(batch) {
			if _, err := ob.AppendBatch(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	ob.Close()

	cmd, stop = start()
	t0 := time.Now()
	devtest.WaitFor(b, 120*time.Second, "backlog drained", func() bool {
		st, ok := tryStatus(api)
		return ok && st.Outbox.Depth == 0
	})
	drainS := time.Since(t0).Seconds()
	drained := sampleRSS(b, cmd.Process.Pid, 0)
	peak := devtest.ProcStatusKB(b, cmd.Process.Pid, "VmHWM")
	stop()
	b.StopTimer()

	mib := func(kb int) float64 { return float64(kb) / 1024 }
	b.ReportMetric(mib(idle), "idle-MiB")
	b.ReportMetric(mib(drained), "drained-MiB")
	b.ReportMetric(mib(peak), "peak-MiB")
	b.ReportMetric(float64(backlog)/drainS, "drain-events/s")
}

func tryStatus(api string) (device.Status, bool) {
	var st device.Status
	resp, err := http.Get("http://" + api + "/api/status")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

// sampleRSS returns the largest VmRSS seen over d (one reading when d is 0).
func sampleRSS(b *testing.B, pid int, d time.Duration) int {
	end := time.Now().Add(d)
	most := 0
	for {
		most = max(most, devtest.ProcStatusKB(b, pid, "VmRSS"))
		if !time.Now().Before(end) {
			return most
		}
		time.Sleep(100 * time.Millisecond) // sampling period of a measurement
	}
}
