package sensors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/sensors/sensorstest"
)

func openSim(t *testing.T, cfg sensors.Config) (sensors.Input, *sensorstest.Clock) {
	t.Helper()
	clk := sensorstest.NewClock(base)
	cfg.Driver = sensors.DriverSim
	if cfg.Name == "" {
		cfg.Name = "demo-pir"
	}
	if cfg.Kind == "" {
		cfg.Kind = "motion"
	}
	in, err := sensors.Open(cfg, sensors.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return in, clk
}

type simEdge struct {
	at     time.Duration
	active bool
}

// expectEdges receives the wanted edges, checks their states and instants,
// and checks that no other edge was reported.
func expectEdges(t *testing.T, r *running, want []simEdge) {
	t.Helper()
	for i, w := range want {
		e := recvEdge(t, r.out)
		if e.Active != w.active || e.Mono != w.at || !e.Time.Equal(base.Add(w.at)) || e.Sensor != r.in.Name() {
			t.Fatalf("edge %d = %+v, want active=%v at +%v", i, e, w.active, w.at)
		}
	}
	waitFor(t, "edges counted", func() bool { return r.in.Status().Edges == uint64(len(want)) })
	noEdge(t, r.out)
}

func TestSimPeriodic(t *testing.T) {
	in, clk := openSim(t, sensors.Config{Every: 20 * time.Second})
	r := start(t, in)
	clk.Advance(19 * time.Second)
	noEdge(t, r.out)
	clk.Advance(41 * time.Second) // to +60s, in one jump: the schedule is absolute
	expectEdges(t, r, []simEdge{
		{20 * time.Second, true}, {21 * time.Second, false},
		{40 * time.Second, true}, {41 * time.Second, false},
		{60 * time.Second, true},
	})
}

func TestSimPeriodicShortPulse(t *testing.T) {
	in, clk := openSim(t, sensors.Config{Every: time.Second})
	r := start(t, in)
	clk.Advance(2 * time.Second)
	expectEdges(t, r, []simEdge{
		{time.Second, true}, {1500 * time.Millisecond, false}, {2 * time.Second, true},
	})
}

func TestSimScript(t *testing.T) {
	in, clk := openSim(t, sensors.Config{Script: []sensors.Step{
		{At: time.Second, Active: true},
		{At: 1500 * time.Millisecond, Active: false},
		{At: 3 * time.Second, Active: true},
		{At: 3 * time.Second, Active: true}, // no change, no edge
		{At: 4 * time.Second, Active: false},
	}})
	r := start(t, in)
	clk.Advance(time.Hour)
	expectEdges(t, r, []simEdge{
		{time.Second, true}, {1500 * time.Millisecond, false},
		{3 * time.Second, true}, {4 * time.Second, false},
	})
}

func TestSimScriptDebounceAndHold(t *testing.T) {
	in, clk := openSim(t, sensors.Config{
		Debounce: 100 * time.Millisecond, Hold: 5 * time.Second,
		Script: []sensors.Step{
			{At: time.Second, Active: true}, {At: 1050 * time.Millisecond, Active: false}, // glitch
			{At: 2 * time.Second, Active: true}, {At: 3 * time.Second, Active: false}, // held until +7s
		},
	})
	r := start(t, in)
	// Advance to each instant and let the input catch up before the next,
	// so a debounce window never closes before the raw edge that ends it.
	for _, s := range []struct {
		to       time.Duration
		raw, gli uint64
	}{
		{time.Second, 1, 0}, {1050 * time.Millisecond, 2, 0}, {1150 * time.Millisecond, 2, 1},
		{2 * time.Second, 3, 1}, {2100 * time.Millisecond, 3, 1}, {3 * time.Second, 4, 1},
		{3100 * time.Millisecond, 4, 1}, {10 * time.Second, 4, 1},
	} {
		step(t, clk, in, s.to-clk.Uptime())
		waitFor(t, "raw edges and glitches", func() bool {
			st := in.Status()
			return st.RawEdges == s.raw && st.Glitches == s.gli
		})
	}
	expectEdges(t, r, []simEdge{{2 * time.Second, true}, {7 * time.Second, false}})
	if st := in.Status(); st.Glitches != 1 || st.RawEdges != 4 {
		t.Fatalf("status = %+v", st)
	}
}

func TestSimTrigger(t *testing.T) {
	in, clk := openSim(t, sensors.Config{Hold: 2 * time.Second})
	tr, ok := in.(sensors.Triggerer)
	if !ok {
		t.Fatal("sim input is not a Triggerer")
	}
	if err := tr.Trigger(true); !errors.Is(err, sensors.ErrNotRunning) {
		t.Fatalf("Trigger before Run = %v, want ErrNotRunning", err)
	}
	r := start(t, in)
	clk.Advance(time.Minute)
	if err := tr.Trigger(true); err != nil {
		t.Fatal(err)
	}
	if err := tr.Trigger(false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "triggers seen", func() bool { return in.Status().RawEdges == 2 })
	if err := tr.Trigger(true); err != nil { // absorbed by hold
		t.Fatal(err)
	}
	if err := tr.Trigger(false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "triggers seen", func() bool { return in.Status().RawEdges == 4 })
	step(t, clk, in, 2*time.Second)
	expectEdges(t, r, []simEdge{{time.Minute, true}, {time.Minute + 2*time.Second, false}})
	if st := in.Status(); st.Suppressed != 1 {
		t.Fatalf("suppressed = %d, want 1", st.Suppressed)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := tr.Trigger(true); !errors.Is(err, sensors.ErrNotRunning) {
		t.Fatalf("Trigger after Run = %v, want ErrNotRunning", err)
	}
}
