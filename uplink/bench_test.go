package uplink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

const benchEvents = 100_000

// BenchmarkDrain drains a 100,000-event backlog from the real outbox
// (bbolt, acks fsynced) into a local Mosquitto at QoS 1 with the default
// window (uplink.DefaultWindow);
// compare events/s with BenchmarkBarePaho, the ceiling, and with
// BenchmarkDrainStation.
func BenchmarkDrain(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	drainInto(b, br.Addr())
}

// BenchmarkDrainStation is BenchmarkDrain into the real station binary
// (built with go build, its embedded broker on loopback), which PUBACKs an
// event only once its store committed it; `make bench` takes its ratio to
// BenchmarkDrain (Mosquitto, nothing stored) within one run.
func BenchmarkDrainStation(b *testing.B) {
	addr, stderr := startStationBinary(b)
	drainInto(b, addr)
	// Every event was stored, none refused: a refused event is
	// acknowledged too, and would be measured as delivered.
	if out := stderr.String(); strings.Contains(out, "not stored") {
		b.Fatalf("the station refused events:\n%.2000s", out)
	}
}

// drainInto measures the drain of benchEvents from a fresh outbox into the
// broker at addr, b.N times, and reports events/s.
func drainInto(b *testing.B, addr string) {
	broker := childPID(b, "mosquitto", "station")
	payload := newQueue()
	payload.Add(1)
	one, _ := payload.Peek(0, 1, 1<<20)
	var total time.Duration
	var gwCPU, brCPU time.Duration
	var samples, inflight, window int64
	for b.Loop() {
		b.StopTimer()
		// The outbox's gateway id is the session's: the station refuses
		// (and acknowledges without storing) an event whose id names
		// another gateway than the topic it came on.
		ob, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{Gateway: gw})
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]*wire.Event, 0, 1000)
		for i := 0; i < benchEvents; i++ {
			var e wire.Event
			if err := json.Unmarshal(one[0].Payload, &e); err != nil {
				b.Fatal(err)
			}
			batch = append(batch, &e)
			if len(batch) == cap(batch) {
				if _, err := ob.AppendBatch(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		cfg := config(b, addr)
		cfg.ClientID = gw
		cfg.Window = uplink.DefaultWindow
		cfg.TelemetryInterval = time.Hour
		s := uplink.New(cfg, device.OutboxQueue(ob), nil, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		gw0, br0 := selfCPU(b), procCPU(b, broker)
		wg.Go(func() { s.Run(ctx) })
		for ob.Stats().Depth > 0 {
			time.Sleep(time.Millisecond) // polling the measured condition
			// The window's occupancy: awaiting a PUBACK, and PUBACKed
			// but not yet removed from the outbox.
			st := s.State()
			samples++
			inflight += int64(st.InFlight)
			window += int64(st.Published - st.Acked)
		}
		total += time.Since(start)
		gwCPU += selfCPU(b) - gw0
		brCPU += procCPU(b, broker) - br0
		b.StopTimer()
		cancel()
		wg.Wait()
		ob.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
	events := float64(b.N * benchEvents)
	b.ReportMetric(float64(gwCPU.Microseconds())/events, "gateway-cpu-µs/event")
	b.ReportMetric(float64(brCPU.Microseconds())/events, "broker-cpu-µs/event")
	if samples > 0 {
		b.ReportMetric(float64(inflight)/float64(samples), "mean-unpubacked")
		b.ReportMetric(float64(window)/float64(samples), "mean-in-window")
	}
}

// selfCPU is the benchmark process's user and system CPU so far: the
// gateway's session and outbox, which run in it.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is process pid's user and system CPU so far (/proc/PID/stat).
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces), from the
	// state (field 3): utime and stime are fields 14 and 15.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return time.Duration(ut+st) * (time.Second / clockTicks)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on
// every Linux this runs on).
const clockTicks = 100

// childPID is the pid of this process's child whose command name is one
// of names (the broker the benchmark started).
func childPID(b *testing.B, names ...string) int {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(raw[end+2:]))
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		if slices.Contains(names, string(raw[open+1:end])) {
			return pid
		}
	}
	b.Fatalf("no child process named %v", names)
	return 0
}

// startStationBinary builds ../cmd/station, runs it with its embedded
// broker on a free loopback port and a data directory of the benchmark's,
// and returns the broker's address and the station's stderr; the station
// is stopped (SIGTERM) when the benchmark ends.
func startStationBinary(b *testing.B) (string, *devtest.Buffer) {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "station")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/station")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build station: %v\n%s", err, out)
	}
	var stderr devtest.Buffer
	cmd := exec.Command(bin, "run", "-listen", "127.0.0.1:0", "-data", filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			b.Errorf("station did not stop within 30 s of SIGTERM")
		}
	})
	return stderr.WaitMatch(b, 30*time.Second, regexp.MustCompile(`station: broker listening on (\S+)`)), &stderr
}

// BenchmarkBarePaho is the ceiling: one paho client publishing the same
// payloads from memory at QoS 1 with as many tokens outstanding as the
// session's window.
func BenchmarkBarePaho(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	q := newQueue()
	q.Add(benchEvents)
	msgs, _ := q.Peek(0, benchEvents, 1<<30)
	c := client(b, br.Addr(), "bare", true, nil)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		window := make([]mqtt.Token, 0, uplink.DefaultWindow)
		for _, m := range msgs {
			if len(window) == uplink.DefaultWindow {
				<-window[0].Done()
				if err := window[0].Error(); err != nil {
					b.Fatal(err)
				}
				window = window[1:]
			}
			window = append(window, c.Publish(topics.Event(), 1, false, m.Payload))
		}
		for _, t := range window {
			<-t.Done()
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
}

// TestPasswordNeverLogged runs a session through failures and success with
// debug logging and looks for the password in the output.
func TestPasswordNeverLogged(t *testing.T) {
	var buf devtest.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	br := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"cong-khu-3": "right-password"}})
	cfg := config(t, br.Addr())
	cfg.Username, cfg.Password = "cong-khu-3", "hunter2-secret"
	s := uplink.New(cfg, newQueue(), nil, nil, log)
	stop := run(t, s)
	devtest.WaitFor(t, 10*time.Second, "a refused connect", func() bool { return s.State().LastError != "" })
	stop()
	cfg.Password = "right-password"
	s = uplink.New(cfg, newQueue(), nil, nil, log)
	stop = run(t, s)
	devtest.WaitFor(t, 10*time.Second, "connected", func() bool { return s.State().Connected })
	stop()
	out := buf.String()
	if !strings.Contains(out, "not authorized") && !strings.Contains(out, "uplink down") {
		t.Errorf("refused connect not logged:\n%s", out)
	}
	for _, p := range []string{"hunter2-secret", "right-password"} {
		if strings.Contains(out, p) {
			t.Errorf("password %q logged:\n%s", p, out)
		}
	}
}
