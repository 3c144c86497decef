package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/output"
)

// Alarm is the alarm logic's configuration: the alarm: section and the
// alarm keys of each sensor, as device/alarm takes it.
type Alarm struct {
	// Enabled is set when the file has an alarm: section or any sensor
	// carries an alarm key; without it the gateway runs no alarm logic.
	Enabled bool `json:"enabled"`
	// Config is what alarm.New takes; Config.Sensors lines up with
	// Config.Sensors of the file, one entry per sensor.
	Config alarm.Config `json:"-"`
}

// The alarm keys a sensor entry may carry (docs/alarm.md).
var sensorAlarmKeys = []string{"modes", "entry_delay", "always", "silent", "chime", "auto_bypass",
	"keyswitch", "stuck_after", "max_per_hour", "bypass_on_trouble"}

// alarmLines maps key paths of the alarm section to their lines, so the
// errors of alarm.Validate (which name keys, not lines) get a line too.
type alarmLines struct {
	lines   map[string]int
	sensors []*fields // the fields of cfg.Sensors[i]
}

func (l *alarmLines) note(f *fields) {
	if l.lines == nil {
		l.lines = map[string]int{}
	}
	l.lines[f.path] = f.keyLine
	for k := range f.vals {
		l.lines[f.key(k)] = f.line(k)
	}
}

// sensorAlarm reads the alarm keys of one sensor entry.
func (d *decoder) sensorAlarm(cfg *Config, f *fields, s Sensor) {
	a := alarm.Sensor{Name: s.Name, Kind: s.Kind}
	for _, k := range sensorAlarmKeys {
		if f.has(k) {
			cfg.Alarm.Enabled = true
		}
	}
	a.Modes, _ = f.strList("modes")
	f.duration("entry_delay", &a.EntryDelay)
	f.boolean("always", &a.Always)
	f.boolean("silent", &a.Silent)
	f.boolean("chime", &a.Chime)
	f.boolean("auto_bypass", &a.AutoBypass)
	if s.Kind == alarm.KindKeyswitch {
		a.Keyswitch = alarm.Away
		cfg.Alarm.Enabled = true
	}
	f.str("keyswitch", &a.Keyswitch)
	f.duration("stuck_after", &a.StuckAfter)
	f.integer("max_per_hour", &a.MaxPerHour)
	f.boolean("bypass_on_trouble", &a.BypassOnTrouble)
	cfg.Alarm.Config.Sensors = append(cfg.Alarm.Config.Sensors, a)
	d.alarmLines.sensors = append(d.alarmLines.sensors, f)
}

// alarmSection reads alarm: and then checks the whole alarm configuration
// with alarm.Validate, against the outputs configured.
func (d *decoder) alarmSection(cfg *Config, top *fields) {
	ac := &cfg.Alarm.Config
	ac.Zone = cfg.Gateway.Location
	var af *fields // the alarm: section, for warnings
	if top.has("alarm") {
		cfg.Alarm.Enabled = true
		f := d.mapping(top.vals["alarm"], "alarm", top.keyLineOf("alarm"),
			"modes", "trigger", "trigger_time", "confirm", "chime", "feedback", "schedule", "test_time", "supervision", "swinger_limit")
		d.alarmLines.note(f)
		af = f
		f.duration("trigger_time", &ac.TriggerTime)
		f.duration("confirm", &ac.Confirm)
		f.duration("test_time", &ac.TestTime)
		f.integer("swinger_limit", &ac.SwingerLimit)
		ac.Trigger = d.uses(f, "trigger")
		ac.Chime = d.uses(f, "chime")
		for _, m := range d.items(f, "modes", "name", "exit_delay", "trigger") {
			d.alarmLines.note(m)
			mode := alarm.Mode{Name: "", ExitDelay: -1}
			m.str("name", &mode.Name)
			if !m.duration("exit_delay", &mode.ExitDelay) {
				// Left out: the built-in default (away 30 s, others 0).
				mode.ExitDelay = 0
				if mode.Name == alarm.Away {
					mode.ExitDelay = alarm.DefaultAwayExit
				}
			}
			mode.Trigger = d.uses(m, "trigger")
			ac.Modes = append(ac.Modes, mode)
		}
		if f.has("feedback") {
			fb := d.mapping(f.vals["feedback"], "alarm.feedback", f.keyLineOf("feedback"), "output", "origins")
			d.alarmLines.note(fb)
			ac.Feedback = &alarm.Feedback{}
			if !fb.str("output", &ac.Feedback.Output) && fb.missing("output") {
				fb.errf("output", "is required (the output that chirps, like buzzer)")
			}
			if fb.has("origins") {
				ac.Feedback.Origins, _ = fb.strList("origins")
				if ac.Feedback.Origins == nil {
					ac.Feedback.Origins = []string{}
				}
			}
		}
		if f.has("schedule") {
			sf := d.mapping(f.vals["schedule"], "alarm.schedule", f.keyLineOf("schedule"), "entries", "holidays")
			d.alarmLines.note(sf)
			var hl []int
			ac.Schedule.Holidays, hl = sf.strList("holidays")
			for i, l := range hl {
				d.alarmLines.lines[fmt.Sprintf("alarm.schedule.holidays[%d]", i)] = l
			}
			for _, ef := range d.items(sf, "entries", "days", "at", "mode") {
				d.alarmLines.note(ef)
				var e alarm.Entry
				e.Days, _ = ef.strList("days")
				if !ef.str("at", &e.At) && ef.missing("at") {
					ef.errf("at", `is required (a time of day, like at: "17:30")`)
				}
				if !ef.str("mode", &e.Mode) && ef.missing("mode") {
					ef.errf("mode", "is required (disarmed, away, home, night or a configured mode)")
				}
				ac.Schedule.Entries = append(ac.Schedule.Entries, e)
			}
		}
		if f.has("supervision") {
			sv := d.mapping(f.vals["supervision"], "alarm.supervision", f.keyLineOf("supervision"), "stuck_after", "max_per_hour", "bypass_on_trouble")
			var stuck time.Duration
			var perHour int
			var byp bool
			sv.duration("stuck_after", &stuck)
			sv.integer("max_per_hour", &perHour)
			sv.boolean("bypass_on_trouble", &byp)
			// Defaults for the sensors that set none of their own.
			for i := range ac.Sensors {
				s, sf := &ac.Sensors[i], d.alarmLines.sensors[i]
				if s.Kind == alarm.KindKeyswitch {
					continue
				}
				if !sf.has("stuck_after") {
					s.StuckAfter = stuck
				}
				if !sf.has("max_per_hour") {
					s.MaxPerHour = perHour
				}
				if !sf.has("bypass_on_trouble") {
					s.BypassOnTrouble = byp && (s.StuckAfter > 0 || s.MaxPerHour > 0)
				}
			}
		}
	}
	if len(d.probs) > 0 {
		return // alarm.Validate would repeat what is already reported
	}
	known := map[string]bool{}
	for _, o := range cfg.Outputs {
		known[o.Name] = true
	}
	if cfg.Alarm.Enabled && ac.Trigger == nil {
		// Left out: an alarm drives every output that chime and feedback
		// do not use (a siren and a strobe), steady.
		used := map[string]bool{}
		for _, u := range ac.Chime {
			used[u.Output] = true
		}
		if ac.Feedback != nil {
			used[ac.Feedback.Output] = true
		}
		for _, o := range cfg.Outputs {
			if !used[o.Name] {
				ac.Trigger = append(ac.Trigger, alarm.Use{Output: o.Name, Pattern: o.Pattern})
			}
		}
	}
	if err := alarm.Validate(*ac, func(n string) bool { return known[n] }); err != nil {
		d.alarmError(err)
		return
	}
	if af != nil {
		warnCutOff(af, cfg, ac)
	}
}

// warnCutOff warns when the trigger time is longer than the max_on of an
// output it drives: that output is then cut off in every alarm, and its
// third cut-off within an hour locks it out (docs/alarm.md, "Cut-off").
func warnCutOff(f *fields, cfg *Config, ac *alarm.Config) {
	trig := ac.TriggerTime
	if trig == 0 {
		trig = alarm.DefaultTriggerTime
	}
	maxOn := map[string]time.Duration{}
	cuts := map[string]int{}
	for _, o := range cfg.Outputs {
		maxOn[o.Name] = o.MaxOn
		cuts[o.Name] = o.MaxCutOffs
		if cuts[o.Name] == 0 {
			cuts[o.Name] = output.DefaultMaxCutOffs
		}
	}
	uses := slices.Clone(ac.Trigger)
	for _, m := range ac.Modes {
		uses = append(uses, m.Trigger...)
	}
	warned := map[string]bool{}
	for _, u := range uses {
		if m := maxOn[u.Output]; m > 0 && trig > m && !warned[u.Output] {
			warned[u.Output] = true
			f.warnf("trigger_time", "%s is longer than the max_on %s of output %q: it is cut off in every alarm, and the %s cut-off within an hour locks it out until disarmed", trig, m, u.Output, ordinal(cuts[u.Output]))
		}
	}
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return strconv.Itoa(n) + "th"
}

// uses reads a list of {output, pattern}.
func (d *decoder) uses(f *fields, key string) []alarm.Use {
	var out []alarm.Use
	for _, u := range d.items(f, key, "output", "pattern") {
		d.alarmLines.note(u)
		var use alarm.Use
		if !u.str("output", &use.Output) && u.missing("output") {
			u.errf("output", "is required (the name of an output, like siren)")
		}
		var p string
		if u.str("pattern", &p) {
			pat, err := output.ParsePattern(p)
			if err != nil {
				u.errf("pattern", "%v", err)
			}
			use.Pattern = pat
		}
		out = append(out, use)
	}
	return out
}

var (
	alarmSensorErrRE = regexp.MustCompile(`^alarm\.sensors\[(\d+)\] "[^"]*": (?:([a-z_]+): )?(.*)$`)
	alarmKeyErrRE    = regexp.MustCompile(`^(alarm[a-z_0-9.\[\]]*): (.*)$`)
)

// alarmError turns an error of alarm.Validate, which names a key path,
// into a problem with that key's line.
func (d *decoder) alarmError(err error) {
	msg := err.Error()
	if m := alarmSensorErrRE.FindStringSubmatch(msg); m != nil {
		i, _ := strconv.Atoi(m[1])
		if i < len(d.alarmLines.sensors) {
			f := d.alarmLines.sensors[i]
			if m[2] != "" && slices.Contains(sensorAlarmKeys, m[2]) {
				f.errf(m[2], "%s", m[3])
			} else {
				rest := m[3]
				if m[2] != "" {
					rest = m[2] + ": " + rest
				}
				d.add(f.keyLine, f.path, "%s", rest)
			}
			return
		}
	}
	if m := alarmKeyErrRE.FindStringSubmatch(msg); m != nil {
		// The longest known prefix of the key gives the line.
		for k := m[1]; k != ""; {
			if l, ok := d.alarmLines.lines[k]; ok {
				d.add(l, m[1], "%s", m[2])
				return
			}
			j := strings.LastIndexAny(k, ".[")
			if j < 0 {
				break
			}
			k = k[:j]
		}
		d.add(0, m[1], "%s", m[2])
		return
	}
	d.add(0, "alarm", "%s", msg)
}

// outputAlarm reads an output's rest and pattern and checks it as
// device/output will (max_on against the hard ceiling).
func (d *decoder) outputAlarm(f *fields, o *Output) {
	f.duration("rest", &o.Rest)
	if f.integer("max_cut_offs", &o.MaxCutOffs) && (o.MaxCutOffs < 1 || o.MaxCutOffs > output.MaxMaxCutOffs) {
		f.errf("max_cut_offs", "%d is out of range; use 1-%d (cut-offs within an hour before the output locks out)", o.MaxCutOffs, output.MaxMaxCutOffs)
	}
	var p string
	if f.str("pattern", &p) {
		pat, err := output.ParsePattern(p)
		if err != nil {
			f.errf("pattern", "%v", err)
		}
		o.Pattern = pat
	}
	if o.Name == "" {
		return
	}
	err := output.Config{Name: o.Name, MaxOn: o.MaxOn, Rest: o.Rest}.Validate()
	if err == nil {
		return
	}
	// "output \"siren\": max_on: ..." names the key.
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, `": `); ok {
		if k, m, ok := strings.Cut(rest, ": "); ok && f.has(k) {
			f.errf(k, "%s", m)
			return
		}
	}
	d.add(f.keyLine, f.path, "%s", msg)
}

// redactSensorAlarm prints sensor i's alarm keys (Redacted), only those set.
func (c *Config) redactSensorAlarm(m *mapNode, i int) {
	if i >= len(c.Alarm.Config.Sensors) {
		return
	}
	a := c.Alarm.Config.Sensors[i]
	if len(a.Modes) > 0 {
		m.strs("modes", a.Modes)
	}
	if a.EntryDelay > 0 {
		m.dur("entry_delay", a.EntryDelay)
	}
	for _, b := range []struct {
		k string
		v bool
	}{{"always", a.Always}, {"silent", a.Silent}, {"chime", a.Chime}, {"auto_bypass", a.AutoBypass}, {"bypass_on_trouble", a.BypassOnTrouble}} {
		if b.v {
			m.bool(b.k, true)
		}
	}
	m.strOpt("keyswitch", a.Keyswitch)
	if a.StuckAfter > 0 {
		m.dur("stuck_after", a.StuckAfter)
	}
	if a.MaxPerHour > 0 {
		m.int("max_per_hour", a.MaxPerHour)
	}
}

// redactOutputAlarm prints an output's driver, rest and pattern (Redacted).
func redactOutputAlarm(m *mapNode, o Output) {
	m.str("driver", o.Driver)
	if o.Rest > 0 {
		m.dur("rest", o.Rest)
	}
	if o.MaxCutOffs > 0 {
		m.int("max_cut_offs", o.MaxCutOffs)
	}
	if o.Pattern != (output.Pattern{}) {
		m.str("pattern", o.Pattern.String())
	}
}

// redactAlarm prints the alarm: section with what it resolved to (the
// default trigger included), when the alarm is on.
func (c *Config) redactAlarm(root *mapNode) {
	if !c.Alarm.Enabled {
		return
	}
	ac := c.Alarm.Config
	am := root.mapping("alarm")
	uses := func(on *mapNode, k string, us []Use) {
		if len(us) == 0 {
			return
		}
		l := on.list(k)
		for _, u := range us {
			um := l.mapping()
			um.n.Style = yaml.FlowStyle
			um.str("output", u.Output)
			if u.Pattern != (output.Pattern{}) {
				um.str("pattern", u.Pattern.String())
			}
		}
	}
	if ac.TriggerTime > 0 {
		am.dur("trigger_time", ac.TriggerTime)
	}
	if ac.Confirm > 0 {
		am.dur("confirm", ac.Confirm)
	}
	if ac.TestTime > 0 {
		am.dur("test_time", ac.TestTime)
	}
	if ac.SwingerLimit > 0 {
		am.int("swinger_limit", ac.SwingerLimit)
	}
	uses(am, "trigger", ac.Trigger)
	uses(am, "chime", ac.Chime)
	if f := ac.Feedback; f != nil {
		fm := am.mapping("feedback")
		fm.str("output", f.Output)
		if f.Origins != nil {
			fm.strs("origins", f.Origins)
		}
	}
	if len(ac.Modes) > 0 {
		l := am.list("modes")
		for _, md := range ac.Modes {
			mm := l.mapping()
			mm.str("name", md.Name)
			mm.dur("exit_delay", md.ExitDelay)
			uses(mm, "trigger", md.Trigger)
		}
	}
	if len(ac.Schedule.Entries) > 0 || len(ac.Schedule.Holidays) > 0 {
		sm := am.mapping("schedule")
		if len(ac.Schedule.Entries) > 0 {
			l := sm.list("entries")
			for _, e := range ac.Schedule.Entries {
				em := l.mapping()
				em.n.Style = yaml.FlowStyle
				em.strs("days", e.Days)
				em.str("at", e.At)
				em.str("mode", e.Mode)
			}
		}
		if len(ac.Schedule.Holidays) > 0 {
			sm.strs("holidays", ac.Schedule.Holidays)
		}
	}
}

// Use is alarm.Use, named here for redactAlarm.
type Use = alarm.Use
