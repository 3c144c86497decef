package watchdog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
)

// fakeDevice records what the watchdog writes.
type fakeDevice struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
}

func (d *fakeDevice) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	d.buf = append(d.buf, p...)
	return len(p), nil
}

func (d *fakeDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

func (d *fakeDevice) state() (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.buf), d.closed
}

// harness drives a Watchdog with a fake clock: tick runs one round and
// returns whether it fed.
type harness struct {
	t      *testing.T
	w      *Watchdog
	ticks  chan time.Time
	rounds chan bool
	period chan time.Duration
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, opt Options, probes ...Probe) *harness {
	t.Helper()
	h := &harness{t: t, ticks: make(chan time.Time), rounds: make(chan bool, 1), period: make(chan time.Duration, 1), done: make(chan error, 1)}
	opt.ticker = func(d time.Duration) (<-chan time.Time, func()) {
		h.period <- d
		return h.ticks, func() {}
	}
	opt.round = func(fed bool) { h.rounds <- fed }
	if opt.LookupEnv == nil {
		opt.LookupEnv = env(nil)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	w, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch(probes...); err != nil {
		t.Fatal(err)
	}
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return h
}

// interval is the period the watchdog asked its ticker for.
func (h *harness) interval() time.Duration {
	h.t.Helper()
	select {
	case d := <-h.period:
		h.period <- d
		return d
	case <-time.After(10 * time.Second):
		h.t.Fatal("no ticker started")
	}
	return 0
}

func (h *harness) tick() bool {
	h.t.Helper()
	select {
	case h.ticks <- time.Now():
	case err := <-h.done:
		h.t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("watchdog did not take the tick")
	}
	select {
	case fed := <-h.rounds:
		return fed
	case <-time.After(10 * time.Second):
		h.t.Fatal("round did not finish")
	}
	return false
}

func (h *harness) stop() error {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return")
	}
	return nil
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func fakeOpen(dev *fakeDevice, gotTimeout *time.Duration) func(string, time.Duration) (Device, error) {
	return func(_ string, timeout time.Duration) (Device, error) {
		if gotTimeout != nil {
			*gotTimeout = timeout
		}
		return dev, nil
	}
}

// switchable is a probe whose result the test sets.
type switchable struct{ fail atomic.Bool }

func (s *switchable) check(context.Context) error {
	if s.fail.Load() {
		return errors.New("loop stalled")
	}
	return nil
}

func TestFedOnlyWhileProbesPass(t *testing.T) {
	dev := &fakeDevice{}
	var timeout time.Duration
	var logBuf devtest.Buffer
	up, sensor := &switchable{}, &switchable{}
	h := start(t, Options{
		Device:  "/dev/watchdog-fake",
		Timeout: 9 * time.Second,
		Open:    fakeOpen(dev, &timeout),
		Logger:  slog.New(slog.NewTextHandler(&logBuf, nil)),
	}, Probe{"uplink", up.check}, Probe{"sensor gate-pir", sensor.check})

	if h.interval() != 3*time.Second || h.w.Interval() != 3*time.Second {
		t.Errorf("interval = %s (ticker %s), want timeout/3 = 3s", h.w.Interval(), h.interval())
	}
	for i := range 3 {
		if !h.tick() {
			t.Fatalf("round %d not fed with every probe passing", i)
		}
	}
	if timeout != 9*time.Second {
		t.Errorf("device opened with timeout %s", timeout)
	}
	if got, _ := dev.state(); got != "kkkk" { // one at open, one per round
		t.Fatalf("device got %q, want 4 keepalives", got)
	}

	sensor.fail.Store(true)
	if h.tick() {
		t.Fatal("fed although a probe failed")
	}
	// Latched: the part coming back does not cancel the reboot.
	sensor.fail.Store(false)
	if h.tick() {
		t.Fatal("fed again after a part was stuck")
	}
	if got, _ := dev.state(); got != "kkkk" {
		t.Fatalf("device got %q after the failure, want no more keepalives", got)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	got, closed := dev.state()
	if got != "kkkk" || !closed {
		t.Errorf("after stop with a stuck part: %q closed=%v; want closed without the magic 'V'", got, closed)
	}
	logs := logBuf.String()
	if !strings.Contains(logs, "sensor gate-pir: loop stalled") || strings.Contains(logs, "uplink:") {
		t.Errorf("log does not name the stuck part (only): %s", logs)
	}
}

func TestMagicCloseOnCleanStop(t *testing.T) {
	dev := &fakeDevice{}
	h := start(t, Options{Device: "/dev/watchdog-fake", Timeout: 30 * time.Second, Open: fakeOpen(dev, nil)},
		Probe{"ok", func(context.Context) error { return nil }})
	if h.interval() != MaxInterval {
		t.Errorf("interval = %s, want capped at %s", h.interval(), MaxInterval)
	}
	h.tick()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got, closed := dev.state(); got != "kkV" || !closed {
		t.Errorf("device got %q closed=%v, want kkV and closed", got, closed)
	}
}

// shortDevice is a driver that kept a shorter timeout than asked for.
type shortDevice struct {
	fakeDevice
	timeout time.Duration
}

func (d *shortDevice) Timeout() time.Duration { return d.timeout }

func TestDeviceWithShorterTimeout(t *testing.T) {
	dev := &shortDevice{timeout: 3 * time.Second}
	var logBuf devtest.Buffer
	h := start(t, Options{Device: "/dev/watchdog-fake", Timeout: 60 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil)),
		Open:   func(string, time.Duration) (Device, error) { return dev, nil }})
	if got := h.interval(); got != time.Second {
		t.Errorf("interval %s, want a third of the device's 3s", got)
	}
	if !strings.Contains(logBuf.String(), "timeout of its own") {
		t.Errorf("no warning about the device's timeout: %s", logBuf.String())
	}
}

// A probe failing because the gateway is stopping is not a hang.
func TestStopDuringRoundIsClean(t *testing.T) {
	dev := &fakeDevice{}
	var stopping func()
	h := start(t, Options{Device: "/dev/watchdog-fake", Open: fakeOpen(dev, nil)},
		Probe{"sensor", func(context.Context) error {
			stopping()
			return errors.New("sensor stopped")
		}})
	stopping = h.cancel
	select {
	case h.ticks <- time.Now():
	case <-time.After(10 * time.Second):
		t.Fatal("tick not taken")
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got, closed := dev.state(); got != "kV" || !closed {
		t.Errorf("device got %q closed=%v, want the magic close", got, closed)
	}
}

func TestOpenError(t *testing.T) {
	w, err := New(Options{Device: filepath.Join(t.TempDir(), "missing"), LookupEnv: env(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "open watchdog") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Run = %v, want an open error naming the device", err)
	}
}

// Under systemd a device that cannot be opened (held by systemd itself, say)
// is logged and systemd is still served.
func TestOpenErrorWithSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	msgs := listen(t, sock)
	var logBuf devtest.Buffer
	h := start(t, Options{Device: "/dev/watchdog-busy",
		Open:      func(string, time.Duration) (Device, error) { return nil, errors.New("device or resource busy") },
		Logger:    slog.New(slog.NewTextHandler(&logBuf, nil)),
		LookupEnv: env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "2000000"})})
	expect(t, msgs, "READY=1")
	expect(t, msgs, "WATCHDOG=1")
	h.tick()
	expect(t, msgs, "WATCHDOG=1")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, msgs, "STOPPING=1")
	if l := logBuf.String(); !strings.Contains(l, "/dev/watchdog-busy") || !strings.Contains(l, "busy") {
		t.Errorf("log does not explain the device: %s", l)
	}
}

// A regular file stands in for /dev/watchdog: the ioctl is refused with
// ENOTTY, which OpenDevice accepts, and the writes land in the file.
func TestOpenDeviceFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Device: path, Timeout: time.Second, Interval: 10 * time.Millisecond, LookupEnv: env(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch(Probe{"ok", func(context.Context) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	devtest.WaitFor(t, 10*time.Second, "three keepalives in the file", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		b, _ := os.ReadFile(path)
		return bytes.Count(b, []byte("k")) >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("V")) || bytes.Count(b, []byte("V")) != 1 {
		t.Errorf("file %q: want keepalives ending in one magic 'V'", b)
	}
}

func TestOpenDeviceNotWritable(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenDevice(dir, time.Second); err == nil {
		t.Fatal("opening a directory as a watchdog worked")
	}
}

// listen opens a notify socket like systemd's and returns its messages.
func listen(t *testing.T, name string) <-chan string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 64)
	go func() {
		defer close(msgs)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		c.Close()
		for range msgs {
		}
	})
	return msgs
}

func expect(t *testing.T, msgs <-chan string, want string) {
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

func expectNone(t *testing.T, msgs <-chan string) {
	t.Helper()
	select {
	case got := <-msgs:
		t.Fatalf("systemd got %q, want nothing more", got)
	default:
	}
}

func TestSystemdNotify(t *testing.T) {
	for _, tc := range []struct{ name, sock string }{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", fmt.Sprintf("@antt-watchdog-test-%d-%d", os.Getpid(), time.Now().UnixNano())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := listen(t, tc.sock)
			up := &switchable{}
			// Datagrams are sent synchronously within a round, so once a
			// round is over its message is in the socket's queue.
			h := start(t, Options{LookupEnv: env(map[string]string{
				"NOTIFY_SOCKET": tc.sock,
				"WATCHDOG_USEC": "3000000",
				"WATCHDOG_PID":  strconv.Itoa(os.Getpid()),
			})}, Probe{"uplink", up.check})
			expect(t, msgs, "READY=1")
			expect(t, msgs, "WATCHDOG=1")
			if h.interval() != 1500*time.Millisecond {
				t.Errorf("ping period %s, want WATCHDOG_USEC/2 = 1.5s", h.interval())
			}
			for range 3 {
				h.tick()
				expect(t, msgs, "WATCHDOG=1")
			}
			up.fail.Store(true)
			if h.tick() {
				t.Fatal("pinged systemd although a probe failed")
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			expect(t, msgs, "STOPPING=1")
			expectNone(t, msgs)
		})
	}
}

func TestSystemdIntervalWithDevice(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	msgs := listen(t, sock)
	dev := &fakeDevice{}
	h := start(t, Options{Device: "/dev/watchdog-fake", Timeout: 15 * time.Second, Open: fakeOpen(dev, nil),
		LookupEnv: env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "4000000"})})
	if h.interval() != 2*time.Second {
		t.Errorf("interval %s, want the shorter of 5s (device) and 2s (WATCHDOG_USEC/2)", h.interval())
	}
	expect(t, msgs, "READY=1")
	expect(t, msgs, "WATCHDOG=1")
	h.tick()
	expect(t, msgs, "WATCHDOG=1")
	if got, _ := dev.state(); got != "kk" {
		t.Errorf("device got %q", got)
	}
}

// Pings are meant for WATCHDOG_PID only; READY and STOPPING still go.
func TestSystemdOtherPID(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	msgs := listen(t, sock)
	dev := &fakeDevice{}
	h := start(t, Options{Device: "/dev/watchdog-fake", Open: fakeOpen(dev, nil),
		LookupEnv: env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": strconv.Itoa(os.Getpid() + 1)})})
	if h.interval() != MaxInterval {
		t.Errorf("interval %s, want the device's", h.interval())
	}
	expect(t, msgs, "READY=1")
	h.tick()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	expect(t, msgs, "STOPPING=1")
	expectNone(t, msgs)
}

func TestBadSystemdEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"NOTIFY_SOCKET": "run/systemd/notify"}, "NOTIFY_SOCKET"},
		{map[string]string{"NOTIFY_SOCKET": "@"}, "NOTIFY_SOCKET"},
		{map[string]string{"NOTIFY_SOCKET": "vsock:2:1234"}, "NOTIFY_SOCKET"},
		{map[string]string{"NOTIFY_SOCKET": "/" + strings.Repeat("x", 200)}, "NOTIFY_SOCKET"},
		{map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "soon"}, "WATCHDOG_USEC"},
		{map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "0"}, "WATCHDOG_USEC"},
		{map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "-5"}, "WATCHDOG_USEC"},
		{map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "99999999999999999999"}, "WATCHDOG_USEC"},
		{map[string]string{"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "me"}, "WATCHDOG_PID"},
	} {
		_, err := New(Options{LookupEnv: env(tc.env)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with %v = %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
	if _, err := New(Options{Timeout: time.Millisecond, LookupEnv: env(nil), Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Error("timeout below 1s accepted")
	}
	w, err := New(Options{LookupEnv: env(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch(Probe{Name: "x"}); err == nil {
		t.Error("probe without a check accepted")
	}
}

// A notify socket nobody listens on is logged; the device is still fed.
func TestSystemdSocketMissing(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody")
	dev := &fakeDevice{}
	var logBuf devtest.Buffer
	h := start(t, Options{Device: "/dev/watchdog-fake", Open: fakeOpen(dev, nil),
		Logger:    slog.New(slog.NewTextHandler(&logBuf, nil)),
		LookupEnv: env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "2000000"})})
	if !h.tick() {
		t.Fatal("round not fed")
	}
	if got, _ := dev.state(); got != "kk" {
		t.Errorf("device got %q", got)
	}
	if logs := logBuf.String(); !strings.Contains(logs, "notify systemd") || !strings.Contains(logs, sock) {
		t.Errorf("log does not explain the failed notification: %s", logs)
	}
}

func TestNothingToFeed(t *testing.T) {
	w, err := New(Options{LookupEnv: env(nil), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if w.Interval() != 0 {
		t.Errorf("interval %s with nothing to feed", w.Interval())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRecent(t *testing.T) {
	var last atomic.Int64 // unix nanos; 0 = not started
	get := func() time.Time {
		if n := last.Load(); n != 0 {
			return time.Unix(0, n)
		}
		return time.Time{}
	}
	ctx := context.Background()
	if err := Recent(get, time.Hour)(ctx); err != nil {
		t.Errorf("not started, within the limit: %v", err)
	}
	if err := Recent(get, -time.Second)(ctx); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("not started, past the limit: %v", err)
	}
	last.Store(time.Now().Add(-time.Minute).UnixNano())
	if err := Recent(get, 10*time.Second)(ctx); err == nil || !strings.Contains(err.Error(), "no progress") {
		t.Errorf("a minute old with a 10s limit: %v", err)
	}
	last.Store(time.Now().UnixNano())
	if err := Recent(get, 10*time.Second)(ctx); err != nil {
		t.Errorf("fresh: %v", err)
	}
}

func TestAnswers(t *testing.T) {
	ctx := context.Background()
	stuck := errors.New("writer busy")
	var answer atomic.Bool
	ping := func(context.Context) error {
		if answer.Load() {
			return nil
		}
		return stuck
	}
	if err := Answers(ping, time.Hour)(ctx); err != nil {
		t.Errorf("one missed answer within the limit: %v", err)
	}
	check := Answers(ping, -time.Second) // every silence is too long
	if err := check(ctx); !errors.Is(err, stuck) {
		t.Errorf("silence past the limit = %v, want it to wrap the last error", err)
	}
	answer.Store(true)
	if err := check(ctx); err != nil {
		t.Errorf("answered: %v", err)
	}
}
