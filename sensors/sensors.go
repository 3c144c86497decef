// Package sensors defines the gateway's alarm inputs and holds their drivers.
//
// The contract (Input, Edge, Config) lives apart from the drivers, as in
// periph.io's conn/host split: the periph GPIO driver ("gpio") and the
// simulated driver ("sim") are two implementations, and sensorstest holds
// the fakes every user of the contract can test with.
//
// Every driver feeds raw level changes through the same debounce and hold-off
// state machine (see machine.go), so a simulated or walk-test edge takes the
// same path as a real one.
//
// Guarantees: an Edge's Time and Mono are taken at the first raw edge of the
// debounced change, not at the end of the debounce window; a hold-off delays
// the inactive edge but never drops it; Run returns only after every goroutine
// it started has ended.
//
// The state at start: Prime configures an input and reads the state it is
// in, so a caller can report every input's state at start (the gateway puts
// them in its boot event) before any edge flows; Run then reports changes
// against exactly that state. An input active at start is reported as an
// Edge marked AtStart, the first Run sends, only when Config.ReportAtStart
// is set (a door opened or a box tampered while the power was off must not
// stay invisible; a PIR seeing someone at power-up need not raise an event).
// Status().Active and ActiveAtStart show it either way.
package sensors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
	"periph.io/x/conn/v3/gpio"
)

// Edge is one debounced change of a sensor's state.
type Edge struct {
	Sensor string        // configured name
	Kind   string        // wire.KindMotion, KindContact, KindTamper or KindPanic
	Active bool          // true when the sensor became active
	Time   time.Time     // wall time at the first raw edge of the change (or at hold expiry for a delayed inactive edge)
	Mono   time.Duration // monotonic time since process start at the same instant, for uptime_ms
	// AtStart marks the state the input was found in when it started (not a
	// change); Time is when it was read. Only sent with Config.ReportAtStart.
	AtStart bool
}

// Step is one scripted level change of a simulated sensor.
type Step struct {
	At     time.Duration // offset from the start of Run
	Active bool
}

// Pull values accepted in Config.Pull.
const (
	PullUp   = "up"
	PullDown = "down"
	PullNone = "none"
)

// Driver names accepted in Config.Driver.
const (
	DriverGPIO = "gpio"
	DriverSim  = "sim"
)

// Config describes one input; it mirrors one entry of the YAML "sensors" list.
type Config struct {
	Name      string        // unique name, used as the event source
	Kind      string        // motion|contact|tamper|panic
	Driver    string        // gpio|sim
	Pin       string        // gpio: periph pin name, e.g. "GPIO17"
	ActiveLow bool          // gpio: the sensor is active when the line is low
	Pull      string        // gpio: up|down|none; empty means none
	Debounce  time.Duration // a new level must be stable this long to count; 0 disables
	Hold      time.Duration // after an active edge, retriggers are absorbed this long; 0 disables
	Every     time.Duration // sim: one pulse every Every, the first at Every after Run starts
	Pulse     time.Duration // sim: how long a periodic pulse stays active; 0 means min(1s, Every/2)
	Script    []Step        // sim: level changes at offsets from the start, played once
	Initial   bool          // sim: the input is active when it starts
	// ReportAtStart makes Run send an input found active at start as its
	// first Edge, marked AtStart; without it that state is only in Status.
	ReportAtStart bool
}

// Options carries what an input needs from its surroundings; zero values get
// production defaults.
type Options struct {
	Clock  Clock        // default NewSystemClock(); share one so Mono counts from process start
	Logger *slog.Logger // default slog.Default()
	Pins   PinSource    // default HostPins (periph host.Init and gpioreg)
}

// PinSource finds GPIO pins by name. HostPins is the real one; tests pass a
// map of gpiotest pins.
type PinSource interface {
	// Init prepares the host's drivers; it may be called more than once.
	Init() error
	// ByName returns the pin or nil when there is no such pin.
	ByName(name string) gpio.PinIO
}

// Input is one sensor as the rest of the gateway sees it.
type Input interface {
	// Name returns the configured name.
	Name() string
	// Run sends debounced edges to out until ctx ends. It returns nil on a
	// clean stop and an error when the hardware fails; it blocks while out is
	// full, so the reader of out must keep up.
	Run(ctx context.Context, out chan<- Edge) error
	// Prime configures the input and returns the state it is in, which the
	// next Run starts from: a change after Prime is reported by Run as an
	// edge, the state itself is not (unless Config.ReportAtStart). Calling
	// it again before Run returns the same state; Run primes the input
	// itself when Prime was not called. Not safe concurrently with Run.
	Prime() (active bool, err error)
	// Status returns a snapshot for /api/status; safe to call concurrently.
	Status() Status
	// LastLoop returns the clock time of the driver's latest loop iteration;
	// a watchdog can call it concurrently to see the driver is alive. It is
	// the zero time before Run starts.
	LastLoop() time.Time
}

// Triggerer is implemented by inputs that can be driven on demand (the sim
// driver), for walk tests and tests.
type Triggerer interface {
	// Trigger injects a raw level change; debounce and hold apply.
	Trigger(active bool) error
}

// Status is a point-in-time view of one input.
type Status struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Driver  string `json:"driver"`
	Pin     string `json:"pin,omitempty"`
	Running bool   `json:"running"` // configured and waiting for edges
	Active  bool   `json:"active"`  // the reported state
	// ActiveAtStart tells the input was active when it last started.
	ActiveAtStart bool      `json:"active_at_start,omitempty"`
	LastEdge      time.Time `json:"last_edge,omitzero"`
	Edges         uint64    `json:"edges"`      // edges reported
	RawEdges      uint64    `json:"raw_edges"`  // raw level changes seen, before debounce
	Suppressed    uint64    `json:"suppressed"` // activations absorbed by hold-off
	Glitches      uint64    `json:"glitches"`   // raw changes rejected by debounce
	Loops         uint64    `json:"loops"`      // state machine iterations, a progress counter
}

// ErrNotRunning is returned by Trigger when Run is not active.
var ErrNotRunning = errors.New("sensor is not running")

// Validate checks cfg; its errors name the sensor and the field.
func Validate(cfg Config) error {
	name := cfg.Name
	if name == "" {
		name = "(unnamed)"
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("sensor %q: %s: %s", name, field, fmt.Sprintf(format, args...))
	}
	if cfg.Name == "" {
		return bad("name", "must not be empty")
	}
	switch cfg.Kind {
	case wire.KindMotion, wire.KindContact, wire.KindTamper, wire.KindPanic:
	case "":
		return bad("kind", "must be set (motion, contact, tamper or panic)")
	default:
		return bad("kind", "%q is not one of motion, contact, tamper, panic", cfg.Kind)
	}
	if cfg.Debounce < 0 {
		return bad("debounce", "must not be negative, got %s", cfg.Debounce)
	}
	if cfg.Hold < 0 {
		return bad("hold", "must not be negative, got %s", cfg.Hold)
	}
	switch cfg.Driver {
	case DriverGPIO:
		if cfg.Pin == "" {
			return bad("pin", "must be set for driver gpio (e.g. GPIO17)")
		}
		if _, err := parsePull(cfg.Pull); err != nil {
			return bad("pull", "%v", err)
		}
		if cfg.Every != 0 || cfg.Pulse != 0 || len(cfg.Script) != 0 {
			return bad("every", "every, pulse and script apply only to driver sim")
		}
		if cfg.Initial {
			return bad("initial", "applies only to driver sim (a gpio input's state at start is read from the pin)")
		}
	case DriverSim:
		if cfg.Pin != "" {
			return bad("pin", "applies only to driver gpio")
		}
		if cfg.Every < 0 {
			return bad("every", "must not be negative, got %s", cfg.Every)
		}
		if cfg.Every > 0 && len(cfg.Script) > 0 {
			return bad("script", "cannot be combined with every")
		}
		if cfg.Pulse < 0 || (cfg.Every > 0 && cfg.Pulse >= cfg.Every) {
			return bad("pulse", "must be between 0 and every (%s), got %s", cfg.Every, cfg.Pulse)
		}
		var last time.Duration
		for i, s := range cfg.Script {
			if s.At < last {
				return bad(fmt.Sprintf("script[%d].at", i), "offsets must not decrease (%s after %s)", s.At, last)
			}
			last = s.At
		}
	case "":
		return bad("driver", "must be set (gpio or sim)")
	default:
		return bad("driver", "%q is not one of gpio, sim", cfg.Driver)
	}
	return nil
}

func parsePull(s string) (gpio.Pull, error) {
	switch s {
	case PullUp:
		return gpio.PullUp, nil
	case PullDown:
		return gpio.PullDown, nil
	case PullNone, "":
		return gpio.Float, nil
	}
	return gpio.PullNoChange, fmt.Errorf("%q is not one of up, down, none", s)
}

// Open validates cfg and returns the input for its driver. A gpio pin is
// looked up here, so a missing pin is reported before anything runs; the pin
// is configured only when Run starts.
func Open(cfg Config, opt Options) (Input, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	if opt.Clock == nil {
		opt.Clock = NewSystemClock()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	opt.Logger = opt.Logger.With("sensor", cfg.Name)
	switch cfg.Driver {
	case DriverGPIO:
		if opt.Pins == nil {
			opt.Pins = &HostPins{}
		}
		return openGPIO(cfg, opt)
	default:
		return newSim(cfg, opt), nil
	}
}
