package alarm_test

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

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/device/output/outputtest"
	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/sensors/sensorstest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

var quiet = slog.New(slog.DiscardHandler)

var t0 = time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)

// site is a board: the alarm logic driving outputs on gpiotest pins, with a
// fake clock, its state in a directory.
type site struct {
	t     *testing.T
	clock *sensorstest.Clock
	pins  map[string]*gpiotest.Pin
	outs  output.Bank
	alarm *alarm.Alarm

	mu     sync.Mutex
	events []alarm.Event

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type siteOpt struct {
	cfg    alarm.Config
	outs   []output.Config
	dir    string
	store  alarm.Store
	start  time.Time
	boot   string
	uptime time.Duration // kernel uptime when the process starts
	prime  map[string]bool
	check  func(alarm.Event) // called as each alarm event is reported
}

func gateCfg() alarm.Config {
	return alarm.Config{
		Sensors: []alarm.Sensor{
			{Name: "gate-door", Kind: "contact", Modes: []string{alarm.Away, alarm.Night}, EntryDelay: 30 * time.Second},
			{Name: "hall-pir", Kind: "motion", Modes: []string{alarm.Away, alarm.Night}},
			{Name: "yard-pir", Kind: "motion", Modes: []string{alarm.Away, alarm.Night}},
			{Name: "box-tamper", Kind: "tamper", Always: true},
		},
		Trigger: []alarm.Use{{Output: "siren"}, {Output: "strobe"}},
	}
}

func startSite(t *testing.T, so siteOpt) *site {
	t.Helper()
	if so.start.IsZero() {
		so.start = t0
	}
	if so.dir == "" {
		so.dir = t.TempDir()
	}
	if so.store == nil {
		so.store = alarm.FileStore{Path: filepath.Join(so.dir, "alarm.json")}
	}
	if so.boot == "" {
		so.boot = "boot-1"
	}
	if so.outs == nil {
		so.outs = []output.Config{{Name: "siren", MaxOn: 3 * time.Minute}, {Name: "strobe", MaxOn: 10 * time.Minute}}
	}
	s := &site{t: t, clock: sensorstest.NewClock(so.start), pins: map[string]*gpiotest.Pin{}, outs: output.Bank{}}
	for _, oc := range so.outs {
		pin := &gpiotest.Pin{N: oc.Name}
		s.pins[oc.Name] = pin
		o, err := output.New(oc, output.NewGPIO(pin, false), output.Options{
			Clock: s.clock, Dir: so.dir, Logger: quiet,
			Boot:   &outputtest.Boot{BootID: so.boot, Clock: s.clock, Offset: so.uptime},
			Notify: func(c output.Change) { s.add(alarm.OutputEvent(c)) },
		})
		if err != nil {
			t.Fatal(err)
		}
		s.outs[oc.Name] = o
	}
	events := s.add
	if so.check != nil {
		events = func(e alarm.Event) { so.check(e); s.add(e) }
	}
	a, err := alarm.New(so.cfg, alarm.Options{Clock: s.clock, Store: so.store, Outputs: s.outs, Known: s.outs.Has, Events: events, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for name, active := range so.prime {
		if err := a.Prime(name, active); err != nil {
			t.Fatal(err)
		}
	}
	s.alarm = a
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for _, o := range s.outs {
		s.wg.Go(func() {
			if err := o.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	s.wg.Go(func() {
		if err := a.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	devtest.WaitFor(t, 5*time.Second, "site running", func() bool { return s.loops() >= uint64(len(s.outs))+1 })
	t.Cleanup(s.stop)
	return s
}

func (s *site) stop() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
		s.cancel = nil
	}
}

func (s *site) add(e alarm.Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

// taken returns the events since the last call.
func (s *site) taken() []alarm.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.events
	s.events = nil
	return e
}

func (s *site) loops() uint64 {
	n := s.alarm.Loops()
	for _, o := range s.outs {
		n += o.State().Loops
	}
	return n
}

// settled reports that no deadline that is due is still unhandled: each
// owner publishes its state after handling its timer, so a state whose
// deadline has passed is one not handled yet.
func (s *site) settled() bool {
	now := s.clock.Now()
	due := func(t time.Time) bool { return !t.IsZero() && !t.After(now) }
	if st := s.alarm.Status(); due(st.Until) || due(st.NextSchedule) {
		return false
	}
	for _, o := range s.outs {
		if st := o.State(); st.On && due(st.Until) {
			return false
		}
	}
	return true
}

func (s *site) high(name string) bool { return s.pins[name].Read() == gpio.High }

// advance moves the fake clock by d in steps; after a step that fired
// timers it waits until their owners handled them.
func (s *site) advance(d, step time.Duration) {
	s.t.Helper()
	for d > 0 {
		st := min(step, d)
		before := s.loops()
		if n := s.clock.Advance(st); n > 0 {
			devtest.WaitFor(s.t, 5*time.Second, "timers handled", func() bool { return s.loops() >= before+uint64(n) && s.settled() })
		}
		d -= st
	}
}

// onFor advances by d in 1 s steps and returns how long the output was on.
func (s *site) onFor(name string, d time.Duration) time.Duration {
	var on time.Duration
	for range int(d / time.Second) {
		if s.high(name) {
			on += time.Second
		}
		s.advance(time.Second, time.Second)
	}
	return on
}

func (s *site) input(name string, active bool) {
	s.t.Helper()
	if err := s.alarm.Input(context.Background(), sensors.Edge{Sensor: name, Active: active}); err != nil {
		s.t.Fatal(err)
	}
}

func has(evs []alarm.Event, kind, source, state string) *alarm.Event {
	for i := range evs {
		if evs[i].Kind == kind && evs[i].Source == source && evs[i].State == state {
			return &evs[i]
		}
	}
	return nil
}

var officer = alarm.Origin{By: alarm.ByStation, User: "cb-lan", Reason: "đêm"}

// The whole path on the board: an armed intrusion drives the siren line
// after the entry delay and releases it at the trigger time, and the mode
// is on disk before its event is reported.
func TestSirenOnTheBoard(t *testing.T) {
	dir := t.TempDir()
	store := alarm.FileStore{Path: filepath.Join(dir, "alarm.json")}
	var late []string
	s := startSite(t, siteOpt{cfg: gateCfg(), dir: dir, store: store, check: func(e alarm.Event) {
		// Runs as each event is reported: its mode must be on disk already.
		if st, err := store.Load(); e.Kind == alarm.KindMode && (err != nil || st.Mode != e.State) {
			late = append(late, e.State)
		}
	}})
	if err := s.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	if e := has(s.taken(), alarm.KindMode, alarm.Night, alarm.Night); e == nil || e.User != "cb-lan" {
		t.Fatalf("mode event: %+v", e)
	}
	s.input("gate-door", true)
	s.advance(29*time.Second, time.Second)
	if s.high("siren") {
		t.Fatal("siren during the entry delay")
	}
	s.advance(time.Second, time.Second)
	if !s.high("siren") || !s.high("strobe") {
		t.Fatal("no siren after the entry delay")
	}
	evs := s.taken()
	if has(evs, alarm.KindAlarm, "gate-door", alarm.Triggered) == nil || has(evs, alarm.KindOutput, "siren", "on") == nil {
		t.Fatalf("events %+v", evs)
	}
	if on := s.onFor("siren", 4*time.Minute); on != 3*time.Minute {
		t.Fatalf("siren on for %s, want the trigger time 3m", on)
	}
	if st := s.alarm.Status(); st.Mode != alarm.Night || st.Phase != "armed" || st.Bypassed["gate-door"] != alarm.BypassTrigger {
		t.Fatalf("after the alarm: %+v", st)
	}
	s.stop()
	if len(late) > 0 {
		t.Fatalf("mode events reported before the mode was stored: %q", late)
	}
}

// The output's cut-off bounds the alarm: a trigger time longer than the
// siren's max_on cannot keep it on.
func TestTriggerTimeBoundedByMaxOn(t *testing.T) {
	cfg := gateCfg()
	cfg.TriggerTime = 10 * time.Minute
	s := startSite(t, siteOpt{cfg: cfg, outs: []output.Config{{Name: "siren", MaxOn: time.Minute}, {Name: "strobe", MaxOn: 15 * time.Minute}}})
	if err := s.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	s.input("hall-pir", true)
	var siren, strobe time.Duration
	for range 11 * 60 {
		if s.high("siren") {
			siren += time.Second
		}
		if s.high("strobe") {
			strobe += time.Second
		}
		s.advance(time.Second, time.Second)
	}
	if siren != time.Minute || strobe != 10*time.Minute {
		t.Fatalf("siren on %s (max_on 1m), strobe on %s (trigger time 10m)", siren, strobe)
	}
	if e := has(s.taken(), alarm.KindOutput, "siren", "off"); e == nil || e.Attrs["cut_off"] != true {
		t.Fatalf("siren cut-off event: %+v", e)
	}
}

// A reboot in the middle of an alarm: the mode comes back, the siren does
// not re-sound, and a new alarm right after still ends at the first
// activation's cut-off.
func TestRebootInTheMiddleOfAnAlarm(t *testing.T) {
	dir := t.TempDir()
	a := startSite(t, siteOpt{cfg: gateCfg(), dir: dir, uptime: time.Hour})
	if err := a.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	a.input("hall-pir", true)
	if !a.high("siren") {
		t.Fatal("no siren")
	}
	a.advance(time.Minute, time.Second)
	cut := a.clock.Now()
	a.stop() // the gateway dies; the board reboots

	b := startSite(t, siteOpt{cfg: gateCfg(), dir: dir, boot: "boot-2", start: cut.Add(20 * time.Second), prime: map[string]bool{"hall-pir": true}})
	if st := b.alarm.Status(); st.Mode != alarm.Night || st.Origin.User != "cb-lan" {
		t.Fatalf("mode after the reboot: %+v", st)
	}
	if b.high("siren") || b.high("strobe") {
		t.Fatal("the siren re-sounded at start")
	}
	evs := b.taken()
	if e := has(evs, alarm.KindOutput, "siren", "off"); e == nil || !strings.Contains(e.Reason, "not resumed") {
		t.Fatalf("restart event: %+v", evs)
	}
	// Someone else trips the yard PIR 10 s later: it sounds again, but only
	// until the first activation's cut-off (3m after it began).
	b.advance(10*time.Second, time.Second)
	b.input("yard-pir", true)
	if on := b.onFor("siren", 3*time.Minute); on != 3*time.Minute-time.Minute-30*time.Second {
		t.Fatalf("siren on %s after the reboot, want 1m30s (its cut-off kept)", on)
	}
}

func TestModePersists(t *testing.T) {
	dir := t.TempDir()
	a := startSite(t, siteOpt{cfg: gateCfg(), dir: dir})
	if err := a.alarm.Arm(context.Background(), alarm.Away, officer); err != nil {
		t.Fatal(err)
	}
	if err := a.alarm.Bypass(context.Background(), "yard-pir", true, officer); err != nil {
		t.Fatal(err)
	}
	a.stop()
	b := startSite(t, siteOpt{cfg: gateCfg(), dir: dir})
	st := b.alarm.Status()
	if st.Mode != alarm.Away || st.Origin != officer || st.Bypassed["yard-pir"] != alarm.BypassManual || st.Phase != "armed" {
		t.Fatalf("restored %+v", st)
	}
	// A damaged state file: moved aside, started disarmed, reported.
	b.stop()
	path := filepath.Join(dir, "alarm.json")
	if err := os.WriteFile(path, []byte(`{"mode":"aw`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startSite(t, siteOpt{cfg: gateCfg(), dir: dir})
	if st := c.alarm.Status(); st.Mode != alarm.Disarmed {
		t.Fatalf("mode with a damaged file: %s", st.Mode)
	}
	if e := has(c.taken(), alarm.KindTrouble, "alarm", "active"); e == nil || !strings.Contains(e.Reason, "started disarmed") || !strings.Contains(e.Reason, "moved aside") {
		t.Fatalf("trouble event %+v", e)
	}
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged file not kept aside: %v", aside)
	}
}

// A failing store never keeps the siren silent; the events say the state
// was not saved.
func TestStoreFailureStillSounds(t *testing.T) {
	store := &alarm.MemStore{Err: errors.New("read-only file system")}
	s := startSite(t, siteOpt{cfg: gateCfg(), store: store})
	if err := s.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	if e := has(s.taken(), alarm.KindMode, alarm.Night, alarm.Night); e == nil || !strings.Contains(e.Attrs["store_error"].(string), "read-only") {
		t.Fatalf("mode event %+v", e)
	}
	s.input("hall-pir", true)
	if !s.high("siren") {
		t.Fatal("no siren with a failing store")
	}
}

// Idle costs nothing: no timer while nothing is due, one for the next
// schedule entry, and a day passes with only the schedule's wake-ups.
func TestIdleWakeUps(t *testing.T) {
	s := startSite(t, siteOpt{cfg: gateCfg()})
	if err := s.alarm.Arm(context.Background(), alarm.Away, officer); err != nil {
		t.Fatal(err)
	}
	s.advance(30*time.Second, 30*time.Second) // exit delay
	if n := s.clock.Timers(); n != 0 {
		t.Fatalf("%d timers while armed and idle", n)
	}
	cfg := gateCfg()
	cfg.Schedule.Entries = []alarm.Entry{{Days: []string{"every"}, At: "22:00", Mode: alarm.Night}, {Days: []string{"every"}, At: "05:00", Mode: alarm.Disarmed}}
	g := startSite(t, siteOpt{cfg: cfg, store: &alarm.MemStore{}})
	g.advance(time.Second, time.Second) // the fresh install takes now as its start
	if n := g.clock.Timers(); n != 1 {
		t.Fatalf("%d timers with a schedule, want 1", n)
	}
	fired := 0
	for range 24 {
		before := g.loops()
		n := g.clock.Advance(time.Hour)
		if n > 0 {
			devtest.WaitFor(t, 5*time.Second, "schedule handled", func() bool { return g.loops() >= before+uint64(n) && g.settled() })
		}
		fired += n
	}
	if fired != 2 {
		t.Fatalf("%d wake-ups in a day, want 2 (22:00 and 05:00)", fired)
	}
	if has(g.taken(), alarm.KindMode, alarm.Night, alarm.Night) == nil {
		t.Fatal("the schedule did not arm")
	}
}

func TestOutputTestPulse(t *testing.T) {
	s := startSite(t, siteOpt{cfg: gateCfg()})
	installer := alarm.Origin{By: alarm.ByInstaller, User: "tho"}
	if err := s.alarm.TestOutput(context.Background(), "strobe", installer); err != nil {
		t.Fatal(err)
	}
	if !s.high("strobe") {
		t.Fatal("strobe not on")
	}
	if e := has(s.taken(), alarm.KindOutput, "strobe", "on"); e == nil || !e.Test {
		t.Fatalf("output test event %+v", e)
	}
	s.advance(time.Second, 500*time.Millisecond)
	if s.high("strobe") {
		t.Fatal("strobe on after its 1 s test")
	}
	if err := s.alarm.TestOutput(context.Background(), "horn", installer); err == nil || !strings.Contains(err.Error(), `"horn"`) {
		t.Fatalf("unknown output: %v", err)
	}
	if e := has(s.taken(), alarm.KindOutput, "horn", "failed"); e == nil {
		t.Fatal("no failed event")
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := alarm.New(gateCfg(), alarm.Options{}); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Fatalf("no store: %v", err)
	}
	cfg := gateCfg()
	cfg.Trigger = []alarm.Use{{Output: "horn"}}
	if _, err := alarm.New(cfg, alarm.Options{Store: &alarm.MemStore{}, Known: output.Bank{}.Has}); err == nil || !strings.Contains(err.Error(), `unknown output "horn"`) {
		t.Fatalf("unknown output: %v", err)
	}
	if _, err := alarm.New(gateCfg(), alarm.Options{Store: &alarm.MemStore{}, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
}

func TestWireFields(t *testing.T) {
	e := alarm.Event{Kind: alarm.KindMode, Source: "night", State: "night", By: alarm.ByStation, User: "cb-lan", Reason: "đêm", Attrs: map[string]any{"from": "disarmed"}}
	kind, source, state, attrs := e.WireFields()
	if kind != "mode" || source != "night" || state != "night" || attrs["by"] != "station" || attrs["user"] != "cb-lan" || attrs["reason"] != "đêm" || attrs["from"] != "disarmed" {
		t.Fatalf("%s %s %s %v", kind, source, state, attrs)
	}
	if _, ok := e.Attrs["by"]; ok {
		t.Fatal("WireFields changed the event's attrs")
	}
}
