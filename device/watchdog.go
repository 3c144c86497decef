package device

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/antt-gateway/antt/device/watchdog"
	"github.com/antt-gateway/antt/sensors"
)

// OutboxStallLimit is how long the outbox writer may leave pings unanswered,
// or answer them with errors, before the watchdog counts it as stuck. It is
// far above any healthy commit (a burst, an overflow drop, the compaction of
// a drained file), so only a writer hung in the kernel, in a dying SD card's
// fsync say, or commits failing for that long (Ping fails while they do)
// reach it.
const OutboxStallLimit = 60 * time.Second

// newWatchdog builds the watchdog when the configuration names a device or
// systemd gave a notify socket; it returns nil otherwise. The probes are the
// parts an event passes through: every sensor loop, the outbox writer and
// the uplink's loop.
func (g *Gateway) newWatchdog(lookupEnv func(string) (string, bool)) (*watchdog.Watchdog, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	sock, _ := lookupEnv("NOTIFY_SOCKET")
	if g.cfg.Watchdog == nil && sock == "" {
		return nil, nil
	}
	opt := watchdog.Options{LookupEnv: lookupEnv, Logger: g.log.With("part", "watchdog")}
	if w := g.cfg.Watchdog; w != nil {
		opt.Device, opt.Timeout = w.Device, w.Timeout
	}
	wd, err := watchdog.New(opt)
	if err != nil {
		return nil, err
	}
	every := wd.Interval()
	if every == 0 {
		return wd, nil // systemd without WatchdogSec: READY and STOPPING only
	}
	// Each limit is the longest the part may legitimately stand still, plus
	// three rounds of slack for a busy board.
	slack := 3 * every
	probes := []watchdog.Probe{
		{Name: "uplink", Check: watchdog.Recent(g.session.LastLoop, g.session.MaxLoopGap()+slack)},
		{Name: "outbox", Check: watchdog.Answers(g.outbox.Ping, OutboxStallLimit)},
	}
	for i, in := range g.inputs {
		probes = append(probes, watchdog.Probe{Name: "sensor " + in.Name(), Check: sensorCheck(in, g.cfg.Sensors[i].Driver, g.cfg.Sensors[i].Every, slack)})
	}
	if err := wd.Watch(probes...); err != nil {
		return nil, err
	}
	return wd, nil
}

// sensorCheck sizes a sensor's probe to how often its loop goes round: the
// GPIO reader beats on every WaitForEdge (150 ms), a periodic simulated
// sensor at each pulse edge. A scripted simulated sensor waits with nothing
// to do once its script has played, so only its running loop is checked.
func sensorCheck(in sensors.Input, driver string, every, slack time.Duration) watchdog.Check {
	if driver != sensors.DriverSim {
		return watchdog.Recent(in.LastLoop, slack)
	}
	if every > 0 {
		return watchdog.Recent(in.LastLoop, every+slack)
	}
	started := time.Now()
	return func(context.Context) error {
		if in.Status().Running || time.Since(started) < slack {
			return nil
		}
		return errors.New("loop not running")
	}
}
