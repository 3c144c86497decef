package sensors_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"periph.io/x/conn/v3/gpio"

	"github.com/antt-gateway/antt/sensors"
)

// A contact still bouncing when the gateway starts (the door closed as the
// power came back): Prime must read the level the line settles on, not one
// taken mid-bounce, or a closed door or released panic button is reported
// active at start (a false alarm) and then inactive.
func TestGPIOPrimeWaitsForChatterToSettle(t *testing.T) {
	p := newFakePin("GPIO6")
	pinClock := clockwork.NewFakeClock()
	p.Clock = pinClock // the pin's WaitForEdge timeouts
	p.stale = []gpio.Level{gpio.High}
	in, _ := openGPIO(t, sensors.Config{Name: "cong-chinh", Kind: "contact", Pull: "down",
		Debounce: 50 * time.Millisecond, ReportAtStart: true}, p)
	type primed struct {
		active bool
		err    error
	}
	res := make(chan primed, 1)
	go func() {
		a, err := in.Prime()
		res <- primed{a, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// waiting returns once Prime waits for the next edge; a Prime that
	// returned instead fails the test.
	waiting := func(what string) {
		t.Helper()
		blocked := make(chan error, 1)
		go func() { blocked <- pinClock.BlockUntilContext(ctx, 1) }()
		select {
		case r := <-res:
			t.Fatalf("Prime returned active=%v (%v) %s, with the line still chattering", r.active, r.err, what)
		case err := <-blocked:
			if err != nil {
				t.Fatalf("Prime neither waits nor returns %s: %v", what, err)
			}
		}
	}
	// The contact bounces every 5 ms (far inside the 50 ms debounce) and
	// settles open-circuit low.
	for i, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
		waiting(fmt.Sprintf("before bounce %d", i))
		pinClock.Advance(5 * time.Millisecond)
		p.EdgesChan <- l
	}
	// Quiet from now on: Prime reads the level once its wait ends. Fake
	// time moves a millisecond at a time until it does (stale timers of the
	// waits that edges ended make a waiter count meaningless here).
	for advanced := time.Duration(0); ; advanced += time.Millisecond {
		select {
		case r := <-res:
			if r.err != nil || r.active {
				t.Fatalf("Prime = %v, %v; want inactive (the level the line settled on)", r.active, r.err)
			}
			return
		case <-ctx.Done():
			t.Fatalf("Prime did not return once the line was quiet (%s of fake time)", advanced)
		default:
			pinClock.Advance(time.Millisecond)
			runtime.Gosched()
		}
	}
}
