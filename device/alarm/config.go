package alarm

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/antt-gateway/antt/device/output"
)

// The built-in modes; more may be named in Config.Modes.
const (
	Disarmed = "disarmed"
	Away     = "away"
	Home     = "home"
	Night    = "night"
)

// Defaults for what Config leaves zero.
const (
	DefaultTriggerTime = 3 * time.Minute
	DefaultAwayExit    = 30 * time.Second
	DefaultTestTime    = 30 * time.Minute
	// SupervisionWindow is the window MaxPerHour counts in, and how long a
	// chattering sensor must stay quiet before its trouble ends.
	SupervisionWindow = time.Hour
	// MaxDelay bounds exit and entry delays: longer is a mistake, and a
	// site nobody watches.
	MaxDelay = 10 * time.Minute
	// DefaultSwingerLimit is how many alarms one sensor may sound in one
	// arming period before swinger shutdown bypasses it: two, the default
	// of ANSI/SIA CP-01 (4.3.2), which allows one to six.
	DefaultSwingerLimit = 2
	// MaxSwingerLimit bounds Config.SwingerLimit (CP-01's six).
	MaxSwingerLimit = 6
	// SwingerReset: a sensor quiet this long has its count and its
	// swinger bypass cleared (CP-01: eight hours or more).
	SwingerReset = 8 * time.Hour
)

// KindKeyswitch is a sensor kind only the alarm logic knows: a key switch
// whose active state arms Sensor.Keyswitch and whose inactive state disarms.
const KindKeyswitch = "keyswitch"

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Config is the alarm logic's configuration (the YAML "alarm:" section and
// the alarm keys of each sensor).
type Config struct {
	// Modes are the armed modes. Away, home and night exist without being
	// listed (away with a 30 s exit delay, the others with none); listing
	// one changes it, any other name adds a custom mode.
	Modes   []Mode
	Sensors []Sensor
	// Trigger is what an alarm drives (a siren steady, a strobe pulsing)
	// unless the mode or a 24-hour sensor names its own.
	Trigger []Use
	// TriggerTime is how long the outputs of an alarm stay on before the
	// site goes back to armed; default 3 min. Each output's own max_on
	// still bounds it.
	TriggerTime time.Duration
	// Confirm, when set, makes an alarm sound only when two different
	// sensors trip within it; a single one is reported as unconfirmed.
	Confirm time.Duration
	// Chime is what a chime sensor drives while disarmed (a chirp).
	Chime []Use
	// Feedback chirps an output on mode changes (1 armed, 2 disarmed, 3
	// refused) for the origins listed.
	Feedback *Feedback
	Schedule Schedule
	// Zone is the site's time zone for schedules; nil means UTC.
	Zone *time.Location
	// TestTime ends an installer's test mode by itself; default 30 min.
	TestTime time.Duration
	// SwingerLimit is how many alarms one sensor may sound in one arming
	// period (armed until disarmed, or disarmed until armed, for a 24-hour
	// zone); the last one sounds, then the sensor is bypassed with a
	// trouble event until the period ends or it is quiet for SwingerReset.
	// 0 means DefaultSwingerLimit.
	SwingerLimit int
}

// Mode is one armed mode.
type Mode struct {
	Name      string
	ExitDelay time.Duration
	Trigger   []Use // nil: Config.Trigger
}

// Use is one output driven with a pattern.
type Use struct {
	Output  string
	Pattern output.Pattern
}

// Sensor is the alarm side of one input.
type Sensor struct {
	Name string
	Kind string // motion, contact, tamper, panic, keyswitch
	// Modes lists the armed modes in which the sensor arms.
	Modes []string
	// EntryDelay > 0 lets a person reach the keypad or key switch (a door);
	// 0 alarms at once (a PIR inside).
	EntryDelay time.Duration
	// Always makes a 24-hour zone (tamper, panic): it alarms in every
	// mode, disarmed too, at once.
	Always bool
	// Silent (with Always) reports the alarm and sounds nothing.
	Silent bool
	// Chime beeps while disarmed.
	Chime bool
	// AutoBypass: open when arming, it is bypassed (until it closes)
	// instead of refusing the arming.
	AutoBypass bool
	// Keyswitch is the mode a keyswitch input arms.
	Keyswitch string
	// StuckAfter: active longer than this raises trouble.
	StuckAfter time.Duration
	// MaxPerHour: more activations than this in an hour raise trouble.
	MaxPerHour int
	// BypassOnTrouble bypasses the sensor while its trouble lasts.
	BypassOnTrouble bool
	// Trigger is what this 24-hour sensor drives; nil: Config.Trigger.
	Trigger []Use
}

// Feedback configures arming chirps.
type Feedback struct {
	Output string
	// Origins that get chirps; nil means keyswitch and installer (a
	// remote arming at night must not wake the street).
	Origins []string
}

// Schedule arms and disarms by the clock, in Config.Zone.
type Schedule struct {
	Entries []Entry
	// Holidays are dates (2006-01-02) on which entries for weekdays do
	// not apply; entries listing "holiday" apply instead.
	Holidays []string
}

// Entry is one scheduled mode change.
type Entry struct {
	Days []string // mon … sun, weekdays (mon-fri), weekend (sat, sun), every, holiday
	At   string   // HH:MM, 24-hour, local time
	Mode string   // the mode to set (disarmed to disarm)
}

// compiled is a validated Config with defaults applied.
type compiled struct {
	Config
	modes    map[string]*Mode
	sensors  map[string]*Sensor
	order    []string // sensor names as configured
	feedback map[string]bool
	sched    *schedule
	outputs  []string // every output an alarm may drive, for the reset at disarm
}

// Validate checks cfg; known reports whether an output exists (nil skips
// that check). Errors name the key, e.g. `alarm.sensors[2] "gate": modes:
// unknown mode "awy"`.
func Validate(cfg Config, known func(string) bool) error {
	_, err := compile(cfg, known)
	return err
}

func compile(cfg Config, known func(string) bool) (*compiled, error) {
	c := &compiled{Config: cfg, modes: map[string]*Mode{}, sensors: map[string]*Sensor{}}
	if c.TriggerTime == 0 {
		c.TriggerTime = DefaultTriggerTime
	}
	if c.TriggerTime < 0 || c.TriggerTime > output.HardMaxOn {
		return nil, fmt.Errorf("alarm.trigger_time: %s is not between 0 and %s", c.TriggerTime, output.HardMaxOn)
	}
	if c.Confirm < 0 || c.Confirm > time.Hour {
		return nil, fmt.Errorf("alarm.confirm: %s is not between 0 and 1h", c.Confirm)
	}
	if c.TestTime == 0 {
		c.TestTime = DefaultTestTime
	}
	if c.TestTime < 0 || c.TestTime > 24*time.Hour {
		return nil, fmt.Errorf("alarm.test_time: %s is not between 0 and 24h", c.TestTime)
	}
	if c.Zone == nil {
		c.Zone = time.UTC
	}
	if c.SwingerLimit == 0 {
		c.SwingerLimit = DefaultSwingerLimit
	}
	if c.SwingerLimit < 1 || c.SwingerLimit > MaxSwingerLimit {
		return nil, fmt.Errorf("alarm.swinger_limit: %d is not between 1 and %d", c.SwingerLimit, MaxSwingerLimit)
	}
	checkUses := func(key string, uses []Use) error {
		for i, u := range uses {
			if u.Output == "" {
				return fmt.Errorf("%s[%d].output: must be set", key, i)
			}
			if known != nil && !known(u.Output) {
				return fmt.Errorf("%s[%d].output: unknown output %q", key, i, u.Output)
			}
			if err := u.Pattern.Validate(); err != nil {
				return fmt.Errorf("%s[%d].pattern: %v", key, i, err)
			}
			if !slices.Contains(c.outputs, u.Output) {
				c.outputs = append(c.outputs, u.Output)
			}
		}
		return nil
	}
	if err := checkUses("alarm.trigger", c.Trigger); err != nil {
		return nil, err
	}
	if err := checkUses("alarm.chime", c.Chime); err != nil {
		return nil, err
	}
	for _, m := range []Mode{{Name: Away, ExitDelay: DefaultAwayExit}, {Name: Home}, {Name: Night}} {
		c.modes[m.Name] = &m
	}
	seen := map[string]bool{}
	for i, m := range c.Modes {
		key := fmt.Sprintf("alarm.modes[%d]", i)
		if !nameRE.MatchString(m.Name) || m.Name == Disarmed {
			return nil, fmt.Errorf("%s.name: %q must match [a-z0-9][a-z0-9_-]* and not be %q", key, m.Name, Disarmed)
		}
		if seen[m.Name] {
			return nil, fmt.Errorf("%s.name: mode %q listed twice", key, m.Name)
		}
		seen[m.Name] = true
		if m.ExitDelay < 0 || m.ExitDelay > MaxDelay {
			return nil, fmt.Errorf("%s.exit_delay: %s is not between 0 and %s", key, m.ExitDelay, MaxDelay)
		}
		if err := checkUses(key+".trigger", m.Trigger); err != nil {
			return nil, err
		}
		c.modes[m.Name] = &m
	}
	for i, s := range c.Sensors {
		key := fmt.Sprintf("alarm.sensors[%d] %q", i, s.Name)
		if s.Name == "" {
			return nil, fmt.Errorf("alarm.sensors[%d].name: must be set", i)
		}
		if _, dup := c.sensors[s.Name]; dup {
			return nil, fmt.Errorf("%s: sensor listed twice", key)
		}
		for _, m := range s.Modes {
			if _, ok := c.modes[m]; !ok {
				return nil, fmt.Errorf("%s: modes: unknown mode %q (modes: %s)", key, m, strings.Join(c.modeNames(), ", "))
			}
		}
		if s.EntryDelay < 0 || s.EntryDelay > MaxDelay {
			return nil, fmt.Errorf("%s: entry_delay: %s is not between 0 and %s", key, s.EntryDelay, MaxDelay)
		}
		if s.Always && (len(s.Modes) > 0 || s.EntryDelay > 0) {
			return nil, fmt.Errorf("%s: always: a 24-hour zone alarms in every mode at once; drop modes and entry_delay", key)
		}
		if s.Silent && !s.Always {
			return nil, fmt.Errorf("%s: silent: applies only to a 24-hour zone (always: true)", key)
		}
		if s.Kind == KindKeyswitch {
			if _, ok := c.modes[s.Keyswitch]; !ok {
				return nil, fmt.Errorf("%s: keyswitch: %q is not an armed mode (modes: %s)", key, s.Keyswitch, strings.Join(c.modeNames(), ", "))
			}
			if s.Always || len(s.Modes) > 0 || s.Chime || s.EntryDelay > 0 {
				return nil, fmt.Errorf("%s: a keyswitch arms and disarms; it takes no modes, always, chime or entry_delay", key)
			}
		} else if s.Keyswitch != "" {
			return nil, fmt.Errorf("%s: keyswitch: applies only to kind keyswitch", key)
		}
		if s.StuckAfter < 0 || s.MaxPerHour < 0 {
			return nil, fmt.Errorf("%s: supervision: stuck_after and max_per_hour must not be negative", key)
		}
		if s.BypassOnTrouble && s.StuckAfter == 0 && s.MaxPerHour == 0 {
			return nil, fmt.Errorf("%s: bypass_on_trouble: needs stuck_after or max_per_hour", key)
		}
		if err := checkUses(key+".trigger", s.Trigger); err != nil {
			return nil, err
		}
		c.sensors[s.Name] = &s
		c.order = append(c.order, s.Name)
	}
	if f := c.Feedback; f != nil {
		if known != nil && !known(f.Output) {
			return nil, fmt.Errorf("alarm.feedback.output: unknown output %q", f.Output)
		}
		origins := f.Origins
		if origins == nil {
			origins = []string{ByKeyswitch, ByInstaller}
		}
		c.feedback = map[string]bool{}
		for _, o := range origins {
			if !slices.Contains(allOrigins, o) {
				return nil, fmt.Errorf("alarm.feedback.origins: %q is not one of %s", o, strings.Join(allOrigins, ", "))
			}
			c.feedback[o] = true
		}
	}
	sched, err := compileSchedule(c.Schedule, c.Zone, func(m string) bool { _, ok := c.modes[m]; return ok || m == Disarmed })
	if err != nil {
		return nil, err
	}
	c.sched = sched
	return c, nil
}

func (c *compiled) modeNames() []string {
	names := []string{Disarmed}
	for n := range c.modes {
		names = append(names, n)
	}
	slices.Sort(names[1:])
	return names
}

// arms reports whether s is armed in mode.
func (s *Sensor) arms(mode string) bool {
	return !s.Always && s.Kind != KindKeyswitch && slices.Contains(s.Modes, mode)
}
