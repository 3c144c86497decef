package sensors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

const (
	// pollWait bounds one WaitForEdge call, so the reader notices a cancelled
	// context promptly. Always positive: gpioioctl blocks forever on 0 and
	// returns at once on a negative timeout.
	pollWait = 150 * time.Millisecond
	// drainWait is how long the drain after In waits for one more stale edge.
	drainWait = 2 * time.Millisecond
	// maxDrain stops draining a line that keeps chattering.
	maxDrain = 256
)

// HostPins is the real PinSource: periph's host drivers and gpioreg.
type HostPins struct {
	once sync.Once
	err  error
}

// Init runs host.Init once per HostPins.
func (h *HostPins) Init() error {
	h.once.Do(func() {
		if _, err := host.Init(); err != nil {
			h.err = fmt.Errorf("periph host init: %w", err)
		}
	})
	return h.err
}

// ByName implements PinSource with gpioreg.ByName.
func (h *HostPins) ByName(name string) gpio.PinIO { return gpioreg.ByName(name) }

type gpioInput struct {
	*core
	pin  gpio.PinIO
	pull gpio.Pull
}

func openGPIO(cfg Config, opt Options) (*gpioInput, error) {
	if err := opt.Pins.Init(); err != nil {
		return nil, fmt.Errorf("sensor %q: %w", cfg.Name, err)
	}
	p := opt.Pins.ByName(cfg.Pin)
	if p == nil {
		return nil, fmt.Errorf("sensor %q: pin: GPIO pin %q not found on this board (names look like GPIO17)", cfg.Name, cfg.Pin)
	}
	pull, _ := parsePull(cfg.Pull) // checked by Validate
	return &gpioInput{core: newCore(cfg, opt), pin: p, pull: pull}, nil
}

func (g *gpioInput) level() bool { return (g.pin.Read() == gpio.High) != g.cfg.ActiveLow }

// Prime implements Input: it configures the pin for both edges, drains
// edges the kernel queued before or during the configuration (after one,
// until the line has been quiet for the debounce window), and reads the
// level. Edges from then on are queued by the kernel for Run.
func (g *gpioInput) Prime() (bool, error) {
	return g.prime(func() (bool, error) {
		if err := g.pin.In(g.pull, gpio.BothEdges); err != nil {
			return false, fmt.Errorf("sensor %q: configure pin %s: %w", g.cfg.Name, g.cfg.Pin, err)
		}
		// A line that moved is read only once it has been quiet for the
		// debounce window: a contact still bouncing as the power comes back
		// would otherwise be read mid-bounce and a closed door reported
		// active at start. maxDrain bounds a line that never settles.
		stale, quiet := 0, drainWait
		for stale < maxDrain && g.pin.WaitForEdge(quiet) {
			stale++
			quiet = max(drainWait, g.cfg.Debounce)
		}
		if stale > 0 {
			g.log.Debug("drained stale edges", "count", stale)
		}
		return g.level(), nil
	})
}

// Run primes the pin unless Prime was called, and reports debounced edges
// until ctx ends. On return the pin is halted and left an input without
// edge detection.
func (g *gpioInput) Run(ctx context.Context, out chan<- Edge) error {
	if _, err := g.Prime(); err != nil {
		return err
	}
	initial, at, _ := g.takePrimed()

	rctx, cancel := context.WithCancel(ctx)
	raw := make(chan rawEdge)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.read(rctx, raw)
	}()
	err := g.core.loop(rctx, out, raw, g.level, initial, at)
	cancel()
	// Halt also interrupts a WaitForEdge in gpioioctl; the reader then sees ctx.
	if herr := g.pin.Halt(); herr != nil && err == nil {
		err = fmt.Errorf("sensor %q: halt pin %s: %w", g.cfg.Name, g.cfg.Pin, herr)
	}
	wg.Wait()
	if ierr := g.pin.In(g.pull, gpio.NoEdge); ierr != nil && err == nil {
		err = fmt.Errorf("sensor %q: release pin %s: %w", g.cfg.Name, g.cfg.Pin, ierr)
	}
	return err
}

// read is the only caller of WaitForEdge once Run has started.
func (g *gpioInput) read(ctx context.Context, raw chan<- rawEdge) {
	for ctx.Err() == nil {
		g.beat()
		if !g.pin.WaitForEdge(pollWait) {
			continue
		}
		at := g.now()
		r := rawEdge{level: g.level(), at: at}
		select {
		case raw <- r:
		case <-ctx.Done():
			return
		}
	}
}
