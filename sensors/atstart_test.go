package sensors_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/sensors/sensorstest"
	"periph.io/x/conn/v3/gpio"
)

// A tamper switch held open through a power cut: the line is high when the
// gateway starts. Prime reads it, Run sends it first as an AtStart edge, and
// the release that follows is an ordinary inactive edge.
func TestGPIOActiveAtStartReported(t *testing.T) {
	p := newFakePin("GPIO5")
	p.stale = []gpio.Level{gpio.High} // the kernel's view once the pin is configured
	in, clk := openGPIO(t, sensors.Config{Name: "hop-tu", Kind: "tamper", Pull: "down", ReportAtStart: true}, p)
	clk.Advance(3 * time.Second)
	t0, m0 := clk.Now(), clk.Uptime()
	active, err := in.Prime()
	if err != nil || !active {
		t.Fatalf("Prime = %v, %v; want active", active, err)
	}
	if st := in.Status(); !st.Active || !st.ActiveAtStart || st.Running {
		t.Fatalf("status after Prime: %+v", st)
	}
	clk.Advance(time.Second) // Run starting later does not move the reported instant
	r := start(t, in)
	e := recvEdge(t, r.out)
	want := sensors.Edge{Sensor: "hop-tu", Kind: "tamper", Active: true, Time: t0, Mono: m0, AtStart: true}
	if e != want {
		t.Fatalf("first edge = %+v, want %+v", e, want)
	}
	noEdge(t, r.out)
	if st := in.Status(); !st.Active || !st.ActiveAtStart || st.Edges != 1 || !st.LastEdge.Equal(t0) {
		t.Fatalf("status after the at-start edge: %+v", st)
	}

	t1 := clk.Now()
	p.edge(t, in, gpio.Low)
	if e := recvEdge(t, r.out); e.Active || e.AtStart || !e.Time.Equal(t1) {
		t.Fatalf("release edge = %+v, want inactive at %v", e, t1)
	}
	halts, ins := p.calls()
	if len(ins) != 1 || ins[0] != gpio.BothEdges || halts != 0 {
		t.Fatalf("pin configured %v (halts %d); Run must reuse what Prime configured", ins, halts)
	}
}

// Motion active at start is the state, not an event: a PIR sees people at a
// gate all day.
func TestGPIOActiveAtStartNotReported(t *testing.T) {
	p := newFakePin("GPIO17")
	p.stale = []gpio.Level{gpio.High}
	in, _ := openGPIO(t, sensors.Config{Pull: "down"}, p)
	r := start(t, in) // Run primes by itself
	if st := in.Status(); !st.Active || !st.ActiveAtStart || st.Edges != 0 {
		t.Fatalf("status: %+v", st)
	}
	noEdge(t, r.out)
	p.edge(t, in, gpio.Low)
	if e := recvEdge(t, r.out); e.Active || e.AtStart {
		t.Fatalf("release edge = %+v", e)
	}
}

// An inactive input sends nothing at start even with ReportAtStart.
func TestGPIOInactiveAtStart(t *testing.T) {
	p := newFakePin("GPIO6")
	in, _ := openGPIO(t, sensors.Config{Kind: "contact", Pull: "down", ReportAtStart: true}, p)
	if active, err := in.Prime(); err != nil || active {
		t.Fatalf("Prime = %v, %v; want inactive", active, err)
	}
	r := start(t, in)
	noEdge(t, r.out)
	if st := in.Status(); st.Active || st.ActiveAtStart {
		t.Fatalf("status: %+v", st)
	}
	p.edge(t, in, gpio.High)
	if e := recvEdge(t, r.out); !e.Active || e.AtStart {
		t.Fatalf("opening edge = %+v", e)
	}
}

// What Prime reported is what Run starts from: a second Prime returns the
// same state, and a change that happens between Prime and Run is an edge.
func TestGPIOPrimeThenChangeBeforeRun(t *testing.T) {
	p := newFakePin("GPIO6")
	in, _ := openGPIO(t, sensors.Config{Kind: "contact", Pull: "down", ReportAtStart: true}, p)
	if active, err := in.Prime(); err != nil || active {
		t.Fatalf("Prime = %v, %v", active, err)
	}
	p.EdgesChan <- gpio.High // the door opens before Run starts; the kernel queues it
	if active, err := in.Prime(); err != nil || active {
		t.Fatalf("second Prime = %v, %v; want the first state", active, err)
	}
	r := start(t, in)
	if e := recvEdge(t, r.out); !e.Active || e.AtStart {
		t.Fatalf("edge = %+v, want the opening as a change", e)
	}
	noEdge(t, r.out)
}

// A second Run primes again: the first one released the pin.
func TestGPIORunAgainPrimesAgain(t *testing.T) {
	p := newFakePin("GPIO5")
	p.stale = []gpio.Level{gpio.High}
	in, _ := openGPIO(t, sensors.Config{Kind: "tamper", Pull: "down", ReportAtStart: true}, p)
	r := start(t, in)
	if e := recvEdge(t, r.out); !e.AtStart {
		t.Fatalf("first run: %+v", e)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	r = start(t, in)
	if e := recvEdge(t, r.out); !e.AtStart || !e.Active {
		t.Fatalf("second run: %+v", e)
	}
	if _, ins := p.calls(); len(ins) != 3 || ins[2] != gpio.BothEdges {
		t.Fatalf("In calls = %v, want the pin configured again", ins)
	}
}

type failingPin struct{ *fakePin }

func (failingPin) In(gpio.Pull, gpio.Edge) error { return errors.New("line busy") }

func TestGPIOPrimeError(t *testing.T) {
	p := failingPin{newFakePin("GPIO5")}
	in, err := sensors.Open(sensors.Config{Name: "hop-tu", Kind: "tamper", Driver: "gpio", Pin: "GPIO5"},
		sensors.Options{Clock: sensorstest.NewClock(base), Pins: &sensorstest.Pins{Map: map[string]gpio.PinIO{"GPIO5": p}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Prime()
	if err == nil {
		t.Fatal("Prime succeeded on a pin that cannot be configured")
	}
	for _, w := range []string{`"hop-tu"`, "GPIO5", "line busy"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestSimActiveAtStart(t *testing.T) {
	in, clk := openSim(t, sensors.Config{Name: "nut-bao-dong", Kind: "panic", Initial: true, ReportAtStart: true,
		Script: []sensors.Step{{At: 2 * time.Second, Active: false}}})
	if active, err := in.Prime(); err != nil || !active {
		t.Fatalf("Prime = %v, %v", active, err)
	}
	r := start(t, in)
	e := recvEdge(t, r.out)
	if !e.AtStart || !e.Active || e.Kind != "panic" || !e.Time.Equal(base) {
		t.Fatalf("first edge = %+v", e)
	}
	clk.Advance(2 * time.Second)
	if e := recvEdge(t, r.out); e.Active || e.AtStart || e.Mono != 2*time.Second {
		t.Fatalf("scripted release = %+v", e)
	}
}

func TestSimActiveAtStartNotReported(t *testing.T) {
	in, _ := openSim(t, sensors.Config{Initial: true, Every: time.Hour})
	r := start(t, in)
	if st := in.Status(); !st.Active || !st.ActiveAtStart {
		t.Fatalf("status: %+v", st)
	}
	noEdge(t, r.out)
	// A trigger to the same level is no change.
	if err := in.(sensors.Triggerer).Trigger(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "trigger counted", func() bool { return in.Status().RawEdges == 1 })
	noEdge(t, r.out)
}

func TestInitialOnlyForSim(t *testing.T) {
	err := sensors.Validate(sensors.Config{Name: "door", Kind: "contact", Driver: "gpio", Pin: "GPIO6", Initial: true})
	if err == nil || !strings.Contains(err.Error(), "initial") || !strings.Contains(err.Error(), `"door"`) {
		t.Fatalf("err = %v", err)
	}
}
