// Package output drives the gateway's switched outputs (siren, strobe,
// relay, electric lock) and holds their cut-off.
//
// The contract lives apart from the drivers, as in periph.io's conn/host
// split: Line is one switchable line; GPIO drives a periph.io gpio.PinOut
// with its active level, Sim only records and logs (demo, tests), and
// package outputtest holds a recording fake and a fake boot clock.
//
// An Output sits between every caller (a command, a rule, the alarm logic)
// and its Line. Guarantees:
//
//   - Cut-off: an activation (from an on request while off, to off) never
//     lasts longer than Config.MaxOn, which cannot exceed HardMaxOn. Further
//     on requests extend or change an activation but never move its cut-off.
//     A cut-off is an activation ended by MaxOn while its caller wanted it
//     longer; one that ends at the time asked for is not.
//   - New activations sound again: after a cut-off the next on request
//     starts a new activation at once (a new intrusion must be heard),
//     unless Config.Rest (default 0) asks for a pause, refused with
//     ErrResting. What stops a runaway caller is the lockout: the
//     Config.MaxCutOffs-th cut-off within CutOffWindow locks the output out
//     for LockoutTime (on refused with ErrLockedOut, reported as a Change
//     with Lockout "on"), until an off request with Reset (the site
//     disarmed, a person switching it off) clears it. The cut-offs of the
//     last hour and the lockout are in the record, so reboots keep them.
//   - Reboots: the start of an activation is recorded durably (a small file
//     in Options.Dir, written atomically and fsynced) before the line goes
//     on, with its cut-off as wall time and as time since the kernel booted.
//     At start the line is switched off and never resumed by the output
//     itself; an on request before the recorded cut-off continues the
//     interrupted activation (same cut-off); an activation whose cut-off
//     passed while the process was down counts as a cut-off (towards the
//     lockout), so a crash loop cannot sound the siren beyond its cut-off
//     nor without end. When the record cannot tell how long ago the siren
//     sounded (damaged, or a wall clock behind it after a reboot without
//     RTC), the output rests for MaxOn: it may have just sounded its full
//     time.
//   - Only timers: the Run goroutine sleeps until the next pattern step or
//     deadline, never polls.
//
// Every change (on, off, pattern, cut-off) is reported through
// Options.Notify so the gateway can make an event of it.
package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/output/statefile"
	"github.com/antt-gateway/antt/sensors"
)

// Line is one physical output line. Drivers implement it; the active level
// (a relay board that switches on low) belongs to the driver.
type Line interface {
	// Set drives the line to its active (on) or idle level.
	Set(on bool) error
	// String names the line for logs ("GPIO27").
	String() string
}

// Cut-off limits.
const (
	// HardMaxOn is the ceiling no configuration can raise: a siren left on
	// longer annoys a whole neighbourhood and, in many places, breaks the
	// rules on alarm noise.
	HardMaxOn = 15 * time.Minute
	// DefaultMaxOn applies when Config.MaxOn is zero.
	DefaultMaxOn = 3 * time.Minute
	// TestPulse is how long an installer's output test keeps an output on.
	TestPulse = time.Second
	// MaxReason bounds the reason and user kept in state and records.
	MaxReason = 200
	// DefaultMaxCutOffs applies when Config.MaxCutOffs is zero: three
	// cut-offs within an hour is a runaway caller, not three intrusions
	// (an alarm's own trigger time ends it before its cut-off).
	DefaultMaxCutOffs = 3
	// MaxMaxCutOffs bounds Config.MaxCutOffs.
	MaxMaxCutOffs = 10
	// CutOffWindow is the window cut-offs are counted in.
	CutOffWindow = time.Hour
	// LockoutTime is how long a lockout lasts when nobody clears it, as a
	// panel's swinger shutdown resets by itself after eight hours.
	LockoutTime = 8 * time.Hour
)

// ErrResting is returned (wrapped, naming the output and until when) for an
// on request while the output rests after a cut-off.
var ErrResting = errors.New("resting after a cut-off")

// ErrLockedOut is returned (wrapped, naming the output, until when and how
// to clear it) for an on request while the output is locked out after
// Config.MaxCutOffs cut-offs within an hour.
var ErrLockedOut = errors.New("locked out after repeated cut-offs")

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Config describes one output.
type Config struct {
	Name  string        // unique, [a-z0-9][a-z0-9_-]*; names the state file
	MaxOn time.Duration // cut-off of one activation; 0 means DefaultMaxOn
	Rest  time.Duration // refusal time after each cut-off; 0 means none
	// MaxCutOffs cut-offs within CutOffWindow lock the output out; 0 means
	// DefaultMaxCutOffs.
	MaxCutOffs int
}

// Validate reports what is wrong with c, naming the output and the field.
func (c Config) Validate() error {
	if !nameRE.MatchString(c.Name) {
		return fmt.Errorf("output %q: name: must match [a-z0-9][a-z0-9_-]{0,62}", c.Name)
	}
	if c.MaxOn < 0 || c.MaxOn > HardMaxOn {
		return fmt.Errorf("output %q: max_on: %s is not between 0 and the hard ceiling %s", c.Name, c.MaxOn, HardMaxOn)
	}
	if c.MaxOn != 0 && c.MaxOn < time.Second {
		return fmt.Errorf("output %q: max_on: %s is shorter than 1s", c.Name, c.MaxOn)
	}
	if c.Rest < 0 || c.Rest > time.Hour {
		return fmt.Errorf("output %q: rest: %s is not between 0 and 1h", c.Name, c.Rest)
	}
	if c.MaxCutOffs < 0 || c.MaxCutOffs > MaxMaxCutOffs {
		return fmt.Errorf("output %q: max_cut_offs: %d is not between 1 and %d", c.Name, c.MaxCutOffs, MaxMaxCutOffs)
	}
	return nil
}

// Request asks for the output on (with a pattern, for a time) or off.
type Request struct {
	On      bool
	Pattern Pattern       // zero means steady
	For     time.Duration // 0 means until off or cut-off; never past the cut-off
	Reason  string        // why, for the state and the change event
	User    string        // who (an officer's user name), if a person asked
	Test    bool          // an installer's test: the change event is marked test
	// Reset, with On false, clears a lockout, a rest and the count of
	// cut-offs: the site was disarmed, or a person switched the output off.
	Reset bool
}

// Change is one change of an output, reported through Options.Notify.
type Change struct {
	Output  string
	On      bool
	Pattern Pattern   // when On
	Until   time.Time // when On: the wall time it goes off at the latest
	Reason  string
	User    string
	CutOff  bool // switched off by the cut-off
	// Lockout is "on" when the output was locked out (CutOffs cut-offs
	// within CutOffWindow) and "off" when a reset cleared it; such a change
	// says nothing about the line (it is reported as trouble).
	Lockout string
	CutOffs int // with Lockout "on": the cut-offs counted
	Test    bool
	Time    time.Time     // wall
	Mono    time.Duration // clock uptime
}

// State is a snapshot for /api/status and telemetry.
type State struct {
	Name         string    `json:"name"`
	On           bool      `json:"on"`    // an activation runs
	Level        bool      `json:"level"` // the line's level now (a pattern's phase)
	Pattern      string    `json:"pattern,omitempty"`
	Until        time.Time `json:"until,omitzero"`      // when the activation ends
	CutOffAt     time.Time `json:"cut_off_at,omitzero"` // its cut-off
	RestingUntil time.Time `json:"resting_until,omitzero"`
	LockedUntil  time.Time `json:"locked_out_until,omitzero"` // lockout after repeated cut-offs
	CutOffsHour  int       `json:"cut_offs_hour"`             // cut-offs within the last CutOffWindow
	MaxOnS       float64   `json:"max_on_s"`
	LastReason   string    `json:"last_reason,omitempty"`
	LastUser     string    `json:"last_user,omitempty"`
	LastChange   time.Time `json:"last_change,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	CutOffs      uint64    `json:"cut_offs"`
	Refused      uint64    `json:"refused"`
	Loops        uint64    `json:"loops"` // Run iterations, a progress counter
}

// Options carries what an Output needs from its surroundings.
type Options struct {
	Clock sensors.Clock // default sensors.NewSystemClock()
	// Dir holds the output's record (output-NAME.json). Empty means no
	// record: the cut-off then holds within one run only (demo, tests).
	Dir    string
	Boot   Boot         // default SystemBoot
	Notify func(Change) // called on the Run goroutine; must not block long
	Logger *slog.Logger // default slog.Default()
}

// Output is one output with its cut-off; create it with New and run it with
// Run. Its methods are safe for concurrent use.
type Output struct {
	cfg   Config
	clock sensors.Clock
	boot  Boot
	opt   Options
	log   *slog.Logger
	calls chan call

	mu      sync.Mutex
	st      State
	pending []Change // found at start, reported when Run starts

	c *ctl // owned by Run once it started
}

type call struct {
	req   Request
	reply chan result
}

type result struct {
	st  State
	err error
}

// New switches line off, reads the output's record and returns the output.
// A record that cannot be read is logged and treated as absent, except
// that the output then starts resting as if cut off: unknown means the
// siren may have just sounded its full time.
func New(cfg Config, line Line, opt Options) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxOn == 0 {
		cfg.MaxOn = DefaultMaxOn
	}
	if cfg.MaxCutOffs == 0 {
		cfg.MaxCutOffs = DefaultMaxCutOffs
	}
	if opt.Clock == nil {
		opt.Clock = sensors.NewSystemClock()
	}
	if opt.Boot == nil {
		opt.Boot = SystemBoot{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	o := &Output{cfg: cfg, clock: opt.Clock, boot: opt.Boot, opt: opt, log: opt.Logger.With("output", cfg.Name), calls: make(chan call)}
	c := &ctl{name: cfg.Name, maxOn: cfg.MaxOn, rest: cfg.Rest, maxCuts: cfg.MaxCutOffs, line: line, bootID: o.boot.ID(), log: o.log}
	if err := c.drive(false); err != nil {
		return nil, fmt.Errorf("output %q: switch off at start: %w", cfg.Name, err)
	}
	now := o.now()
	if opt.Dir != "" {
		path := filepath.Join(opt.Dir, "output-"+cfg.Name+".json")
		c.save = func(r record) error {
			data, err := json.Marshal(r)
			if err != nil {
				return err
			}
			return statefile.Write(path, data)
		}
		o.pending = c.restore(path, now)
	}
	o.c = c
	o.publish(now, 0)
	return o, nil
}

// Name returns the configured name.
func (o *Output) Name() string { return o.cfg.Name }

// Config returns the configuration with defaults applied.
func (o *Output) Config() Config { return o.cfg }

// State returns a snapshot; safe to call at any time.
func (o *Output) State() State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st
}

// Set applies r and returns the state after it. It waits for Run (which
// must be running) until ctx ends. An on request is shortened to the
// activation's cut-off; while resting it fails with ErrResting; a bad
// pattern or a negative For fails naming the problem. An off request for an
// output already off changes nothing.
func (o *Output) Set(ctx context.Context, r Request) (State, error) {
	r.Reason, r.User = clip(r.Reason), clip(r.User)
	cl := call{req: r, reply: make(chan result, 1)}
	select {
	case o.calls <- cl:
	case <-ctx.Done():
		return o.State(), fmt.Errorf("output %q: %w", o.cfg.Name, ctx.Err())
	}
	res := <-cl.reply
	return res.st, res.err
}

// Run owns the output until ctx ends: it applies requests, steps patterns
// and ends activations at their time or cut-off, with one timer for the
// next deadline. When ctx ends the line is switched off (a clean stop must
// not leave a siren on) and the record is left as it is, so a restart
// keeps the activation's cut-off.
func (o *Output) Run(ctx context.Context) error {
	c := o.c
	o.mu.Lock()
	pending := o.pending
	o.pending = nil
	o.mu.Unlock()
	o.notify(pending)
	var (
		timer    sensors.Timer
		armedFor time.Duration
		loops    uint64
	)
	stop := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
	defer stop()
	// settle arms the one timer for the next deadline and publishes the
	// state; it runs before a caller gets its reply, so a test that saw its
	// Set return or Loops move may advance a fake clock.
	settle := func() {
		if at, ok := c.next(); !ok {
			stop()
		} else if timer == nil || at != armedFor {
			stop()
			timer, armedFor = o.clock.NewTimer(at-o.clock.Uptime()), at
		}
		loops++
		o.publish(o.now(), loops)
	}
	settle()
	for {
		var tc <-chan time.Time
		if timer != nil {
			tc = timer.C()
		}
		select {
		case <-ctx.Done():
			if err := c.drive(false); err != nil {
				o.log.Error("switch off at stop", "err", err)
			}
			c.on = false
			o.publish(o.now(), loops)
			return nil
		case cl := <-o.calls:
			changes, err := c.set(cl.req, o.now())
			if err != nil {
				err = fmt.Errorf("output %q: %w", o.cfg.Name, err)
			}
			o.notify(changes)
			settle()
			cl.reply <- result{st: o.State(), err: err}
		case <-tc:
			timer = nil
			changes := c.tick(o.now())
			o.notify(changes)
			settle()
		}
	}
}

func (o *Output) notify(changes []Change) {
	for _, ch := range changes {
		o.log.Info("output change", "on", ch.On, "pattern", ch.Pattern.String(), "until", ch.Until, "reason", ch.Reason, "cut_off", ch.CutOff, "lockout", ch.Lockout)
		if o.opt.Notify != nil {
			o.opt.Notify(ch)
		}
	}
}

func (o *Output) now() instant {
	return instant{wall: o.clock.Now(), mono: o.clock.Uptime(), boot: o.boot.Since()}
}

func (o *Output) publish(now instant, loops uint64) {
	c := o.c
	st := State{
		Name: o.cfg.Name, On: c.on, Level: c.level, MaxOnS: o.cfg.MaxOn.Seconds(),
		LastReason: c.reason, LastUser: c.user, LastChange: c.lastChange, LastError: c.lastErr,
		CutOffs: c.cutoffs, Refused: c.refused, Loops: loops,
	}
	if c.on {
		st.Pattern = c.pat.String()
		st.Until = now.wallAt(c.end)
		st.CutOffAt = now.wallAt(c.cap)
	}
	if c.restUntil > now.mono {
		st.RestingUntil = now.wallAt(c.restUntil)
	}
	if c.lockUntil > now.mono {
		st.LockedUntil = now.wallAt(c.lockUntil)
	}
	st.CutOffsHour = c.recentCuts(now)
	o.mu.Lock()
	if loops == 0 {
		loops = o.st.Loops
		st.Loops = loops
	}
	o.st = st
	o.mu.Unlock()
}

func clip(s string) string {
	if len(s) > MaxReason {
		return s[:MaxReason]
	}
	return s
}

// Boot tells which kernel boot this is and how long ago it started, so a
// record written before a process restart can be read by the boot clock,
// which NTP setting the wall clock does not move.
type Boot interface {
	// ID names this kernel boot; empty when unknown.
	ID() string
	// Since returns the time since the kernel booted (CLOCK_BOOTTIME).
	Since() time.Duration
}

// Bank finds outputs by name, for callers (the alarm logic, the output
// command) that address them by name.
type Bank map[string]*Output

// Set applies r to the output called name; an unknown name is an error
// naming it.
func (b Bank) Set(ctx context.Context, name string, r Request) error {
	o, ok := b[name]
	if !ok {
		return fmt.Errorf("output %q: no such output", name)
	}
	_, err := o.Set(ctx, r)
	return err
}

// Has reports whether the bank holds an output called name.
func (b Bank) Has(name string) bool { _, ok := b[name]; return ok }
