package alarm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/output"
)

// sim drives a Machine through simulated time: every deadline the machine
// asks for is ticked at its own instant.
type sim struct {
	t       *testing.T
	m       *Machine
	now     Instant
	events  []Event
	actions []Action
	saves   int
}

var start = time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC) // a Tuesday

func siren() []Use {
	return []Use{{Output: "siren"}, {Output: "strobe", Pattern: output.Pattern{Kind: output.Pulse, Hz: 2, Duty: 0.5}}}
}

// school is the configuration most tests use.
func school() Config {
	return Config{
		Modes: []Mode{{Name: Away, ExitDelay: 30 * time.Second}, {Name: "holiday", ExitDelay: 10 * time.Second}},
		Sensors: []Sensor{
			{Name: "gate-door", Kind: "contact", Modes: []string{Away, Night, "holiday"}, EntryDelay: 30 * time.Second, Chime: true},
			{Name: "hall-pir", Kind: "motion", Modes: []string{Away, Night, "holiday"}},
			{Name: "yard-pir", Kind: "motion", Modes: []string{Away}},
			{Name: "window", Kind: "contact", Modes: []string{Away, Night, Home}, AutoBypass: true},
			{Name: "box-tamper", Kind: "tamper", Always: true},
			{Name: "panic", Kind: "panic", Always: true, Silent: true},
			{Name: "key", Kind: KindKeyswitch, Keyswitch: Away},
		},
		Trigger:  siren(),
		Chime:    []Use{{Output: "buzzer"}},
		Feedback: &Feedback{Output: "buzzer"},
	}
}

func newSim(t *testing.T, cfg Config, st State, at time.Time) *sim {
	t.Helper()
	now := Instant{Wall: at, Mono: time.Hour, Synced: true}
	m, err := NewMachine(cfg, nil, st, now)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{t: t, m: m, now: now}
}

func (s *sim) take(e Effects) {
	if e.Save {
		s.saves++
	}
	s.events = append(s.events, e.Events...)
	s.actions = append(s.actions, e.Actions...)
}

// advance moves time by d, ticking every deadline on the way.
func (s *sim) advance(d time.Duration) {
	s.t.Helper()
	end := s.now.Mono + d
	for range 10000 {
		mono, mok, wall, wok := s.m.Next()
		next, ok := time.Duration(0), false
		if mok {
			next, ok = mono, true
		}
		if wok {
			if w := s.now.Mono + wall.Sub(s.now.Wall); !ok || w < next {
				next, ok = w, true
			}
		}
		if !ok || next > end {
			break
		}
		next = max(next, s.now.Mono)
		s.now = Instant{Wall: s.now.Wall.Add(next - s.now.Mono), Mono: next, Synced: s.now.Synced}
		s.take(s.m.Tick(s.now))
	}
	s.now = Instant{Wall: s.now.Wall.Add(end - s.now.Mono), Mono: end, Synced: s.now.Synced}
}

func (s *sim) input(name string, active bool) {
	s.t.Helper()
	e, err := s.m.Input(name, active, s.now)
	if err != nil {
		s.t.Fatal(err)
	}
	s.take(e)
}

func (s *sim) arm(mode string, o Origin) error {
	e, err := s.m.Arm(mode, o, s.now)
	s.take(e)
	return err
}

// got returns "kind source state" of the events since the last call.
func (s *sim) got() []string {
	var out []string
	for _, e := range s.events {
		out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s", e.Kind, e.Source, e.State)))
	}
	s.events = nil
	return out
}

// acts returns "output on|off pattern for" of the actions since the last
// call, leaving out the resets a disarm sends (see resets).
func (s *sim) acts() []string {
	var out []string
	for _, a := range s.actions {
		if a.Request.Reset {
			continue
		}
		if a.Request.On {
			out = append(out, fmt.Sprintf("%s on %s %s", a.Output, a.Request.Pattern.Normal(), a.Request.For))
		} else {
			out = append(out, a.Output+" off")
		}
	}
	s.actions = nil
	return out
}

func (s *sim) want(what string, got []string, want ...string) {
	s.t.Helper()
	if !slices.Equal(got, want) {
		s.t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

var officer = Origin{By: ByStation, User: "cb-lan", Reason: "end of school day"}

var sounding = []string{"siren on steady 3m0s", "strobe on pulse 2Hz 50% 3m0s"}

func TestExitDelay(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	if err := s.arm(Away, officer); err != nil {
		t.Fatal(err)
	}
	ev := s.events[0]
	if ev.Kind != KindMode || ev.State != Away || ev.User != "cb-lan" || ev.By != ByStation || ev.Reason != "end of school day" || ev.Attrs["from"] != Disarmed {
		t.Fatalf("mode event %+v", ev)
	}
	s.want("arming", s.got(), "mode away away", "exit_delay away started")
	if s.saves != 1 {
		t.Fatalf("saves %d, want 1 before the mode is reported", s.saves)
	}
	s.advance(10 * time.Second)
	s.input("hall-pir", true) // walking out
	s.input("hall-pir", false)
	s.want("during the exit delay", s.got())
	s.advance(20 * time.Second)
	s.want("exit delay over", s.got(), "exit_delay away ended")
	if st := s.m.Status(s.now); st.Phase != "armed" {
		t.Fatalf("phase %q", st.Phase)
	}
	s.input("hall-pir", true)
	s.want("instant sensor armed", s.got(), "alarm hall-pir triggered")
	s.want("outputs", s.acts(), sounding...)
}

func TestOpenAtExitEnd(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	if err := s.arm(Away, officer); err != nil {
		t.Fatal(err)
	}
	s.input("gate-door", true) // leaving, the door still open at the end
	s.advance(30 * time.Second)
	s.want("door open at the end of the exit delay", s.got(), "mode away away", "exit_delay away started", "exit_delay away ended", "entry_delay gate-door started")
}

func TestEntryDelay(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	if err := s.arm(Night, officer); err != nil { // night: no exit delay
		t.Fatal(err)
	}
	s.want("arming night", s.got(), "mode night night")
	s.input("gate-door", true)
	s.want("door opens", s.got(), "entry_delay gate-door started")
	s.input("hall-pir", true) // walking to the key switch follows the entry delay
	s.want("follower", s.got())
	s.advance(20 * time.Second)
	if err := s.arm(Disarmed, Origin{By: ByKeyswitch, User: "key"}); err != nil {
		t.Fatal(err)
	}
	ev := s.events[len(s.events)-1]
	if ev.Attrs["entry_delay_of"] != "gate-door" {
		t.Fatalf("disarm event %+v", ev)
	}
	s.want("disarmed in time", s.got(), "mode disarmed disarmed")
	s.want("no siren", s.acts(), "buzzer on chirp 2 0s")

	s.input("gate-door", false)
	s.input("hall-pir", false)
	s.arm(Night, officer)
	s.got()
	s.input("gate-door", true)
	s.advance(29 * time.Second)
	s.want("inside the entry delay", s.got(), "entry_delay gate-door started")
	s.advance(time.Second)
	s.want("entry delay over", s.got(), "alarm gate-door triggered")
	s.want("outputs", s.acts(), sounding...)
}

func Test24HourZonesInEveryMode(t *testing.T) {
	for _, mode := range []string{Disarmed, Away, Home, Night, "holiday"} {
		s := newSim(t, school(), State{}, start)
		if err := s.arm(mode, officer); err != nil {
			t.Fatal(err)
		}
		s.got()
		s.acts()
		s.input("box-tamper", true)
		s.want(mode+": tamper", s.got(), "alarm box-tamper triggered")
		s.want(mode+": tamper outputs", s.acts(), sounding...)
		s.input("panic", true)
		evs := s.events
		s.want(mode+": silent panic", s.got(), "alarm panic triggered")
		if evs[0].Attrs["silent"] != true {
			t.Fatalf("%s: panic event %+v", mode, evs[0])
		}
		s.want(mode+": silent panic sounds nothing", s.acts())
	}
}

func TestSilentPanicAlone(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	s.input("panic", true)
	s.want("panic", s.got(), "alarm panic triggered")
	s.want("no outputs", s.acts())
	if st := s.m.Status(s.now); st.Phase != Disarmed {
		t.Fatalf("a silent panic changed the phase to %q", st.Phase)
	}
}

func TestTriggerTimeThenRearmWithBypass(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	s.arm(Night, officer)
	s.input("hall-pir", true)
	s.got()
	s.acts()
	s.advance(3*time.Minute - time.Second)
	s.want("while sounding", s.got())
	s.advance(time.Second)
	s.want("trigger time over", s.got(), "alarm hall-pir restored", "bypass hall-pir on")
	s.want("outputs off", s.acts(), "siren off", "strobe off")
	if st := s.m.Status(s.now); st.Mode != Night || st.Phase != "armed" || st.Bypassed["hall-pir"] != BypassTrigger {
		t.Fatalf("after the trigger time: %+v (never a silent disarm)", st)
	}
	s.input("hall-pir", false)
	s.want("closes", s.got(), "bypass hall-pir off")
	s.input("hall-pir", true)
	s.want("re-armed sensor", s.got(), "alarm hall-pir triggered")
}

func TestConfirmation(t *testing.T) {
	cfg := school()
	cfg.Confirm = 2 * time.Minute
	s := newSim(t, cfg, State{}, start)
	s.arm(Night, officer)
	s.got()
	s.input("hall-pir", true)
	s.want("one PIR", s.got(), "alarm hall-pir unconfirmed")
	s.want("one PIR sounds nothing", s.acts())
	s.input("hall-pir", false)
	s.input("hall-pir", true)
	s.want("the same PIR again", s.got(), "alarm hall-pir unconfirmed")
	s.advance(3 * time.Minute)
	s.input("gate-door", true) // after the window: a new first trip
	s.want("door after the window", s.got(), "entry_delay gate-door started")
	s.advance(30 * time.Second)
	s.want("entry delay over, alone", s.got(), "alarm gate-door unconfirmed")
	s.advance(time.Minute)
	s.input("hall-pir", false)
	s.input("hall-pir", true)
	s.want("second sensor within the window", s.got(), "alarm hall-pir triggered")
	s.want("confirmed outputs", s.acts(), sounding...)
	// 24-hour zones never wait for confirmation.
	s2 := newSim(t, cfg, State{}, start)
	s2.input("box-tamper", true)
	s2.want("tamper with confirmation on", s2.got(), "alarm box-tamper triggered")
}

func TestChime(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	s.input("gate-door", true)
	s.want("door while disarmed", s.got(), "chime gate-door active")
	s.want("chime output", s.acts(), "buzzer on chirp 1 0s")
	s.input("hall-pir", true) // no chime configured
	s.want("pir while disarmed", s.got())
}

func TestSilenceIsNotDisarm(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	s.arm(Night, officer)
	s.input("hall-pir", true)
	s.got()
	s.acts()
	e := s.m.Silence(Origin{By: ByStation, User: "cb-lan"}, s.now)
	s.take(e)
	s.want("Tắt còi", s.got(), "silence night night", "alarm hall-pir restored", "bypass hall-pir on")
	s.want("outputs off", s.acts(), "siren off", "strobe off")
	if st := s.m.Status(s.now); st.Mode != Night || st.Phase != "armed" {
		t.Fatalf("after silence: %+v", st)
	}
	s.input("gate-door", true)
	s.want("still armed", s.got(), "entry_delay gate-door started")
	// Silence with nothing sounding changes nothing.
	s.take(s.m.Silence(officer, s.now))
	s.want("silence while quiet", s.got())
}

func TestRefusedArming(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	s.input("gate-door", true)
	s.input("hall-pir", true)
	s.got()
	s.acts()
	saves := s.saves
	err := s.arm(Away, officer)
	if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "gate-door, hall-pir") {
		t.Fatalf("arming with sensors open: %v", err)
	}
	ev := s.events[0]
	if !slices.Equal(ev.Attrs["open"].([]string), []string{"gate-door", "hall-pir"}) || ev.User != "cb-lan" {
		t.Fatalf("refusal event %+v", ev)
	}
	s.want("refused", s.got(), "arming_refused away away")
	if s.m.Mode() != Disarmed || s.saves != saves {
		t.Fatal("a refused arming changed the mode")
	}
	s.input("gate-door", false)
	s.input("hall-pir", false)
	s.input("window", true) // auto-bypass
	s.got()
	if err := s.arm(Away, officer); err != nil {
		t.Fatal(err)
	}
	ev = s.events[1]
	s.want("auto-bypass", s.got(), "bypass window on", "mode away away", "exit_delay away started")
	if !slices.Equal(ev.Attrs["bypassed"].([]string), []string{"window"}) {
		t.Fatalf("mode event does not say what was bypassed: %+v", ev)
	}
	s.advance(30 * time.Second)
	s.input("window", false)
	s.want("closes", s.got(), "exit_delay away ended", "bypass window off")
	s.input("window", true)
	s.want("armed again once closed", s.got(), "alarm window triggered")
	if err := s.arm("holidy", officer); !errors.Is(err, ErrUnknownMode) || !strings.Contains(err.Error(), "holiday") {
		t.Fatalf("unknown mode: %v", err)
	}
}

func TestSupervision(t *testing.T) {
	cfg := school()
	cfg.Sensors[1].StuckAfter = 10 * time.Minute
	cfg.Sensors[1].BypassOnTrouble = true
	cfg.Sensors[2].MaxPerHour = 3
	cfg.Sensors[2].BypassOnTrouble = true
	s := newSim(t, cfg, State{}, start)
	s.input("hall-pir", true)
	s.advance(10*time.Minute - time.Second)
	s.want("not stuck yet", s.got())
	s.advance(time.Second)
	s.want("stuck", s.got(), "trouble hall-pir active", "bypass hall-pir on")
	s.input("hall-pir", false)
	s.want("unstuck", s.got(), "trouble hall-pir inactive", "bypass hall-pir off")

	for i := range 4 {
		s.input("yard-pir", true)
		s.input("yard-pir", false)
		s.advance(time.Minute)
		if i < 3 {
			s.want("under the limit", s.got())
		}
	}
	s.want("chatter", s.got(), "trouble yard-pir active", "bypass yard-pir on")
	s.arm(Away, officer)
	s.advance(time.Minute)
	s.got()
	s.input("yard-pir", true) // bypassed: no alarm, and the quiet hour restarts
	s.input("yard-pir", false)
	s.want("bypassed while chattering", s.got())
	s.advance(time.Hour - time.Second)
	s.want("not quiet for an hour yet", s.got())
	s.advance(time.Second)
	s.want("quiet for an hour", s.got(), "trouble yard-pir inactive", "bypass yard-pir off")
}

func TestKeyswitchAndFeedback(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	s.input("key", true)
	ev := s.events[0]
	if ev.By != ByKeyswitch || ev.User != "key" {
		t.Fatalf("mode event %+v", ev)
	}
	s.want("key on", s.got(), "mode away away", "exit_delay away started")
	s.want("one chirp", s.acts(), "buzzer on chirp 1 0s")
	s.input("key", false)
	s.want("key off", s.got(), "mode disarmed disarmed")
	s.want("two chirps", s.acts(), "buzzer on chirp 2 0s")
	s.input("gate-door", true)
	s.got()
	s.acts()
	s.input("key", true)
	s.want("key on with the door open", s.got(), "arming_refused away away")
	s.want("three chirps", s.acts(), "buzzer on chirp 3 0s")
	// A station arming chirps nothing (not in the default origins).
	s.input("gate-door", false)
	s.acts()
	s.arm(Home, officer)
	s.want("remote arming", s.acts())
}

func TestWalkAndOutputTest(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	installer := Origin{By: ByInstaller, User: "tho-lap-dat"}
	s.arm(Night, officer)
	if _, err := s.m.Test(true, installer, s.now); !errors.Is(err, ErrNotDisarmed) {
		t.Fatalf("test mode while armed: %v", err)
	}
	s.arm(Disarmed, officer)
	s.got()
	s.acts()
	e, err := s.m.Test(true, installer, s.now)
	if err != nil {
		t.Fatal(err)
	}
	s.take(e)
	s.input("box-tamper", true)
	s.input("gate-door", true)
	evs := slices.Clone(s.events)
	s.want("walk test", s.got(), "test_mode  on", "walk_test box-tamper active", "walk_test gate-door active")
	for _, e := range evs {
		if !e.Test {
			t.Fatalf("not marked test: %+v", e)
		}
	}
	s.want("never sounds", s.acts())
	te, err := s.m.TestOutput("siren", installer, s.now)
	if err != nil {
		t.Fatal(err)
	}
	s.take(te)
	if a := s.actions[0]; !a.Request.Test || a.Request.For != time.Second || !a.Request.On {
		t.Fatalf("output test %+v", a)
	}
	s.acts()
	s.advance(30 * time.Minute)
	s.want("test time over", s.got(), "test_mode  off")
	s.input("box-tamper", false)
	s.input("box-tamper", true)
	s.want("after the test", s.got(), "alarm box-tamper triggered")
}

func TestManualBypass(t *testing.T) {
	s := newSim(t, school(), State{}, start)
	if _, err := s.m.Bypass("nope", true, officer, s.now); !errors.Is(err, ErrUnknownSensor) {
		t.Fatalf("unknown sensor: %v", err)
	}
	e, _ := s.m.Bypass("hall-pir", true, officer, s.now)
	s.take(e)
	s.arm(Night, officer)
	s.input("hall-pir", true)
	s.want("bypassed", s.got(), "bypass hall-pir on", "mode night night")
	if st := s.m.Persist(); st.Bypass["hall-pir"].Kind != BypassManual {
		t.Fatalf("bypass not persisted: %+v", st)
	}
	e, _ = s.m.Bypass("hall-pir", false, officer, s.now)
	s.take(e)
	s.want("restored while active counts", s.got(), "bypass hall-pir off", "alarm hall-pir triggered")
}

func TestValidate(t *testing.T) {
	known := func(n string) bool { return n == "siren" || n == "strobe" || n == "buzzer" }
	if err := Validate(school(), known); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Trigger = []Use{{Output: "horn"}} }, `alarm.trigger[0].output: unknown output "horn"`},
		{func(c *Config) { c.Sensors[0].Modes = []string{"awy"} }, `alarm.sensors[0] "gate-door": modes: unknown mode "awy"`},
		{func(c *Config) { c.Sensors[4].EntryDelay = time.Second }, `always: a 24-hour zone`},
		{func(c *Config) { c.Sensors[1].Silent = true }, `silent: applies only`},
		{func(c *Config) { c.Sensors[6].Keyswitch = "nope" }, `keyswitch: "nope" is not an armed mode`},
		{func(c *Config) { c.Modes = append(c.Modes, Mode{Name: Disarmed}) }, `alarm.modes[2].name`},
		{func(c *Config) { c.Modes[0].ExitDelay = time.Hour }, `alarm.modes[0].exit_delay`},
		{func(c *Config) { c.TriggerTime = 20 * time.Minute }, `alarm.trigger_time`},
		{func(c *Config) { c.Feedback = &Feedback{Output: "bell"} }, `alarm.feedback.output: unknown output "bell"`},
		{func(c *Config) { c.Sensors = append(c.Sensors, Sensor{Name: "key", Kind: "contact"}) }, `listed twice`},
		{func(c *Config) {
			c.Schedule.Entries = []Entry{{Days: []string{"weekdays"}, At: "17:30", Mode: Away}, {Days: []string{"fri"}, At: "17:30", Mode: Night}}
		}, `alarm.schedule.entries[1]: overlaps entries[0]: both set a mode on Friday at 17:30`},
		{func(c *Config) { c.Schedule.Entries = []Entry{{Days: []string{"mon"}, At: "25:00", Mode: Away}} }, `entries[0].at: "25:00"`},
		{func(c *Config) { c.Schedule.Entries = []Entry{{Days: []string{"monday"}, At: "05:00", Mode: Away}} }, `entries[0].days: "monday"`},
		{func(c *Config) { c.Schedule.Entries = []Entry{{Days: []string{"mon"}, At: "05:00", Mode: "aw"}} }, `entries[0].mode: unknown mode "aw"`},
		{func(c *Config) { c.Schedule.Holidays = []string{"2026-02-30"} }, `holidays[0]: "2026-02-30"`},
	} {
		cfg := school()
		cfg.Modes = slices.Clone(cfg.Modes)
		cfg.Sensors = slices.Clone(cfg.Sensors)
		tc.edit(&cfg)
		err := Validate(cfg, known)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestStartLiftsBypassOfClosedSensors(t *testing.T) {
	st := State{Mode: Night, Bypass: map[string]Bypass{
		"hall-pir": {Kind: BypassTrigger}, "gate-door": {Kind: BypassTrigger}, "yard-pir": {Kind: BypassManual},
	}}
	s := newSim(t, school(), st, start)
	if err := s.m.Prime("gate-door", true, s.now); err != nil {
		t.Fatal(err)
	}
	if err := s.m.Prime("nope", true, s.now); !errors.Is(err, ErrUnknownSensor) {
		t.Fatalf("prime unknown: %v", err)
	}
	s.take(s.m.Start(s.now))
	s.want("start", s.got(), "bypass hall-pir off")
	if b := s.m.Persist().Bypass; len(b) != 2 || b["gate-door"].Kind != BypassTrigger || b["yard-pir"].Kind != BypassManual {
		t.Fatalf("bypasses after start: %+v", b)
	}
	s.input("gate-door", false)
	s.want("closes", s.got(), "bypass gate-door off")
}

func TestUnknownStoredMode(t *testing.T) {
	if _, err := NewMachine(school(), nil, State{Mode: "vacation"}, Instant{}); !errors.Is(err, ErrUnknownMode) || !strings.Contains(err.Error(), `"vacation"`) {
		t.Fatalf("stored unknown mode: %v", err)
	}
}
