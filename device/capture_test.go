package device_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// TestCaptureNeverFailsSilently: a scripted sensor makes a known number of
// edges while the outbox's commits fail for a while (an I/O error injected
// into every commit). Edges wait in the bounded capture queue and are
// stored once commits work again; those the full queue had to give up are
// counted in a capture_failed event. Every edge is stored or counted.
func TestCaptureNeverFailsSilently(t *testing.T) {
	const steps = 80
	var script []string
	for i := range steps {
		level := "high"
		if i%2 == 1 {
			level = "low"
		}
		script = append(script, fmt.Sprintf("{at: %dms, level: %s}", 200+i*40, level))
	}
	data := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse(fmt.Appendf(nil, `gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: cua-cong, kind: contact, driver: sim, debounce: 0s, script: [%s]}
`, data, strings.Join(script, ", ")))
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := device.Open(cfg, device.Options{
		Listener:     ln,
		Logger:       slog.New(slog.DiscardHandler),
		CaptureQueue: 8,
		OutboxFailCommit: func() error {
			if fail.Load() {
				return fmt.Errorf("write page: %w", syscall.EIO)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := startRun(t, gw)
	t.Cleanup(stop)

	stored := func() int {
		n := 0
		for _, s := range gw.Status().Sensors {
			n += int(s.Edges)
		}
		return n - gw.Status().Capture.Pending
	}
	devtest.WaitFor(t, 20*time.Second, "ten edges stored", func() bool { return stored() >= 10 })
	fail.Store(true)
	devtest.WaitFor(t, 20*time.Second, "the capture queue giving up edges", func() bool {
		st := gw.Status().Capture
		return st.Failed >= 10 && strings.Contains(st.LastError, "input/output error")
	})
	fail.Store(false)
	devtest.WaitFor(t, 30*time.Second, "the script played and every edge settled", func() bool {
		st := gw.Status()
		return len(st.Sensors) == 1 && st.Sensors[0].Edges == steps && st.Capture.Pending == 0 && st.Capture.LastError == ""
	})
	failed := gw.Status().Capture.Failed
	stop()

	r, err := outbox.ReadOnly(filepath.Join(data, device.OutboxFile))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var edges, counted int
	var reports []wire.Event
	err = r.Records(0, func(rec outbox.Record) error {
		var e wire.Event
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return err
		}
		switch e.Kind {
		case wire.KindContact:
			edges++
		case wire.KindCaptureFailed:
			reports = append(reports, e)
			n, _ := e.Attrs["count"].(float64)
			counted += int(n)
			first, err1 := time.Parse(time.RFC3339Nano, fmt.Sprint(e.Attrs["first"]))
			last, err2 := time.Parse(time.RFC3339Nano, fmt.Sprint(e.Attrs["last"]))
			if n <= 0 || err1 != nil || err2 != nil || last.Before(first) || !strings.Contains(fmt.Sprint(e.Attrs["error"]), "input/output error") {
				return fmt.Errorf("capture_failed attrs %v", e.Attrs)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) == 0 || counted == 0 {
		t.Fatal("no capture_failed event although edges were given up")
	}
	if edges+counted != steps || uint64(counted) != failed {
		t.Fatalf("%d edges stored + %d counted in %d capture_failed events = %d, want %d (status says %d given up)",
			edges, counted, len(reports), edges+counted, steps, failed)
	}
	t.Logf("%d edges stored, %d given up and reported in %d capture_failed events", edges, counted, len(reports))
}

// TestCameraEventNotBlockedBySlowCommit: a camera health event is handed
// to the capture queue at once, even while a commit hangs (a slow fsync),
// and stored once the commit finishes.
func TestCameraEventNotBlockedBySlowCommit(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse(fmt.Appendf(nil, `gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
cameras:
  - {name: cam-hong, url: "file:///nonexistent/clip.h264", offline_after: 1s}
`, data))
	if err != nil {
		t.Fatal(err)
	}
	var slow atomic.Bool
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := device.Open(cfg, device.Options{
		Listener: ln,
		Logger:   slog.New(slog.DiscardHandler),
		OutboxFailCommit: func() error {
			if slow.Load() {
				<-release
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway run: %v", err)
		}
	}()
	// Once the boot event is stored, hang the writer in the commit of
	// another event, as a slow fsync would.
	devtest.WaitFor(t, 10*time.Second, "the boot event stored", func() bool { return gw.Status().Outbox.Depth >= 1 })
	slow.Store(true)
	go gw.Capture(context.Background(), &wire.Event{Kind: wire.KindMotion, Source: "hung"})
	devtest.WaitFor(t, 20*time.Second, "the camera event queued behind the hung commit", func() bool {
		st := gw.Status()
		return st.Capture.Pending >= 1 && len(st.Cameras) == 1 && st.Cameras[0].State == "offline"
	})
	slow.Store(false)
	close(release)
	devtest.WaitFor(t, 10*time.Second, "the camera_offline event stored", func() bool {
		recs, err := outboxEvents(gw)
		if err != nil {
			return false
		}
		for _, e := range recs {
			if e.Kind == wire.KindCameraOffline && e.Source == "cam-hong" {
				return true
			}
		}
		return false
	})
}

// outboxEvents reads the running gateway's outbox through its local API.
func outboxEvents(gw *device.Gateway) ([]wire.Event, error) {
	var out []wire.Event
	resp, err := http.Get("http://" + gw.APIAddr() + "/api/outbox")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(strings.TrimSpace(string(body)), "\n") {
		var e wire.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// TestBootEventRetriedWhenTheDiskRefuses: a boot event the outbox refuses
// at start is queued and stored once commits work.
func TestBootEventRetriedWhenTheDiskRefuses(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg, err := config.Parse(fmt.Appendf(nil, `gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
`, data))
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	fail.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := device.Open(cfg, device.Options{
		Listener: ln,
		Logger:   slog.New(slog.DiscardHandler),
		OutboxFailCommit: func() error {
			if fail.Load() {
				return fmt.Errorf("write page: %w", syscall.EIO)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(startRun(t, gw))
	devtest.WaitFor(t, 10*time.Second, "the refused boot event queued", func() bool {
		st := gw.Status().Capture
		return st.Pending == 1 && st.LastError != ""
	})
	fail.Store(false)
	devtest.WaitFor(t, 10*time.Second, "the boot event stored", func() bool {
		evs, err := outboxEvents(gw)
		return err == nil && len(evs) == 1 && evs[0].Kind == wire.KindBoot && gw.Status().Capture.Pending == 0
	})
}
