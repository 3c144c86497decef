package alarm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/antt-gateway/antt/device/output"
)

// Origins of a change (Origin.By).
const (
	ByStation   = "station"   // an officer's command; Origin.User is the user name
	BySchedule  = "schedule"  // the site's schedule
	ByKeyswitch = "keyswitch" // a key-switch input; Origin.User is the input
	ByInstaller = "installer" // the local API at the board
	BySystem    = "system"    // the logic itself (trigger time over, supervision)
)

var allOrigins = []string{ByStation, BySchedule, ByKeyswitch, ByInstaller, BySystem}

// Event kinds the alarm logic raises (beside the sensors' own events).
const (
	KindMode          = "mode"           // State: the new mode; attrs from, exit_delay_s, bypassed
	KindExitDelay     = "exit_delay"     // Source: mode; State: started|ended
	KindEntryDelay    = "entry_delay"    // Source: sensor; State: started
	KindAlarm         = "alarm"          // Source: sensor; State: triggered|unconfirmed|restored
	KindSilence       = "silence"        // outputs stopped without disarming
	KindBypass        = "bypass"         // Source: sensor; State: on|off
	KindTrouble       = "trouble"        // Source: sensor; State: active|inactive
	KindChime         = "chime"          // Source: sensor
	KindOutput        = "output"         // Source: output; State: on|off|failed
	KindArmingRefused = "arming_refused" // State: the mode; attrs open
	KindWalkTest      = "walk_test"      // Source: sensor; State: active|inactive; Test
	KindTestMode      = "test_mode"      // State: on|off
)

// Alarm states (Event.State of KindAlarm).
const (
	Triggered   = "triggered"
	Unconfirmed = "unconfirmed"
	Restored    = "restored"
)

// Bypass kinds: why a sensor is bypassed, which says when it ends.
const (
	BypassManual  = "manual"  // by a command; until lifted or disarmed
	BypassAuto    = "auto"    // open when arming; until it closes
	BypassTrigger = "trigger" // it triggered and stayed open; until it closes
	BypassStuck   = "stuck"   // trouble: stuck active; until it closes
	BypassChatter = "chatter" // trouble: too many activations; until quiet for an hour
	// BypassSwinger is swinger shutdown: the sensor sounded the alarm
	// Config.SwingerLimit times in this arming period; until disarmed (or
	// armed from disarmed), or quiet for SwingerReset.
	BypassSwinger = "swinger"
)

// Instant is the moment an input or command is handled: wall time (for
// schedules and events), the clock's uptime (for every delay, so setting
// the wall clock moves no delay) and whether the wall clock can be trusted.
type Instant struct {
	Wall   time.Time
	Mono   time.Duration
	Synced bool
}

// Origin says who or what made a change and why.
type Origin struct {
	By     string `json:"by"`
	User   string `json:"user,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (o Origin) String() string {
	s := o.By
	if o.User != "" {
		s += " " + o.User
	}
	return s
}

// Event is one thing the alarm logic reports; the gateway makes a
// wire.Event of it through the outbox (see WireFields).
type Event struct {
	Kind   string
	Source string
	State  string
	Time   time.Time
	Mono   time.Duration
	Test   bool
	By     string // the origin (ByStation …) where a person or the schedule acted
	User   string
	Reason string
	Attrs  map[string]any
}

// Action is one output request the logic asks for.
type Action struct {
	Output  string
	Request output.Request
}

// Effects is what one step of the logic produced, in order: Save first
// (the state must be stored before anything reports it), then Actions,
// then SaveLate, then Events.
type Effects struct {
	Save    bool
	Actions []Action
	// SaveLate stores the state after the actions (and before the
	// events): a change that must survive a reboot but must not delay a
	// siren by an fsync (the swinger counts). Not needed when Save is set.
	SaveLate bool
	Events   []Event
}

// Errors returned by the logic's commands (wrapped with the details).
var (
	ErrUnknownMode   = errors.New("unknown mode")
	ErrUnknownSensor = errors.New("unknown sensor")
	ErrOpen          = errors.New("sensors open")
	ErrNotDisarmed   = errors.New("not disarmed")
)

// OpenError is an arming refused because sensors are open: Is(ErrOpen),
// and the names go into the command's reply (`open`) so the officer's
// page lists them.
type OpenError struct {
	Mode   string
	Open   []string
	reason string
}

func (e *OpenError) Error() string { return ErrOpen.Error() + ": " + e.reason }

// Unwrap makes errors.Is(err, ErrOpen) hold.
func (e *OpenError) Unwrap() error { return ErrOpen }

// ReplyData is what the command's reply carries beside ok:false.
func (e *OpenError) ReplyData() any { return map[string]any{"open": e.Open} }

type sensorState struct {
	cfg          *Sensor
	active       bool
	since        time.Duration // mono of the latest change
	bypass       string
	bypassReason string
	fires        []time.Duration // activations in the last SupervisionWindow
	stuck        bool
	chatter      bool
	trips        int           // alarms it sounded in this arming period (swinger shutdown)
	lastTrip     time.Duration // mono of its latest activation while trips > 0
}

type trigger struct {
	until   time.Duration
	sensors []string
	uses    []Use
}

type fire struct {
	sensor string
	at     time.Duration
}

// Machine is the alarm logic: pure, driven by inputs, commands and Tick,
// with no goroutine and no clock of its own. Every method returns the
// Effects of the step; Next tells when Tick is due. Not safe for
// concurrent use: Alarm owns one on its goroutine.
type Machine struct {
	cfg       *compiled
	mode      string
	since     time.Time
	origin    Origin
	exitUntil time.Duration // mono; 0: no exit delay running
	entryBy   string        // sensor whose entry delay runs
	entryTill time.Duration
	trig      *trigger
	recent    []fire // armed sensors tripped, for confirmation
	sensors   map[string]*sensorState
	testUntil time.Duration // installer test mode
	testBy    Origin
	schedDone time.Time // the latest schedule entry applied or passed

	now Instant
	eff Effects
}

// NewMachine returns the logic in the persisted state st (the zero State
// is a fresh install: disarmed). An armed mode is resumed armed at once
// (no exit delay: the site was armed through the restart); no alarm is
// resumed, and inputs start inactive until Prime says otherwise.
func NewMachine(cfg Config, known func(string) bool, st State, now Instant) (*Machine, error) {
	c, err := compile(cfg, known)
	if err != nil {
		return nil, err
	}
	m := &Machine{cfg: c, mode: Disarmed, sensors: map[string]*sensorState{}, now: now}
	for _, name := range c.order {
		m.sensors[name] = &sensorState{cfg: c.sensors[name]}
	}
	if st.Mode != "" {
		if _, ok := c.modes[st.Mode]; ok || st.Mode == Disarmed {
			m.mode, m.since, m.origin = st.Mode, st.Since, st.Origin
		} else {
			return nil, fmt.Errorf("stored mode %q: %w (modes: %s)", st.Mode, ErrUnknownMode, strings.Join(c.modeNames(), ", "))
		}
	}
	for name, b := range st.Bypass {
		if s, ok := m.sensors[name]; ok {
			s.bypass, s.bypassReason = b.Kind, b.Reason
		}
	}
	for name, n := range st.Trips {
		if s, ok := m.sensors[name]; ok && n > 0 {
			// The quiet time counts from the start: the last trip's time
			// is not kept.
			s.trips, s.lastTrip = n, now.Mono
		}
	}
	m.schedDone = st.ScheduleDone
	return m, nil
}

// Persist returns the state to store.
func (m *Machine) Persist() State {
	st := State{Mode: m.mode, Since: m.since, Origin: m.origin, ScheduleDone: m.schedDone}
	for name, s := range m.sensors {
		if s.bypass != "" {
			if st.Bypass == nil {
				st.Bypass = map[string]Bypass{}
			}
			st.Bypass[name] = Bypass{Kind: s.bypass, Reason: s.bypassReason}
		}
		if s.trips > 0 {
			if st.Trips == nil {
				st.Trips = map[string]int{}
			}
			st.Trips[name] = s.trips
		}
	}
	return st
}

// Mode returns the current mode.
func (m *Machine) Mode() string { return m.mode }

func (m *Machine) begin(now Instant) {
	m.now = now
	m.eff = Effects{}
}

func (m *Machine) end() Effects {
	e := m.eff
	m.eff = Effects{}
	return e
}

func (m *Machine) event(e Event) {
	e.Time, e.Mono = m.now.Wall, m.now.Mono
	m.eff.Events = append(m.eff.Events, e)
}

func (m *Machine) act(name string, r output.Request) {
	m.eff.Actions = append(m.eff.Actions, Action{Output: name, Request: r})
}

func secs(d time.Duration) float64 { return d.Seconds() }

// Prime sets the state an input was found in at start, without events:
// a restart must not raise an alarm for a door that was already open.
func (m *Machine) Prime(sensor string, active bool, now Instant) error {
	s, ok := m.sensors[sensor]
	if !ok {
		return fmt.Errorf("sensor %q: %w", sensor, ErrUnknownSensor)
	}
	s.active, s.since = active, now.Mono
	return nil
}

// Start is the first step after the inputs were primed: bypasses that last
// until a sensor closes end for sensors found closed (they closed while the
// gateway was down), each with its event.
func (m *Machine) Start(now Instant) Effects {
	m.begin(now)
	for _, name := range m.cfg.order {
		s := m.sensors[name]
		switch s.bypass {
		case BypassAuto, BypassTrigger, BypassStuck:
			if !s.active {
				m.unbypass(s, "closed at start")
			}
		}
	}
	return m.end()
}

// Input handles one debounced change of a sensor.
func (m *Machine) Input(sensor string, active bool, now Instant) (Effects, error) {
	s, ok := m.sensors[sensor]
	if !ok {
		return Effects{}, fmt.Errorf("sensor %q: %w", sensor, ErrUnknownSensor)
	}
	m.begin(now)
	if s.active == active {
		return m.end(), nil
	}
	s.active, s.since = active, now.Mono
	if active && s.trips > 0 {
		s.lastTrip = now.Mono
	}
	if m.testUntil != 0 {
		// Walk test: reported, marked test, never alarms.
		m.event(Event{Kind: KindWalkTest, Source: sensor, State: stateName(active), Test: true, By: m.testBy.By, User: m.testBy.User, Reason: "walk test"})
		return m.end(), nil
	}
	m.supervise(s)
	if !active {
		m.closed(s)
		return m.end(), nil
	}
	if s.bypass != "" {
		return m.end(), nil
	}
	m.activated(s)
	return m.end(), nil
}

func stateName(active bool) string {
	if active {
		return "active"
	}
	return "inactive"
}

// closed handles an input going inactive: bypasses that last until it
// closes end, a stuck trouble ends, a key switch disarms.
func (m *Machine) closed(s *sensorState) {
	if s.stuck {
		s.stuck = false
		m.event(Event{Kind: KindTrouble, Source: s.cfg.Name, State: "inactive", By: BySystem, Reason: "no longer stuck active"})
	}
	switch s.bypass {
	case BypassAuto, BypassTrigger, BypassStuck:
		m.unbypass(s, "closed")
	}
	if s.cfg.Kind == KindKeyswitch {
		m.disarm(Origin{By: ByKeyswitch, User: s.cfg.Name, Reason: "key switch off"})
	}
}

// activated handles an active edge of a sensor that is not bypassed.
func (m *Machine) activated(s *sensorState) {
	name := s.cfg.Name
	switch {
	case s.cfg.Kind == KindKeyswitch:
		// Arming by key switch; a refusal is its own event.
		_ = m.arm(s.cfg.Keyswitch, Origin{By: ByKeyswitch, User: name, Reason: "key switch on"})
	case s.cfg.Always:
		m.alarm24(s)
	case m.mode == Disarmed:
		if s.cfg.Chime {
			m.event(Event{Kind: KindChime, Source: name, State: "active", Reason: "chime while disarmed"})
			for _, u := range m.cfg.Chime {
				if m.sounding(u.Output) {
					continue // a chirp would end the sounding alarm (a 24-hour zone)
				}
				p := u.Pattern
				if p.Kind == "" {
					p = output.Pattern{Kind: output.Chirp, Count: 1}
				}
				m.act(u.Output, output.Request{On: true, Pattern: p, Reason: "chime: " + name})
			}
		}
	case !s.cfg.arms(m.mode):
	case m.exitUntil != 0:
		// Walking out during the exit delay; what is still open when it
		// ends is handled then.
	default:
		m.armedActive(s, "")
	}
}

// armedActive handles an armed sensor tripping in an armed mode.
func (m *Machine) armedActive(s *sensorState, why string) {
	name := s.cfg.Name
	switch {
	case m.trig != nil:
		if !slices.Contains(m.trig.sensors, name) {
			m.trig.sensors = append(m.trig.sensors, name)
			m.event(Event{Kind: KindAlarm, Source: name, State: Triggered, Reason: "also tripped while the alarm sounds", Attrs: map[string]any{"mode": m.mode, "sensors": slices.Clone(m.trig.sensors)}})
		}
	case m.entryBy != "":
		m.note(name) // follows the entry delay (walking to the keypad)
	case m.pending():
		m.intrusion(name, why)
	case s.cfg.EntryDelay > 0:
		m.note(name)
		m.entryBy, m.entryTill = name, m.now.Mono+s.cfg.EntryDelay
		m.event(Event{Kind: KindEntryDelay, Source: name, State: "started", Reason: join("entry delay", why), Attrs: map[string]any{"mode": m.mode, "delay_s": secs(s.cfg.EntryDelay), "until": m.now.Wall.Add(s.cfg.EntryDelay)}})
	default:
		m.intrusion(name, why)
	}
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// note remembers a trip for confirmation.
func (m *Machine) note(name string) {
	m.prune()
	m.recent = append(m.recent, fire{sensor: name, at: m.now.Mono})
}

func (m *Machine) prune() {
	if m.cfg.Confirm == 0 {
		m.recent = m.recent[:0]
		return
	}
	i := 0
	for i < len(m.recent) && m.now.Mono-m.recent[i].at > m.cfg.Confirm {
		i++
	}
	m.recent = append(m.recent[:0], m.recent[i:]...)
}

// pending reports an unconfirmed trip waiting for a second sensor.
func (m *Machine) pending() bool {
	if m.cfg.Confirm == 0 {
		return false
	}
	m.prune()
	return len(m.recent) > 0
}

// intrusion sounds the alarm for name, or with confirmation on and no
// second sensor yet, only reports it.
func (m *Machine) intrusion(name, why string) {
	var sensors []string
	if m.cfg.Confirm > 0 {
		m.note(name)
		for _, f := range m.recent {
			if !slices.Contains(sensors, f.sensor) {
				sensors = append(sensors, f.sensor)
			}
		}
		if len(sensors) < 2 {
			m.event(Event{Kind: KindAlarm, Source: name, State: Unconfirmed, Reason: join(fmt.Sprintf("one sensor only; a second within %s sounds the alarm", m.cfg.Confirm), why), Attrs: map[string]any{"mode": m.mode, "confirm_s": secs(m.cfg.Confirm)}})
			return
		}
		// The sensor that completed the confirmation is the source.
		sensors = append([]string{name}, slices.DeleteFunc(sensors, func(s string) bool { return s == name })...)
	} else {
		sensors = []string{name}
	}
	uses := m.cfg.Trigger
	if md := m.cfg.modes[m.mode]; md != nil && md.Trigger != nil {
		uses = md.Trigger
	}
	m.recent = m.recent[:0]
	m.sound(sensors, uses, join("intrusion in mode "+m.mode, why), false)
}

// alarm24 handles a 24-hour zone: in every mode, at once, no confirmation.
func (m *Machine) alarm24(s *sensorState) {
	attrs := map[string]any{"mode": m.mode, "always": true}
	if s.cfg.Silent {
		attrs["silent"] = true
		m.event(Event{Kind: KindAlarm, Source: s.cfg.Name, State: Triggered, Reason: "24-hour zone (" + s.cfg.Kind + "), silent: nothing sounds", Attrs: attrs})
		return
	}
	uses := m.cfg.Trigger
	if s.cfg.Trigger != nil {
		uses = s.cfg.Trigger
	}
	m.sound([]string{s.cfg.Name}, uses, "24-hour zone ("+s.cfg.Kind+")", true)
}

func (m *Machine) sound(sensors []string, uses []Use, reason string, always bool) {
	if m.trig != nil {
		if !slices.Contains(m.trig.sensors, sensors[0]) {
			m.trig.sensors = append(m.trig.sensors, sensors[0])
		}
		m.event(Event{Kind: KindAlarm, Source: sensors[0], State: Triggered, Reason: reason + "; already sounding", Attrs: map[string]any{"mode": m.mode, "sensors": slices.Clone(m.trig.sensors)}})
		return
	}
	m.entryBy, m.entryTill = "", 0
	m.trig = &trigger{until: m.now.Mono + m.cfg.TriggerTime, sensors: slices.Clone(sensors), uses: uses}
	for _, name := range sensors {
		// Swinger shutdown counts the alarms each sensor sounded; stored
		// right after the siren is switched on (not before: an fsync must
		// not delay it) and before the alarm is reported.
		s := m.sensors[name]
		s.trips++
		s.lastTrip = m.now.Mono
		m.eff.SaveLate = true
	}
	outs := make([]string, 0, len(uses))
	for _, u := range uses {
		outs = append(outs, u.Output)
	}
	attrs := map[string]any{"mode": m.mode, "sensors": slices.Clone(sensors), "outputs": outs, "trigger_time_s": secs(m.cfg.TriggerTime)}
	if always {
		attrs["always"] = true
	}
	m.event(Event{Kind: KindAlarm, Source: sensors[0], State: Triggered, Reason: reason, Attrs: attrs})
	for _, u := range uses {
		m.act(u.Output, output.Request{On: true, Pattern: u.Pattern, For: m.cfg.TriggerTime, Reason: "alarm: " + sensors[0]})
	}
}

// stopSound ends a sounding alarm. With rearm (the site stays as it is),
// sensors that triggered and are still active are bypassed until they
// close when the site is armed, so it re-arms instead of sounding again at
// once (and is never silently disarmed); a sensor that reached the swinger
// limit is bypassed until the arming period ends.
func (m *Machine) stopSound(reason string, o Origin, rearm bool) {
	t := m.trig
	if t == nil {
		return
	}
	m.trig = nil
	for _, u := range t.uses {
		m.act(u.Output, output.Request{On: false, Reason: reason, User: o.User})
	}
	m.event(Event{Kind: KindAlarm, Source: t.sensors[0], State: Restored, By: o.By, User: o.User, Reason: reason, Attrs: map[string]any{"mode": m.mode, "sensors": t.sensors}})
	if !rearm {
		return // disarming: nothing is bypassed, the arming period ends
	}
	for _, name := range t.sensors {
		s := m.sensors[name]
		if s.trips >= m.cfg.SwingerLimit && s.bypass != BypassManual {
			m.swingerShutdown(s)
			continue
		}
		if m.mode == Disarmed {
			continue
		}
		if s.active && s.bypass == "" && (s.cfg.arms(m.mode) || s.cfg.Always) {
			m.bypass(s, BypassTrigger, "triggered and still active; bypassed until it closes", Origin{By: BySystem})
		}
	}
}

// swingerShutdown bypasses s after it sounded the alarm SwingerLimit times
// in this arming period (ANSI/SIA CP-01 4.3.2): it sounds no more until the
// site is disarmed or it is quiet for SwingerReset.
func (m *Machine) swingerShutdown(s *sensorState) {
	reason := fmt.Sprintf("sounded the alarm %d times in this arming period (limit %d)", s.trips, m.cfg.SwingerLimit)
	m.event(Event{Kind: KindTrouble, Source: s.cfg.Name, State: "active", By: BySystem, Reason: reason, Attrs: map[string]any{"trouble": "swinger", "alarms": s.trips}})
	s.bypass = "" // a trigger, stuck or chatter bypass becomes the swinger one
	m.bypass(s, BypassSwinger, reason+fmt.Sprintf("; bypassed until disarmed or quiet for %s", SwingerReset), Origin{By: BySystem})
}

// resetSwinger ends the arming period's swinger shutdown: counts cleared,
// swinger bypasses lifted.
func (m *Machine) resetSwinger(reason string) {
	for _, name := range m.cfg.order {
		s := m.sensors[name]
		if s.trips > 0 {
			s.trips = 0
			m.eff.Save = true
		}
		if s.bypass == BypassSwinger {
			m.event(Event{Kind: KindTrouble, Source: name, State: "inactive", By: BySystem, Reason: "swinger shutdown ended: " + reason, Attrs: map[string]any{"trouble": "swinger"}})
			m.unbypass(s, reason)
		}
	}
}

func (m *Machine) bypass(s *sensorState, kind, reason string, o Origin) {
	s.bypass, s.bypassReason = kind, reason
	if s.cfg.Name == m.entryBy {
		m.entryBy, m.entryTill = "", 0
	}
	m.eff.Save = true
	m.event(Event{Kind: KindBypass, Source: s.cfg.Name, State: "on", By: o.By, User: o.User, Reason: reason, Attrs: map[string]any{"bypass": kind}})
}

func (m *Machine) unbypass(s *sensorState, reason string) {
	kind := s.bypass
	s.bypass, s.bypassReason = "", ""
	m.eff.Save = true
	m.event(Event{Kind: KindBypass, Source: s.cfg.Name, State: "off", By: BySystem, Reason: reason, Attrs: map[string]any{"bypass": kind}})
}

// supervise counts activations and raises chatter trouble.
func (m *Machine) supervise(s *sensorState) {
	if !s.active || s.cfg.MaxPerHour == 0 {
		return
	}
	cut := 0
	for cut < len(s.fires) && m.now.Mono-s.fires[cut] >= SupervisionWindow {
		cut++
	}
	s.fires = append(s.fires[:0], s.fires[cut:]...)
	s.fires = append(s.fires, m.now.Mono)
	if len(s.fires) > s.cfg.MaxPerHour && !s.chatter {
		s.chatter = true
		reason := fmt.Sprintf("active %d times within an hour (limit %d)", len(s.fires), s.cfg.MaxPerHour)
		m.event(Event{Kind: KindTrouble, Source: s.cfg.Name, State: "active", By: BySystem, Reason: reason, Attrs: map[string]any{"trouble": "chatter"}})
		if s.cfg.BypassOnTrouble && s.bypass != BypassManual {
			m.bypass(s, BypassChatter, reason+"; bypassed until quiet for an hour", Origin{By: BySystem})
		}
	}
	if len(s.fires) > s.cfg.MaxPerHour+1 {
		// Only the latest matter now: the quiet hour counts from the last.
		s.fires = s.fires[len(s.fires)-s.cfg.MaxPerHour-1:]
	}
}

// Arm sets mode (Disarmed disarms). Arming with armed sensors open is
// refused naming them (an arming_refused event and an error matching
// ErrOpen), except for sensors set to auto-bypass, which are bypassed.
// Arming to the mode already set changes nothing.
func (m *Machine) Arm(mode string, o Origin, now Instant) (Effects, error) {
	m.begin(now)
	err := m.arm(mode, o)
	return m.end(), err
}

func (m *Machine) arm(mode string, o Origin) error {
	if mode == Disarmed {
		m.disarm(o)
		return nil
	}
	md, ok := m.cfg.modes[mode]
	if !ok {
		return fmt.Errorf("mode %q: %w (modes: %s)", mode, ErrUnknownMode, strings.Join(m.cfg.modeNames(), ", "))
	}
	if mode == m.mode {
		return nil
	}
	if m.mode == Disarmed {
		// A new arming period: what a 24-hour zone counted while disarmed
		// starts again.
		m.resetSwinger("armed")
	}
	var open, auto []string
	for _, name := range m.cfg.order {
		s := m.sensors[name]
		if !s.cfg.arms(mode) || !s.active || s.bypass != "" {
			continue
		}
		if s.cfg.AutoBypass {
			auto = append(auto, name)
		} else {
			open = append(open, name)
		}
	}
	if len(open) > 0 {
		reason := fmt.Sprintf("cannot arm %s: open: %s", mode, strings.Join(open, ", "))
		m.event(Event{Kind: KindArmingRefused, Source: mode, State: mode, By: o.By, User: o.User, Reason: join(reason, o.Reason), Attrs: map[string]any{"open": open, "mode": m.mode}})
		m.feedback(o, 3)
		return &OpenError{Mode: mode, Open: open, reason: reason}
	}
	if m.testUntil != 0 {
		m.endTest("armed", o)
	}
	for _, name := range auto {
		m.bypass(m.sensors[name], BypassAuto, "open when arming "+mode+"; bypassed until it closes", o)
	}
	from := m.mode
	m.mode, m.since, m.origin = mode, m.now.Wall, o
	m.entryBy, m.entryTill = "", 0
	m.recent = m.recent[:0]
	m.exitUntil = 0
	if md.ExitDelay > 0 {
		m.exitUntil = m.now.Mono + md.ExitDelay
	}
	m.eff.Save = true
	attrs := map[string]any{"from": from, "exit_delay_s": secs(md.ExitDelay)}
	if len(auto) > 0 {
		attrs["bypassed"] = auto
	}
	m.event(Event{Kind: KindMode, Source: mode, State: mode, By: o.By, User: o.User, Reason: o.Reason, Attrs: attrs})
	if md.ExitDelay > 0 {
		m.event(Event{Kind: KindExitDelay, Source: mode, State: "started", By: o.By, User: o.User, Reason: "exit delay", Attrs: map[string]any{"delay_s": secs(md.ExitDelay), "until": m.now.Wall.Add(md.ExitDelay)}})
	} else {
		m.exitEnded(false)
	}
	m.feedback(o, 1)
	return nil
}

// exitEnded handles what is open when a mode becomes fully armed: it is
// handled as if it had opened now (a door left open starts its entry
// delay).
func (m *Machine) exitEnded(report bool) {
	m.exitUntil = 0
	if report {
		m.event(Event{Kind: KindExitDelay, Source: m.mode, State: "ended", By: BySystem, Reason: "armed"})
	}
	for _, name := range m.cfg.order {
		s := m.sensors[name]
		if s.cfg.arms(m.mode) && s.active && s.bypass == "" {
			m.armedActive(s, "active when the exit delay ended")
		}
	}
}

func (m *Machine) disarm(o Origin) {
	if m.mode == Disarmed {
		return
	}
	attrs := map[string]any{"from": m.mode}
	if m.entryBy != "" {
		attrs["entry_delay_of"] = m.entryBy
	}
	m.stopSound("disarmed", o, false)
	from := m.mode
	m.mode, m.since, m.origin = Disarmed, m.now.Wall, o
	m.exitUntil, m.entryBy, m.entryTill = 0, "", 0
	m.recent = m.recent[:0]
	for _, name := range m.cfg.order {
		s := m.sensors[name]
		switch s.bypass {
		case BypassManual, BypassAuto, BypassTrigger:
			m.unbypass(s, "disarmed")
		}
	}
	m.resetSwinger("disarmed")
	// Disarming ends the arming period for the outputs too: a lockout
	// after repeated cut-offs is cleared (output.Request.Reset).
	for _, name := range m.cfg.outputs {
		m.act(name, output.Request{On: false, Reset: true, Reason: "disarmed by " + o.String(), User: o.User})
	}
	m.eff.Save = true
	attrs["from"] = from
	m.event(Event{Kind: KindMode, Source: Disarmed, State: Disarmed, By: o.By, User: o.User, Reason: o.Reason, Attrs: attrs})
	m.feedback(o, 2)
}

func (m *Machine) feedback(o Origin, chirps int) {
	f := m.cfg.Feedback
	if f == nil || !m.cfg.feedback[o.By] || m.testUntil != 0 {
		return // nothing sounds in test mode
	}
	if m.sounding(f.Output) {
		return // a chirp would end the sounding alarm
	}
	m.act(f.Output, output.Request{On: true, Pattern: output.Pattern{Kind: output.Chirp, Count: chirps}, Reason: fmt.Sprintf("arming feedback (%d)", chirps)})
}

// sounding reports whether the sounding alarm drives output name.
func (m *Machine) sounding(name string) bool {
	if m.trig == nil {
		return false
	}
	for _, u := range m.trig.uses {
		if u.Output == name {
			return true
		}
	}
	return false
}

// Silence ("Tắt còi") stops a sounding alarm's outputs without disarming:
// the mode stays, and the sensors that triggered and are still active are
// bypassed until they close. Nothing sounding is not an error.
func (m *Machine) Silence(o Origin, now Instant) Effects {
	m.begin(now)
	if m.trig != nil {
		m.event(Event{Kind: KindSilence, Source: m.mode, State: m.mode, By: o.By, User: o.User, Reason: join("siren silenced; the mode stays "+m.mode, o.Reason)})
		m.stopSound("silenced by "+o.String(), o, true)
	}
	return m.end()
}

// Bypass bypasses (on) or restores (off) a sensor by command; a manual
// bypass lasts until lifted or until the site is disarmed.
func (m *Machine) Bypass(sensor string, on bool, o Origin, now Instant) (Effects, error) {
	s, ok := m.sensors[sensor]
	if !ok {
		return Effects{}, fmt.Errorf("sensor %q: %w", sensor, ErrUnknownSensor)
	}
	m.begin(now)
	switch {
	case on && s.bypass != BypassManual:
		m.bypass(s, BypassManual, join("bypassed by "+o.String(), o.Reason), o)
	case !on && s.bypass != "":
		kind := s.bypass
		s.bypass, s.bypassReason = "", ""
		if kind == BypassChatter {
			s.chatter, s.fires = false, nil
		}
		// A person returning a sensor to service is the manual reset of
		// swinger shutdown (CP-01): its count starts again.
		s.trips = 0
		if kind == BypassSwinger {
			m.event(Event{Kind: KindTrouble, Source: sensor, State: "inactive", By: o.By, User: o.User, Reason: "swinger shutdown ended: restored by " + o.String(), Attrs: map[string]any{"trouble": "swinger"}})
		}
		m.eff.Save = true
		m.event(Event{Kind: KindBypass, Source: sensor, State: "off", By: o.By, User: o.User, Reason: join("restored by "+o.String(), o.Reason), Attrs: map[string]any{"bypass": kind}})
		// Restored while tripped: it counts now (never in test mode, which
		// sounds nothing; FuzzMachine found a restored tamper sounding there).
		if s.active && m.testUntil == 0 {
			m.activated(s)
		}
	}
	return m.end(), nil
}

// Test starts (on) or ends the installer's test mode. It starts only when
// disarmed: inputs then give walk_test events marked test and never sound
// anything, until it ends, the site is armed, or TestTime passes.
func (m *Machine) Test(on bool, o Origin, now Instant) (Effects, error) {
	m.begin(now)
	switch {
	case on && m.mode != Disarmed:
		return m.end(), fmt.Errorf("test mode: %w (mode is %s): disarm first", ErrNotDisarmed, m.mode)
	case on:
		if m.testUntil == 0 {
			m.event(Event{Kind: KindTestMode, State: "on", Test: true, By: o.By, User: o.User, Reason: join("installer test mode", o.Reason), Attrs: map[string]any{"until": m.now.Wall.Add(m.cfg.TestTime)}})
		}
		m.testUntil, m.testBy = m.now.Mono+m.cfg.TestTime, o
	case m.testUntil != 0:
		m.endTest("ended by "+o.String(), o)
	}
	return m.end(), nil
}

func (m *Machine) endTest(reason string, o Origin) {
	m.testUntil = 0
	m.event(Event{Kind: KindTestMode, State: "off", Test: true, By: o.By, User: o.User, Reason: reason})
}

// TestOutput pulses an output for output.TestPulse, marked test. Like the
// walk test it is for a disarmed site: armed, or while a 24-hour zone
// sounds, it is refused (a one-second request would shorten the sounding
// activation: a silence by another name).
func (m *Machine) TestOutput(name string, o Origin, now Instant) (Effects, error) {
	m.begin(now)
	switch {
	case m.mode != Disarmed:
		return m.end(), fmt.Errorf("output test: %w (mode is %s): disarm first", ErrNotDisarmed, m.mode)
	case m.trig != nil:
		return m.end(), fmt.Errorf("output test: an alarm sounds (%s): silence it first", strings.Join(m.trig.sensors, ", "))
	}
	m.act(name, output.Request{On: true, For: output.TestPulse, Reason: "output test by " + o.String(), User: o.User, Test: true})
	return m.end(), nil
}

// Tick handles every deadline due at now: exit and entry delays, the end of
// the trigger time, supervision, the end of test mode and the schedule.
func (m *Machine) Tick(now Instant) Effects {
	m.begin(now)
	t := now.Mono
	if m.exitUntil != 0 && t >= m.exitUntil {
		m.exitEnded(true)
	}
	if m.entryBy != "" && t >= m.entryTill {
		name := m.entryBy
		m.entryBy, m.entryTill = "", 0
		m.intrusion(name, "entry delay over")
	}
	if m.trig != nil && t >= m.trig.until {
		m.stopSound(fmt.Sprintf("trigger time %s over; armed again", m.cfg.TriggerTime), Origin{By: BySystem}, true)
	}
	if m.testUntil != 0 && t >= m.testUntil {
		m.endTest("test time over", Origin{By: BySystem})
	}
	for _, name := range m.cfg.order {
		s := m.sensors[name]
		if d := s.cfg.StuckAfter; d > 0 && s.active && !s.stuck && t-s.since >= d {
			s.stuck = true
			reason := fmt.Sprintf("active for longer than %s", d)
			m.event(Event{Kind: KindTrouble, Source: name, State: "active", By: BySystem, Reason: reason, Attrs: map[string]any{"trouble": "stuck"}})
			if s.cfg.BypassOnTrouble && s.bypass == "" {
				m.bypass(s, BypassStuck, reason+"; bypassed until it closes", Origin{By: BySystem})
			}
		}
		if s.trips > 0 && t-s.lastTrip >= SwingerReset && (m.trig == nil || !slices.Contains(m.trig.sensors, name)) {
			s.trips = 0
			m.eff.Save = true
			if s.bypass == BypassSwinger {
				reason := fmt.Sprintf("quiet for %s", SwingerReset)
				m.event(Event{Kind: KindTrouble, Source: name, State: "inactive", By: BySystem, Reason: "swinger shutdown ended: " + reason, Attrs: map[string]any{"trouble": "swinger"}})
				m.unbypass(s, reason)
			}
		}
		if s.chatter && len(s.fires) > 0 && t-s.fires[len(s.fires)-1] >= SupervisionWindow {
			s.chatter, s.fires = false, nil
			m.event(Event{Kind: KindTrouble, Source: name, State: "inactive", By: BySystem, Reason: "quiet for an hour"})
			if s.bypass == BypassChatter {
				m.unbypass(s, "quiet for an hour")
			}
		}
	}
	m.schedule()
	return m.end()
}

// schedule applies the latest schedule entry due since the last one
// applied. It waits for a synced wall clock (a board without RTC reads
// 1970 until NTP answers); at a fresh install nothing in the past applies,
// after a restart the entry missed while down does.
func (m *Machine) schedule() {
	sc := m.cfg.sched
	if sc == nil || !m.now.Synced {
		return
	}
	if m.schedDone.IsZero() {
		m.schedDone = m.now.Wall
		m.eff.Save = true
		return
	}
	at, e, ok := sc.latest(m.now.Wall)
	if !ok || !at.After(m.schedDone) {
		return
	}
	m.schedDone = at
	m.eff.Save = true
	o := Origin{By: BySchedule, Reason: "schedule " + e.text}
	if e.mode == m.mode {
		return
	}
	// A refusal (a door left open) is an arming_refused event with the
	// schedule as origin; it is not retried before the next entry.
	_ = m.arm(e.mode, o)
}

// Next returns when Tick is next due: by uptime (delays, supervision) and
// by wall time (the schedule); ok false for either means none.
func (m *Machine) Next() (mono time.Duration, monoOK bool, wall time.Time, wallOK bool) {
	take := func(d time.Duration) {
		if d != 0 && (!monoOK || d < mono) {
			mono, monoOK = d, true
		}
	}
	take(m.exitUntil)
	take(m.entryTill)
	if m.trig != nil {
		take(m.trig.until)
	}
	take(m.testUntil)
	for _, s := range m.sensors {
		if s.cfg.StuckAfter > 0 && s.active && !s.stuck {
			take(max(s.since+s.cfg.StuckAfter, 1))
		}
		if s.chatter && len(s.fires) > 0 {
			take(s.fires[len(s.fires)-1] + SupervisionWindow)
		}
		if s.trips > 0 {
			take(max(s.lastTrip+SwingerReset, 1))
		}
	}
	if sc := m.cfg.sched; sc != nil && m.now.Synced {
		after := m.now.Wall
		if m.schedDone.After(after) {
			after = m.schedDone
		}
		if m.schedDone.IsZero() {
			return mono, monoOK, m.now.Wall, true
		}
		wall, _, wallOK = sc.next(after)
	}
	return mono, monoOK, wall, wallOK
}

// Status is a snapshot of the logic for /api/status.
type Status struct {
	Mode         string            `json:"mode"`
	Since        time.Time         `json:"since,omitzero"`
	Origin       Origin            `json:"origin"`
	Phase        string            `json:"phase"` // disarmed, exit_delay, armed, entry_delay, triggered
	Until        time.Time         `json:"until,omitzero"`
	EntrySensor  string            `json:"entry_sensor,omitempty"`
	Triggered    []string          `json:"triggered,omitempty"`
	Bypassed     map[string]string `json:"bypassed,omitempty"`
	Trouble      []string          `json:"trouble,omitempty"`
	Test         bool              `json:"test"`
	NextSchedule time.Time         `json:"next_schedule,omitzero"`
}

// Status returns a snapshot at now.
func (m *Machine) Status(now Instant) Status {
	st := Status{Mode: m.mode, Since: m.since, Origin: m.origin, Phase: m.mode, Test: m.testUntil != 0}
	at := func(d time.Duration) time.Time { return now.Wall.Add(d - now.Mono) }
	switch {
	case m.trig != nil:
		st.Phase, st.Until, st.Triggered = "triggered", at(m.trig.until), m.trig.sensors
	case m.entryBy != "":
		st.Phase, st.Until, st.EntrySensor = "entry_delay", at(m.entryTill), m.entryBy
	case m.exitUntil != 0:
		st.Phase, st.Until = "exit_delay", at(m.exitUntil)
	case m.mode != Disarmed:
		st.Phase = "armed"
	}
	for _, name := range m.cfg.order {
		s := m.sensors[name]
		if s.bypass != "" {
			if st.Bypassed == nil {
				st.Bypassed = map[string]string{}
			}
			st.Bypassed[name] = s.bypass
		}
		if s.stuck || s.chatter {
			st.Trouble = append(st.Trouble, name)
		}
	}
	if sc := m.cfg.sched; sc != nil && now.Synced {
		st.NextSchedule, _, _ = sc.next(now.Wall)
	}
	return st
}
