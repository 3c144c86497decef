package sensors_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/sensors/sensorstest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// base is the fake wall time at uptime zero.
var base = time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)

const waitLimit = 5 * time.Second

// waitFor polls cond until it holds or the deadline passes; it is a
// deadline on a condition, never a synchronisation sleep.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func recvEdge(t *testing.T, out <-chan sensors.Edge) sensors.Edge {
	t.Helper()
	select {
	case e := <-out:
		return e
	case <-time.After(waitLimit):
		t.Fatal("timed out waiting for an edge")
	}
	return sensors.Edge{}
}

func noEdge(t *testing.T, out <-chan sensors.Edge) {
	t.Helper()
	select {
	case e := <-out:
		t.Fatalf("unexpected edge %+v", e)
	default:
	}
}

type running struct {
	in     sensors.Input
	out    chan sensors.Edge
	cancel context.CancelFunc
	done   chan error
}

// start runs in until the test ends and waits until it is configured.
func start(t *testing.T, in sensors.Input) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{in: in, out: make(chan sensors.Edge, 32), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx, r.out) }()
	t.Cleanup(func() { r.stop(t) })
	waitFor(t, "input running", func() bool { return in.Status().Running })
	return r
}

// stop cancels Run and returns its error; it is safe to call twice.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after cancel")
	}
	return nil
}

// step advances the clock and waits until the input's loop has run since.
func step(t *testing.T, clk *sensorstest.Clock, in sensors.Input, d time.Duration) {
	t.Helper()
	loops := in.Status().Loops
	if clk.Advance(d) > 0 {
		waitFor(t, "loop after timer", func() bool { return in.Status().Loops > loops })
	}
}

// fakePin wraps gpiotest.Pin to record Halt and In calls and to queue stale
// edges right after configuration, as the kernel may.
type fakePin struct {
	*gpiotest.Pin
	mu    sync.Mutex
	halts int
	ins   []gpio.Edge
	stale []gpio.Level
}

func newFakePin(name string) *fakePin {
	return &fakePin{Pin: &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 64)}}
}

func (p *fakePin) In(pull gpio.Pull, edge gpio.Edge) error {
	if err := p.Pin.In(pull, edge); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ins = append(p.ins, edge)
	if edge != gpio.NoEdge {
		for _, l := range p.stale {
			p.EdgesChan <- l
		}
	}
	return nil
}

func (p *fakePin) Halt() error {
	p.mu.Lock()
	p.halts++
	p.mu.Unlock()
	return p.Pin.Halt()
}

func (p *fakePin) calls() (int, []gpio.Edge) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.halts, append([]gpio.Edge(nil), p.ins...)
}

// edge feeds one raw edge and waits until the input counted it.
func (p *fakePin) edge(t *testing.T, in sensors.Input, l gpio.Level) {
	t.Helper()
	n := in.Status().RawEdges
	p.EdgesChan <- l
	waitFor(t, "raw edge counted", func() bool { return in.Status().RawEdges == n+1 })
}

func openGPIO(t *testing.T, cfg sensors.Config, p *fakePin) (sensors.Input, *sensorstest.Clock) {
	t.Helper()
	clk := sensorstest.NewClock(base)
	cfg.Driver = sensors.DriverGPIO
	if cfg.Name == "" {
		cfg.Name = "gate-pir"
	}
	if cfg.Kind == "" {
		cfg.Kind = "motion"
	}
	if cfg.Pin == "" {
		cfg.Pin = p.N
	}
	in, err := sensors.Open(cfg, sensors.Options{Clock: clk, Pins: &sensorstest.Pins{Map: map[string]gpio.PinIO{p.N: p}}})
	if err != nil {
		t.Fatal(err)
	}
	return in, clk
}
