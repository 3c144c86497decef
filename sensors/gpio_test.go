package sensors_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/sensors/sensorstest"
	"periph.io/x/conn/v3/gpio"
)

func TestGPIODebounce(t *testing.T) {
	p := newFakePin("GPIO17")
	in, clk := openGPIO(t, sensors.Config{Pull: "down", Debounce: 50 * time.Millisecond}, p)
	r := start(t, in)

	// A glitch shorter than the window is rejected.
	p.edge(t, in, gpio.High)
	step(t, clk, in, 10*time.Millisecond)
	p.edge(t, in, gpio.Low)
	step(t, clk, in, 100*time.Millisecond)
	if st := in.Status(); st.Glitches != 1 || st.Edges != 0 || st.Active {
		t.Fatalf("after glitch: %+v", st)
	}
	noEdge(t, r.out)

	// A bouncing change counts once, stamped at its first raw edge, and only
	// after the level was stable for a whole window since the last bounce.
	t0, m0 := clk.Now(), clk.Uptime()
	p.edge(t, in, gpio.High)
	step(t, clk, in, 10*time.Millisecond)
	p.edge(t, in, gpio.Low)
	step(t, clk, in, 10*time.Millisecond)
	p.edge(t, in, gpio.High)
	step(t, clk, in, 49*time.Millisecond)
	noEdge(t, r.out)
	step(t, clk, in, time.Millisecond)
	e := recvEdge(t, r.out)
	want := sensors.Edge{Sensor: "gate-pir", Kind: "motion", Active: true, Time: t0, Mono: m0}
	if e != want {
		t.Fatalf("edge = %+v, want %+v", e, want)
	}

	t1 := clk.Now()
	p.edge(t, in, gpio.Low)
	step(t, clk, in, 50*time.Millisecond)
	if e := recvEdge(t, r.out); e.Active || !e.Time.Equal(t1) {
		t.Fatalf("release edge = %+v, want inactive at %v", e, t1)
	}
	if st := in.Status(); st.Edges != 2 || st.Active || !st.LastEdge.Equal(t1) {
		t.Fatalf("status = %+v", st)
	}
}

func TestGPIOActiveLow(t *testing.T) {
	p := newFakePin("GPIO22")
	in, clk := openGPIO(t, sensors.Config{Name: "door", Kind: "contact", Pull: "up", ActiveLow: true, Debounce: 20 * time.Millisecond}, p)
	r := start(t, in)
	if in.Status().Active {
		t.Fatal("pulled-up active-low line reads active at start")
	}
	p.edge(t, in, gpio.Low)
	step(t, clk, in, 20*time.Millisecond)
	if e := recvEdge(t, r.out); !e.Active || e.Sensor != "door" || e.Kind != "contact" {
		t.Fatalf("low level gave %+v, want active", e)
	}
	p.edge(t, in, gpio.High)
	step(t, clk, in, 20*time.Millisecond)
	if e := recvEdge(t, r.out); e.Active {
		t.Fatalf("high level gave %+v, want inactive", e)
	}
}

func TestGPIOHoldAbsorbsRetriggers(t *testing.T) {
	p := newFakePin("GPIO17")
	in, clk := openGPIO(t, sensors.Config{Pull: "down", Hold: 10 * time.Second}, p)
	r := start(t, in)

	t0 := clk.Now()
	p.edge(t, in, gpio.High)
	if e := recvEdge(t, r.out); !e.Active || !e.Time.Equal(t0) {
		t.Fatalf("first edge = %+v", e)
	}
	for range 3 {
		step(t, clk, in, time.Second)
		p.edge(t, in, gpio.Low)
		step(t, clk, in, time.Second)
		p.edge(t, in, gpio.High)
	}
	step(t, clk, in, time.Second)
	p.edge(t, in, gpio.Low)
	noEdge(t, r.out)
	if st := in.Status(); st.Suppressed != 3 || !st.Active {
		t.Fatalf("during hold: %+v", st)
	}
	// The inactive edge comes at hold expiry, stamped with the expiry.
	step(t, clk, in, 5*time.Second)
	e := recvEdge(t, r.out)
	if e.Active || !e.Time.Equal(t0.Add(10*time.Second)) || e.Mono != 10*time.Second {
		t.Fatalf("expiry edge = %+v, want inactive at +10s", e)
	}
	noEdge(t, r.out)
}

func TestGPIOHoldStaysActiveUntilRelease(t *testing.T) {
	p := newFakePin("GPIO17")
	in, clk := openGPIO(t, sensors.Config{Pull: "down", Hold: 10 * time.Second}, p)
	r := start(t, in)
	p.edge(t, in, gpio.High)
	recvEdge(t, r.out)
	step(t, clk, in, 15*time.Second)
	noEdge(t, r.out)
	if !in.Status().Active {
		t.Fatal("state dropped at hold expiry while the input is still active")
	}
	t1 := clk.Now()
	p.edge(t, in, gpio.Low)
	if e := recvEdge(t, r.out); e.Active || !e.Time.Equal(t1) {
		t.Fatalf("release edge = %+v, want inactive at %v", e, t1)
	}
	// After the release a new activation is reported at once.
	p.edge(t, in, gpio.High)
	if e := recvEdge(t, r.out); !e.Active {
		t.Fatalf("re-activation = %+v", e)
	}
}

func TestGPIOStaleEdgesDrained(t *testing.T) {
	p := newFakePin("GPIO17")
	p.stale = []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low}
	in, _ := openGPIO(t, sensors.Config{Pull: "down"}, p)
	r := start(t, in)
	if st := in.Status(); st.RawEdges != 0 || st.Active {
		t.Fatalf("stale edges reached the machine: %+v", st)
	}
	p.edge(t, in, gpio.High)
	if e := recvEdge(t, r.out); !e.Active {
		t.Fatalf("first edge = %+v, want the real activation", e)
	}
	noEdge(t, r.out)
}

func TestGPIOStopHaltsAndReleases(t *testing.T) {
	p := newFakePin("GPIO17")
	in, _ := openGPIO(t, sensors.Config{Pull: "down"}, p)
	r := start(t, in)
	began := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v on clean stop", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	halts, ins := p.calls()
	if halts == 0 {
		t.Error("Halt not called on stop")
	}
	if len(ins) != 2 || ins[0] != gpio.BothEdges || ins[1] != gpio.NoEdge {
		t.Errorf("In calls = %v, want [BothEdges NoEdge]", ins)
	}
	if in.Status().Running {
		t.Error("status still running after stop")
	}
}

func TestGPIOStopWhileOutputBlocked(t *testing.T) {
	p := newFakePin("GPIO17")
	in, _ := openGPIO(t, sensors.Config{Pull: "down"}, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, make(chan sensors.Edge)) }() // nobody reads
	waitFor(t, "input running", func() bool { return in.Status().Running })
	// The loop takes the first edge and blocks sending it, the reader takes
	// the second and blocks handing it over, the third stays queued.
	p.EdgesChan <- gpio.High
	p.EdgesChan <- gpio.Low
	p.EdgesChan <- gpio.High
	waitFor(t, "loop and reader blocked", func() bool { return len(p.EdgesChan) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run blocked on a full output after cancel")
	}
}

func TestGPIOPinNotFound(t *testing.T) {
	_, err := sensors.Open(sensors.Config{Name: "gate-pir", Kind: "motion", Driver: "gpio", Pin: "GPIO99"},
		sensors.Options{Clock: sensorstest.NewClock(base), Pins: &sensorstest.Pins{}})
	if err == nil {
		t.Fatal("no error for a missing pin")
	}
	for _, w := range []string{`"gate-pir"`, "pin", `"GPIO99"`, "not found"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestGPIOHostInitError(t *testing.T) {
	_, err := sensors.Open(sensors.Config{Name: "gate-pir", Kind: "motion", Driver: "gpio", Pin: "GPIO17"},
		sensors.Options{Pins: &sensorstest.Pins{InitErr: errTest}})
	if err == nil || !strings.Contains(err.Error(), "gate-pir") {
		t.Fatalf("err = %v", err)
	}
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("no gpio chip")

func TestGPIOHeartbeat(t *testing.T) {
	p := newFakePin("GPIO17")
	in, clk := openGPIO(t, sensors.Config{Pull: "down"}, p)
	if !in.LastLoop().IsZero() {
		t.Fatal("LastLoop set before Run")
	}
	start(t, in)
	// The reader beats on every WaitForEdge round even with no edges.
	clk.Advance(time.Minute)
	want := clk.Now()
	waitFor(t, "heartbeat after a quiet minute", func() bool { return in.LastLoop().Equal(want) })
}
