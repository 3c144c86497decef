// Package watchdog feeds the board's hardware watchdog and systemd's service
// watchdog, but only while every part of the gateway makes progress.
//
// A Watchdog checks a list of named probes every Interval. When all of them
// pass it writes a keepalive to the watchdog device and, under systemd, sends
// "WATCHDOG=1". When one fails it logs which part is stuck and stops feeding
// for good, so the hardware (or systemd) restarts the board (or the service):
// a hang anywhere in the event path ends in a reboot instead of a board that
// looks alive and reports nothing.
//
// A clean stop (Run's context ending while nothing is stuck) writes the magic
// close character 'V' before closing the device, so a deliberate restart of
// the gateway does not reboot the board. Kernels built with
// CONFIG_WATCHDOG_NOWAYOUT ignore it; there the next start must come within
// the timeout.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Check reports whether one part made progress recently: nil when it did.
// ctx ends when the round the check belongs to runs out of time; a check that
// waits (for an answer from a goroutine, say) must give up then.
type Check func(ctx context.Context) error

// Probe is one named part of the gateway the watchdog looks at.
type Probe struct {
	Name  string // logged when the part is stuck: "uplink", "sensor gate-pir"
	Check Check
}

// Device is an open watchdog device. Any write keeps the board alive; a
// write holding 'V' followed by Close disarms it (the magic close).
type Device interface {
	Write(p []byte) (int, error)
	Close() error
}

// Defaults and bounds.
const (
	// MaxInterval caps the time between two feeds, whatever the timeout.
	MaxInterval = 5 * time.Second
	// DefaultTimeout is used when Options.Timeout is zero.
	DefaultTimeout = 15 * time.Second
)

// Options configure New. The zero value feeds nothing but systemd (when the
// environment asks for it).
type Options struct {
	// Device is the watchdog device path, like "/dev/watchdog"; empty means
	// no hardware watchdog.
	Device string
	// Timeout is asked of the device (WDIOC_SETTIMEOUT); the board reboots
	// when no keepalive came for this long. Default DefaultTimeout.
	Timeout time.Duration
	// Interval between probe rounds; default min(Timeout/3, MaxInterval),
	// and never more than half of systemd's WATCHDOG_USEC.
	Interval time.Duration
	// Open opens the device (default OpenDevice); tests pass a fake.
	Open func(path string, timeout time.Duration) (Device, error)
	// LookupEnv replaces os.LookupEnv for NOTIFY_SOCKET, WATCHDOG_USEC and
	// WATCHDOG_PID.
	LookupEnv func(string) (string, bool)
	Logger    *slog.Logger // default slog.Default()

	ticker func(time.Duration) (<-chan time.Time, func()) // tests only: a fake clock
	round  func(fed bool)                                 // tests only: called after each round
}

// Watchdog feeds the device and systemd while its probes pass. Create it with
// New and call Run once.
type Watchdog struct {
	opt    Options
	probes []Probe
	log    *slog.Logger
	notify *notifier // nil without NOTIFY_SOCKET
	sdPing bool      // systemd asked for WATCHDOG=1 pings
	every  time.Duration
}

// New checks the options and the systemd environment; it opens nothing.
// A malformed NOTIFY_SOCKET, WATCHDOG_USEC or WATCHDOG_PID is an error naming
// the variable. Probes are added with Watch.
func New(opt Options) (*Watchdog, error) {
	if opt.Timeout == 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.Timeout < time.Second {
		return nil, fmt.Errorf("watchdog: timeout %s is below 1s", opt.Timeout)
	}
	if opt.Open == nil {
		opt.Open = OpenDevice
	}
	if opt.LookupEnv == nil {
		opt.LookupEnv = os.LookupEnv
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ticker == nil {
		opt.ticker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	w := &Watchdog{opt: opt, log: opt.Logger}

	every := opt.Interval
	if every <= 0 && opt.Device != "" {
		every = min(opt.Timeout/3, MaxInterval)
	}
	if sock, ok := opt.LookupEnv("NOTIFY_SOCKET"); ok && sock != "" {
		n, err := newNotifier(sock)
		if err != nil {
			return nil, err
		}
		w.notify = n
		usec, err := systemdWatchdog(opt.LookupEnv)
		if err != nil {
			return nil, err
		}
		if usec > 0 {
			w.sdPing = true
			if every <= 0 || every > usec/2 {
				every = usec / 2
			}
		}
	}
	w.every = every
	return w, nil
}

// systemdWatchdog reads WATCHDOG_USEC, honouring WATCHDOG_PID as
// sd_watchdog_enabled does: pings are meant for that pid only. It returns 0
// when systemd expects no pings from this process.
func systemdWatchdog(env func(string) (string, bool)) (time.Duration, error) {
	v, ok := env("WATCHDOG_USEC")
	if !ok || v == "" {
		return 0, nil
	}
	usec, err := strconv.ParseUint(v, 10, 63)
	if err != nil || usec == 0 || usec > uint64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, fmt.Errorf("watchdog: WATCHDOG_USEC=%q: want a positive number of microseconds", v)
	}
	if p, ok := env("WATCHDOG_PID"); ok && p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("watchdog: WATCHDOG_PID=%q: want a process id", p)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// Interval is the time between probe rounds (and feeds); zero when there is
// nothing to feed. Probes can size their limits from it. Run may go round
// faster when the device keeps a shorter timeout than Options.Timeout.
func (w *Watchdog) Interval() time.Duration { return w.every }

// Watch adds probes; every round checks them all, in order. It must be
// called before Run.
func (w *Watchdog) Watch(probes ...Probe) error {
	for _, p := range probes {
		if p.Name == "" || p.Check == nil {
			return fmt.Errorf("watchdog: probe %q has no name or no check", p.Name)
		}
	}
	w.probes = append(w.probes, probes...)
	return nil
}

// Run opens the device, tells systemd READY=1 and feeds until ctx ends. It
// then disarms the device (unless a part was stuck, when the reboot must
// happen), tells systemd STOPPING=1 and returns nil. It returns an error
// only when the device cannot be opened and there is no systemd to serve
// instead (then it logs the error and goes on with systemd alone). Failed
// notifications are logged, never fatal: the hardware watchdog matters more.
func (w *Watchdog) Run(ctx context.Context) error {
	var dev Device
	every := w.every
	if w.opt.Device != "" {
		d, err := w.opt.Open(w.opt.Device, w.opt.Timeout)
		switch {
		case err != nil && w.notify == nil:
			return fmt.Errorf("open watchdog %s: %w", w.opt.Device, err)
		case err != nil:
			// systemd still needs READY=1 (or it fails the start) and its
			// pings; it may hold the device itself (RuntimeWatchdogSec=).
			w.log.Error("watchdog: device unusable; feeding systemd only", "device", w.opt.Device, "err", err)
		default:
			dev = d
			every = w.deviceInterval(dev)
			w.log.Info("watchdog armed", "device", w.opt.Device, "timeout", w.opt.Timeout, "interval", every)
			// Opening armed it: feed at once rather than one interval later.
			w.feedDevice(dev)
		}
	}
	w.send("READY=1")
	if w.sdPing {
		w.send("WATCHDOG=1")
	}

	tripped := w.loop(ctx, dev, every)

	w.send("STOPPING=1")
	if dev == nil {
		return nil
	}
	if tripped {
		// No magic close: the kernel keeps counting and the board reboots.
		if err := dev.Close(); err != nil {
			w.log.Error("watchdog: close", "err", err)
		}
		return nil
	}
	_, err := dev.Write([]byte("V"))
	if cerr := dev.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The board may reboot within the timeout; nothing more can be done.
		w.log.Error("watchdog: disarm", "device", w.opt.Device, "err", err)
	} else {
		w.log.Info("watchdog disarmed", "device", w.opt.Device)
	}
	return nil
}

// loop runs probe rounds until ctx ends; it reports whether a part was stuck.
func (w *Watchdog) loop(ctx context.Context, dev Device, every time.Duration) (tripped bool) {
	if every <= 0 {
		<-ctx.Done()
		return false
	}
	tick, stop := w.opt.ticker(every)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return tripped
		case <-tick:
		}
		if tripped {
			w.done(false)
			continue
		}
		if err := w.check(ctx, every/2); err != nil {
			if ctx.Err() != nil {
				// Parts stop with the gateway; that is not a hang.
				return false
			}
			tripped = true
			w.log.Error("watchdog: part stuck; no longer feeding the watchdog, expect a reboot",
				"err", err, "device", w.opt.Device, "timeout", w.opt.Timeout)
			w.done(false)
			continue
		}
		if dev != nil {
			w.feedDevice(dev)
		}
		if w.sdPing {
			w.send("WATCHDOG=1")
		}
		w.done(true)
	}
}

func (w *Watchdog) done(fed bool) {
	if w.opt.round != nil {
		w.opt.round(fed)
	}
}

// deviceInterval is the round interval for an open device: a driver that
// kept a shorter timeout than asked for is fed at a third of its own.
func (w *Watchdog) deviceInterval(dev Device) time.Duration {
	t, ok := dev.(interface{ Timeout() time.Duration })
	if !ok {
		return w.every
	}
	actual := t.Timeout()
	if actual <= 0 || actual >= w.opt.Timeout {
		return w.every
	}
	w.log.Warn("watchdog device keeps a timeout of its own", "device", w.opt.Device, "asked", w.opt.Timeout, "timeout", actual)
	return min(w.every, max(actual/3, 100*time.Millisecond))
}

// check runs every probe with half an interval for the whole round, so a
// slow probe delays the feed by at most that.
func (w *Watchdog) check(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var errs []error
	for _, p := range w.probes {
		if err := p.Check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// feedDevice writes one keepalive. A failed write is logged; the board then
// reboots unless a later write succeeds in time.
func (w *Watchdog) feedDevice(dev Device) {
	// Anything but 'V' keeps the board alive.
	if _, err := dev.Write([]byte("k")); err != nil {
		w.log.Error("watchdog: feed", "device", w.opt.Device, "err", err)
	}
}

func (w *Watchdog) send(state string) {
	if w.notify == nil {
		return
	}
	if err := w.notify.send(state); err != nil {
		w.log.Error("watchdog: notify systemd", "state", state, "err", err)
	}
}
