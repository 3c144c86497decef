package device_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/device/devtest"
)

// A real gateway (sim sensor, unreachable broker, real outbox) feeds a
// watchdog device file and systemd's notify socket while its parts run, and
// disarms the device when it stops.
func TestGatewayFeedsWatchdog(t *testing.T) {
	dir := t.TempDir()
	devPath := filepath.Join(dir, "watchdog")
	if err := os.WriteFile(devPath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, every: 200ms}
watchdog: {device: %s, timeout: 1s}
`, filepath.Join(dir, "data"), devPath)), config.LookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}

	sock := filepath.Join(dir, "notify")
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	msgs := make(chan string, 256)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := sd.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	sysEnv := map[string]string{
		"NOTIFY_SOCKET": sock,
		"WATCHDOG_USEC": "10000000", // 10s: the device's 333 ms interval is shorter and wins
		"WATCHDOG_PID":  strconv.Itoa(os.Getpid()),
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs devtest.Buffer
	gw, err := device.Open(cfg, device.Options{
		Listener:  ln,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		LookupEnv: func(k string) (string, bool) { v, ok := sysEnv[k]; return v, ok },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()

	next := func(want string) {
		t.Helper()
		select {
		case got := <-msgs:
			if got != want {
				t.Fatalf("systemd got %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("systemd got nothing, want %q", want)
		}
	}
	next("READY=1")
	// Rounds every 333 ms: a few of them show every probe passing.
	for range 4 {
		next("WATCHDOG=1")
	}
	fed, err := os.ReadFile(devPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(fed, []byte("k")); n < 4 {
		t.Fatalf("device got %q, want a keepalive per round", fed)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not stop")
	}
	for stopping := false; !stopping; {
		select {
		case got := <-msgs:
			stopping = got == "STOPPING=1"
			if !stopping && got != "WATCHDOG=1" {
				t.Fatalf("systemd got %q, want pings then STOPPING=1", got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("systemd got no STOPPING=1")
		}
	}
	fed, err = os.ReadFile(devPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(fed, []byte("V")) {
		t.Errorf("device got %q, want the magic close at the end", fed)
	}
	if l := logs.String(); strings.Contains(l, "part stuck") || !strings.Contains(l, "watchdog armed") {
		t.Errorf("log:\n%s", l)
	}
}

func TestGatewayBadNotifySocket(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(fmt.Sprintf("gateway: {id: cong-khu-3, data_dir: %s}\nuplink: {broker: \"mqtt://127.0.0.1:1\"}\n",
		filepath.Join(dir, "data"))), config.LookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = device.Open(cfg, device.Options{
		Listener: ln,
		Logger:   slog.New(slog.DiscardHandler),
		LookupEnv: func(k string) (string, bool) {
			return map[string]string{"NOTIFY_SOCKET": "notify.sock"}[k], k == "NOTIFY_SOCKET"
		},
	})
	if err == nil || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
		t.Fatalf("Open = %v, want an error naming NOTIFY_SOCKET", err)
	}
}
