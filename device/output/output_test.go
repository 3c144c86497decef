package output_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/device/output/outputtest"
	"github.com/antt-gateway/antt/sensors/sensorstest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

// rig is one output on a gpiotest pin, run with a fake clock.
type rig struct {
	t       *testing.T
	clock   *sensorstest.Clock
	pin     *gpiotest.Pin
	out     *output.Output
	mu      sync.Mutex
	changes []output.Change
	cancel  context.CancelFunc
	done    chan error
}

type rigOpt struct {
	cfg       output.Config
	dir       string
	boot      *outputtest.Boot
	activeLow bool
	start     time.Time
}

func newRig(t *testing.T, ro rigOpt) *rig {
	t.Helper()
	if ro.start.IsZero() {
		ro.start = t0
	}
	r := &rig{t: t, clock: sensorstest.NewClock(ro.start), pin: &gpiotest.Pin{N: "GPIO27", L: gpio.High}}
	if ro.cfg.Name == "" {
		ro.cfg.Name = "siren"
	}
	boot := ro.boot
	if boot == nil {
		boot = &outputtest.Boot{BootID: "boot-a"}
	}
	boot.Clock = r.clock
	out, err := output.New(ro.cfg, output.NewGPIO(r.pin, ro.activeLow), output.Options{
		Clock: r.clock, Dir: ro.dir, Boot: boot,
		Logger: quiet,
		Notify: func(c output.Change) { r.mu.Lock(); r.changes = append(r.changes, c); r.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.out = out
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- out.Run(ctx) }()
	devtest.WaitFor(t, 5*time.Second, "output running", func() bool { return out.State().Loops > 0 })
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		r.t.Errorf("Run: %v", err)
	}
	r.cancel = nil
}

// high reports the pin's electrical level.
func (r *rig) high() bool { return r.pin.Read() == gpio.High }

func (r *rig) set(req output.Request) (output.State, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.out.Set(ctx, req)
}

// advance moves the fake clock by d in steps, waiting after each step that
// fired a timer until Run has handled it and armed the next one.
func (r *rig) advance(d, step time.Duration) {
	r.t.Helper()
	for d > 0 {
		s := min(step, d)
		loops := r.out.State().Loops
		if r.clock.Advance(s) > 0 {
			devtest.WaitFor(r.t, 5*time.Second, "output handled its timer", func() bool { return r.out.State().Loops > loops })
		}
		d -= s
	}
}

func (r *rig) lastChange() output.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.changes) == 0 {
		r.t.Fatal("no change reported")
	}
	return r.changes[len(r.changes)-1]
}

func (r *rig) nChanges() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.changes)
}

func TestActiveLevels(t *testing.T) {
	for _, low := range []bool{false, true} {
		r := newRig(t, rigOpt{activeLow: low})
		if r.high() != low {
			t.Fatalf("activeLow=%v: idle pin high=%v, want %v (switched off at start)", low, r.high(), low)
		}
		if _, err := r.set(output.Request{On: true, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if r.high() == low {
			t.Fatalf("activeLow=%v: on pin high=%v", low, r.high())
		}
		if _, err := r.set(output.Request{On: false, Reason: "done"}); err != nil {
			t.Fatal(err)
		}
		if r.high() != low {
			t.Fatalf("activeLow=%v: off pin high=%v", low, r.high())
		}
	}
}

func TestSteadyFor(t *testing.T) {
	r := newRig(t, rigOpt{})
	st, err := r.set(output.Request{On: true, For: 10 * time.Second, Reason: "command", User: "cb-lan"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.On || st.Pattern != "steady" || !st.Until.Equal(t0.Add(10*time.Second)) || !st.CutOffAt.Equal(t0.Add(output.DefaultMaxOn)) {
		t.Fatalf("state after on: %+v", st)
	}
	if c := r.lastChange(); !c.On || c.User != "cb-lan" || c.Reason != "command" {
		t.Fatalf("change: %+v", c)
	}
	r.advance(9900*time.Millisecond, 100*time.Millisecond)
	if !r.high() {
		t.Fatal("off before its time")
	}
	r.advance(100*time.Millisecond, 100*time.Millisecond)
	if r.high() {
		t.Fatal("still on after 10s")
	}
	if c := r.lastChange(); c.On || c.CutOff || c.Reason != "time over" {
		t.Fatalf("off change: %+v", c)
	}
	if r.clock.Timers() != 0 {
		t.Fatalf("%d timers left while off; an idle output must not wake up", r.clock.Timers())
	}
}

// levelsAt samples the pin every step for n steps.
func (r *rig) levelsAt(step time.Duration, n int) string {
	var b strings.Builder
	for range n {
		if r.high() {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
		r.advance(step, step)
	}
	return b.String()
}

func TestPulse(t *testing.T) {
	r := newRig(t, rigOpt{})
	p, err := output.ParsePattern("pulse 2Hz 25%")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.set(output.Request{On: true, Pattern: p, For: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// 2 Hz at 25 %: 125 ms on, 375 ms off, sampled every 125 ms for 2.5 s.
	got := r.levelsAt(125*time.Millisecond, 20)
	want := "1000" + "1000" + "1000" + "1000" + "0000"
	if got != want {
		t.Fatalf("pulse levels\n got %s\nwant %s", got, want)
	}
}

func TestChirps(t *testing.T) {
	for n, want := range map[int]string{
		1: "11" + "000000",
		2: "11" + "000" + "11" + "000000",
		3: "11" + "000" + "11" + "000" + "11" + "0000",
	} {
		r := newRig(t, rigOpt{})
		if _, err := r.set(output.Request{On: true, Pattern: output.Pattern{Kind: output.Chirp, Count: n}, Reason: "armed"}); err != nil {
			t.Fatal(err)
		}
		got := r.levelsAt(50*time.Millisecond, len(want))
		if got != want {
			t.Fatalf("%d chirps, levels every 50ms\n got %s\nwant %s", n, got, want)
		}
		if c := r.lastChange(); c.On || c.Reason != "chirp done" {
			t.Fatalf("%d chirps: last change %+v", n, c)
		}
	}
}

// A stuck caller (a rule that keeps asking for the siren) gets max_on, then
// the output rests and refuses, then it may sound again.
func TestCutOffAgainstStuckCaller(t *testing.T) {
	r := newRig(t, rigOpt{cfg: output.Config{Name: "siren", MaxOn: time.Minute, Rest: 2 * time.Minute}})
	var refused int
	var onFor time.Duration
	for i := range 8 * 60 / 5 { // every 5 s for 8 minutes
		_, err := r.set(output.Request{On: true, For: time.Hour, Reason: "stuck rule"})
		switch {
		case err == nil:
		case errors.Is(err, output.ErrResting), errors.Is(err, output.ErrLockedOut):
			refused++
			if !strings.Contains(err.Error(), `output "siren"`) {
				t.Fatalf("refusal does not name the output: %v", err)
			}
		default:
			t.Fatalf("step %d: %v", i, err)
		}
		for range 5 {
			if r.high() {
				onFor += time.Second
			}
			r.advance(time.Second, time.Second)
		}
	}
	// 8 minutes = on 1 + rest 2, on 1 + rest 2, on 1 + locked out: three
	// cut-offs, the third locking it out.
	if onFor != 3*time.Minute {
		t.Fatalf("on for %s in 8 minutes, want 3m0s (1m on, 2m rest)", onFor)
	}
	st := r.out.State()
	if st.CutOffs != 3 || refused == 0 || st.Refused != uint64(refused) {
		t.Fatalf("cut-offs %d (want 3), refused %d/%d", st.CutOffs, refused, st.Refused)
	}
}

func TestForNeverPastCutOff(t *testing.T) {
	r := newRig(t, rigOpt{cfg: output.Config{Name: "strobe", MaxOn: 30 * time.Second}})
	if _, err := r.set(output.Request{On: true, For: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r.advance(15*time.Second, time.Second)
	// A second request may extend the activation but never its cut-off.
	st, err := r.set(output.Request{On: true, For: 10 * time.Minute, Pattern: output.Pattern{Kind: output.Pulse}})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Until.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("until %s, want the cut-off %s", st.Until, t0.Add(30*time.Second))
	}
	r.advance(15*time.Second, 500*time.Millisecond)
	if r.high() || r.out.State().On {
		t.Fatal("on past its cut-off")
	}
	if c := r.lastChange(); !c.CutOff {
		t.Fatalf("last change %+v, want a cut-off", c)
	}
}

func TestBadRequests(t *testing.T) {
	r := newRig(t, rigOpt{})
	for _, tc := range []struct {
		req  output.Request
		want string
	}{
		{output.Request{On: true, For: -time.Second}, "seconds: must not be negative"},
		{output.Request{On: true, Pattern: output.Pattern{Kind: "disco"}}, `"disco" is not one of`},
		{output.Request{On: true, Pattern: output.Pattern{Kind: output.Pulse, Hz: 100}}, "frequency 100 Hz"},
		{output.Request{On: true, Pattern: output.Pattern{Kind: output.Chirp, Count: 50}}, "count 50"},
	} {
		_, err := r.set(tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.req, err, tc.want)
		}
	}
	if r.high() || r.nChanges() != 0 {
		t.Fatal("a refused request changed the output")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  output.Config
		want string
	}{
		{output.Config{Name: "siren", MaxOn: 16 * time.Minute}, "hard ceiling 15m0s"},
		{output.Config{Name: "siren", MaxOn: -1}, "max_on"},
		{output.Config{Name: "Siren"}, "name"},
		{output.Config{Name: "siren", MaxOn: time.Millisecond}, "shorter than 1s"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
		if _, err := output.New(tc.cfg, &outputtest.Line{}, output.Options{}); err == nil {
			t.Errorf("New accepted %+v", tc.cfg)
		}
	}
	if err := (output.Config{Name: "siren", MaxOn: output.HardMaxOn}).Validate(); err != nil {
		t.Fatal(err)
	}
}

// A reboot in the middle of an alarm: the siren is not re-sounded at start,
// and an on request afterwards still ends at the first activation's cut-off.
func TestRestartInTheMiddle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sameBoot bool
		wallStep time.Duration // how far the wall clock moved during the restart
		left     time.Duration // what remains of the activation after it
	}{
		// A process restart (same kernel boot) while NTP sets the wall clock
		// an hour back: the boot clock decides.
		{"process restart, wall clock set back", true, -time.Hour, 2*time.Minute - 10*time.Second},
		// A reboot: only the wall clock can tell.
		{"reboot", false, 70 * time.Second, 50 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := output.Config{Name: "siren", MaxOn: 3 * time.Minute}
			a := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: &outputtest.Boot{BootID: "boot-a", Offset: time.Hour}})
			if _, err := a.set(output.Request{On: true, Reason: "alarm: gate-door"}); err != nil {
				t.Fatal(err)
			}
			a.advance(time.Minute, 10*time.Second)
			// Power cut: the process dies with the siren on (the pin is
			// dropped, nothing is switched off by the code).
			killed := a.clock.Now()
			a.cancel = nil

			boot := &outputtest.Boot{BootID: "boot-b", Offset: 20 * time.Second}
			if tc.sameBoot {
				// the boot clock moved on by 10 s while the process restarted
				boot = &outputtest.Boot{BootID: "boot-a", Offset: time.Hour + time.Minute + 10*time.Second}
			}
			b := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: boot, start: killed.Add(tc.wallStep)})
			if b.high() || b.out.State().On {
				t.Fatal("the restarted output sounds by itself")
			}
			c := b.lastChange()
			if c.On || !strings.Contains(c.Reason, "restarted during an activation (alarm: gate-door)") || !strings.Contains(c.Reason, "not resumed") {
				t.Fatalf("start change %+v", c)
			}
			st, err := b.set(output.Request{On: true, Reason: "stuck rule"})
			if err != nil {
				t.Fatal(err)
			}
			if got := st.CutOffAt.Sub(b.clock.Now()); got != tc.left {
				t.Fatalf("cut-off in %s after the restart, want %s", got, tc.left)
			}
			b.advance(tc.left-time.Second, time.Second)
			if !b.high() {
				t.Fatal("off before the carried cut-off")
			}
			b.advance(time.Second, time.Second)
			if b.high() {
				t.Fatal("on past the first activation's cut-off")
			}
		})
	}
}

// The process dies with the siren on and comes back after its cut-off: it
// counts as cut off, so a crash loop with a stuck rule cannot go on.
func TestRestartAfterCutOffRests(t *testing.T) {
	dir := t.TempDir()
	cfg := output.Config{Name: "siren", MaxOn: time.Minute, Rest: time.Minute}
	a := newRig(t, rigOpt{cfg: cfg, dir: dir})
	if _, err := a.set(output.Request{On: true, Reason: "rule"}); err != nil {
		t.Fatal(err)
	}
	a.advance(50*time.Second, 10*time.Second)
	a.cancel = nil
	// Back 30 s later on the same boot: the cut-off passed 20 s ago.
	b := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: &outputtest.Boot{BootID: "boot-a", Offset: 80 * time.Second}, start: t0.Add(80 * time.Second)})
	if c := b.lastChange(); !c.CutOff || !strings.Contains(c.Reason, "counted as a cut-off") {
		t.Fatalf("start change %+v", c)
	}
	if _, err := b.set(output.Request{On: true}); !errors.Is(err, output.ErrResting) {
		t.Fatalf("on right after the restart: %v, want ErrResting", err)
	}
	b.advance(40*time.Second, 10*time.Second) // rest ends 60 s after the cut-off
	if _, err := b.set(output.Request{On: true}); err != nil {
		t.Fatalf("on after the rest: %v", err)
	}
	// And a restart during the rest keeps resting.
	b.advance(61*time.Second, time.Second) // cut off again, rest until +60 s
	b.cancel()
	<-b.done
	b.cancel = nil
	c := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: &outputtest.Boot{BootID: "boot-a", Offset: 80*time.Second + 101*time.Second + 5*time.Second}, start: t0.Add(186 * time.Second)})
	if _, err := c.set(output.Request{On: true}); !errors.Is(err, output.ErrResting) {
		t.Fatalf("on during a rest carried over a restart: %v, want ErrResting", err)
	}
}

// A reboot on a board without RTC: the wall clock reads before the record
// was written, so how long the siren sounded cannot be known; the output
// counts the activation as cut off and rests (the conservative side of
// "never past its cut-off").
func TestRebootWithClockBehindRests(t *testing.T) {
	dir := t.TempDir()
	cfg := output.Config{Name: "siren", MaxOn: time.Minute, Rest: time.Minute}
	a := newRig(t, rigOpt{cfg: cfg, dir: dir})
	if _, err := a.set(output.Request{On: true, Reason: "alarm"}); err != nil {
		t.Fatal(err)
	}
	a.cancel = nil
	b := newRig(t, rigOpt{cfg: cfg, dir: dir, boot: &outputtest.Boot{BootID: "boot-b"}, start: time.Date(1970, 1, 1, 0, 0, 30, 0, time.UTC)})
	if c := b.lastChange(); !c.CutOff {
		t.Fatalf("start change %+v", c)
	}
	if _, err := b.set(output.Request{On: true}); !errors.Is(err, output.ErrResting) {
		t.Fatalf("on with an unknown time since the activation: %v", err)
	}
	b.advance(time.Minute, 10*time.Second)
	if _, err := b.set(output.Request{On: true}); err != nil {
		t.Fatalf("on after the rest: %v", err)
	}
}

func TestDamagedRecordRests(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "output-siren.json"), []byte("{\"on\":tr"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, rigOpt{dir: dir})
	st := r.out.State()
	if !strings.Contains(st.LastError, "output-siren.json") || st.RestingUntil.IsZero() {
		t.Fatalf("state with a damaged record: %+v", st)
	}
	if _, err := r.set(output.Request{On: true}); !errors.Is(err, output.ErrResting) {
		t.Fatalf("on with a damaged record: %v", err)
	}
}

// A line that fails still reports the change and the error; the cut-off
// still switches it (tries to) off.
func TestLineError(t *testing.T) {
	clock := sensorstest.NewClock(t0)
	line := &outputtest.Line{Name: "relay"}
	o, err := output.New(output.Config{Name: "relay", MaxOn: time.Second}, line, output.Options{Clock: clock, Boot: &outputtest.Boot{Clock: clock}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	defer func() { cancel(); <-done }()
	line.Fail(errors.New("EIO"))
	if _, err := o.Set(ctx, output.Request{On: true}); err != nil {
		t.Fatal(err)
	}
	if st := o.State(); !strings.Contains(st.LastError, "EIO") {
		t.Fatalf("state %+v", st)
	}
	loops := o.State().Loops
	clock.Advance(time.Second)
	devtest.WaitFor(t, 5*time.Second, "cut-off handled", func() bool { return o.State().Loops > loops })
	if lv := line.Levels(); len(lv) != 3 || lv[2] {
		t.Fatalf("levels %v, want off, on, off", lv)
	}
}

func TestSim(t *testing.T) {
	s := output.NewSim("siren", nil)
	s.Set(true)
	s.Set(true)
	s.Set(false)
	if s.Level() || s.Changes() != 2 || s.String() != "sim:siren" {
		t.Fatalf("sim: level %v changes %d", s.Level(), s.Changes())
	}
}

func TestOpenGPIO(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO27", L: gpio.High}
	pins := &sensorstest.Pins{Map: map[string]gpio.PinIO{"GPIO27": pin}}
	if _, err := output.OpenGPIO(pins, "GPIO5", false); err == nil || !strings.Contains(err.Error(), `"GPIO5": not found`) {
		t.Fatalf("missing pin: %v", err)
	}
	g, err := output.OpenGPIO(pins, "GPIO27", false)
	if err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.Low || g.String() != "GPIO27" {
		t.Fatal("OpenGPIO did not switch the line off")
	}
}

func TestBank(t *testing.T) {
	r := newRig(t, rigOpt{})
	b := output.Bank{"siren": r.out}
	if err := b.Set(context.Background(), "horn", output.Request{On: true}); err == nil || !strings.Contains(err.Error(), `"horn": no such output`) {
		t.Fatalf("unknown output: %v", err)
	}
	if err := b.Set(context.Background(), "siren", output.Request{On: true}); err != nil || !r.high() {
		t.Fatalf("bank set: %v", err)
	}
}
