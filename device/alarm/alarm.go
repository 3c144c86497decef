// Package alarm is the alarm logic of the board: modes (disarmed, away,
// home, night and custom ones), exit and entry delays, 24-hour zones,
// chime, bypass, confirmation by a second sensor, supervision of stuck and
// chattering inputs, schedules in the site's time zone and the installer's
// test mode. It runs on the board, so an armed site sounds its siren with
// the link down.
//
// Machine is the logic itself: pure, no goroutine, no clock; it turns
// inputs, commands and Tick into Effects (durable state to save, output
// requests, events). Alarm runs one Machine on one goroutine with one timer
// for the next deadline (no polling), saves the state through a Store
// before it reports a change, drives outputs (package output, whose own
// cut-off bounds every request) and hands events to the gateway in order.
//
// Every mode change carries its origin (station user, schedule, key
// switch, installer) and reason. Silence ("Tắt còi") stops the outputs and
// never disarms. After an alarm's trigger time the site is armed again with
// the sensors that triggered and are still open bypassed until they close.
// A new intrusion sounds again; one sensor sounds at most SwingerLimit
// alarms per arming period (swinger shutdown, counted durably), so a door
// swinging in the wind cannot sound the siren all night.
package alarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/sensors"
)

// Outputs is what the alarm drives; output.Bank implements it.
type Outputs interface {
	Set(ctx context.Context, name string, r output.Request) error
}

// Options carries what an Alarm needs from its surroundings.
type Options struct {
	Clock   sensors.Clock // default sensors.NewSystemClock()
	Store   Store         // required: the mode must survive a reboot
	Outputs Outputs       // nil drives nothing (events only)
	// Known reports whether an output exists, for Config validation; nil
	// skips the check.
	Known func(string) bool
	// Events receives every event in order, on the Run goroutine, after
	// the state it reports was saved. It should append to the outbox.
	Events func(Event)
	// Synced reports whether the wall clock can be trusted for schedules;
	// default: it reads 2025 or later (as the gateway's clock_synced).
	Synced func(time.Time) bool
	Logger *slog.Logger
}

// Alarm runs a Machine; its methods are safe for concurrent use and wait
// for Run to handle them.
type Alarm struct {
	opt   Options
	clock sensors.Clock
	log   *slog.Logger
	m     *Machine // owned by Run
	calls chan call

	mu      sync.Mutex
	status  Status
	loops   uint64
	loadErr error
}

// New loads the stored state and returns the alarm. A store that cannot be
// read starts the site disarmed; Run then reports it as a trouble event
// (never silently): the officer must arm it again.
func New(cfg Config, opt Options) (*Alarm, error) {
	if opt.Store == nil {
		return nil, errors.New("alarm: a Store is required (the mode must survive a reboot)")
	}
	if opt.Clock == nil {
		opt.Clock = sensors.NewSystemClock()
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Synced == nil {
		opt.Synced = func(t time.Time) bool { return t.Year() >= 2025 }
	}
	a := &Alarm{opt: opt, clock: opt.Clock, log: opt.Logger.With("part", "alarm"), calls: make(chan call)}
	st, err := opt.Store.Load()
	if err != nil {
		a.loadErr = err
		st = State{}
	}
	m, err := NewMachine(cfg, opt.Known, st, a.now())
	if err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	a.m = m
	a.status = m.Status(a.now())
	return a, nil
}

func (a *Alarm) now() Instant {
	w := a.clock.Now()
	return Instant{Wall: w, Mono: a.clock.Uptime(), Synced: a.opt.Synced(w)}
}

// Status returns the latest snapshot.
func (a *Alarm) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// Loops counts Run iterations: after it moves, the timer for the next
// deadline is armed (tests with a fake clock wait on it).
func (a *Alarm) Loops() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loops
}

// Prime sets an input's state at start without events (call before Run).
func (a *Alarm) Prime(sensor string, active bool) error {
	return a.m.Prime(sensor, active, a.now())
}

// do runs step on the Run goroutine and applies its effects there; it
// returns once Run has armed the timer for the next deadline.
func (a *Alarm) do(ctx context.Context, step func(now Instant) (Effects, error)) error {
	c := call{step: step, done: make(chan error, 1)}
	select {
	case a.calls <- c:
	case <-ctx.Done():
		return fmt.Errorf("alarm: %w", ctx.Err())
	}
	return <-c.done
}

type call struct {
	step func(now Instant) (Effects, error)
	done chan error
}

// apply saves, drives and reports one step's effects, in that order
// (SaveLate after driving). A
// failed save does not stop the alarm (a siren must sound with a broken SD
// card): the events then carry store_error. A refused output request is
// an output event with state failed and the error.
func (a *Alarm) apply(ctx context.Context, eff Effects) error {
	var storeErr error
	if eff.Save {
		if storeErr = a.opt.Store.Save(a.m.Persist()); storeErr != nil {
			a.log.Error("save alarm state", "err", storeErr)
		}
	}
	var firstErr error
	for _, act := range eff.Actions {
		if a.opt.Outputs == nil {
			continue
		}
		if err := a.opt.Outputs.Set(ctx, act.Output, act.Request); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			now := a.now()
			eff.Events = append(eff.Events, Event{Kind: KindOutput, Source: act.Output, State: "failed", Time: now.Wall, Mono: now.Mono, Test: act.Request.Test, By: BySystem, Reason: err.Error()})
		}
	}
	if eff.SaveLate && !eff.Save {
		if storeErr = a.opt.Store.Save(a.m.Persist()); storeErr != nil {
			a.log.Error("save alarm state", "err", storeErr)
		}
	}
	for _, e := range eff.Events {
		if storeErr != nil {
			if e.Attrs == nil {
				e.Attrs = map[string]any{}
			}
			e.Attrs["store_error"] = storeErr.Error()
		}
		a.log.Info("alarm event", "kind", e.Kind, "source", e.Source, "state", e.State, "by", e.By, "user", e.User, "reason", e.Reason)
		if a.opt.Events != nil {
			a.opt.Events(e)
		}
	}
	return firstErr
}

// Run owns the logic until ctx ends, with one timer for the next deadline.
func (a *Alarm) Run(ctx context.Context) error {
	if a.loadErr != nil {
		now := a.now()
		a.apply(ctx, Effects{Save: true, Events: []Event{{Kind: KindTrouble, Source: "alarm", State: "active", Time: now.Wall, Mono: now.Mono, By: BySystem,
			Reason: "stored alarm state unreadable; started disarmed: " + a.loadErr.Error()}}})
	}
	var (
		timer   sensors.Timer
		armedAt time.Duration
	)
	stop := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
	defer stop()
	a.apply(ctx, a.m.Start(a.now()))
	// Deadlines due now (a schedule entry missed while the board was off).
	a.apply(ctx, a.m.Tick(a.now()))
	var reply chan error
	var replyErr error
	for {
		now := a.now()
		mono, monoOK, wall, wallOK := a.m.Next()
		var d time.Duration
		if monoOK {
			d = mono - now.Mono
		}
		if wallOK && (!monoOK || wall.Sub(now.Wall) < d) {
			d = wall.Sub(now.Wall)
		}
		at := now.Mono + d
		if !monoOK && !wallOK {
			stop()
		} else if timer == nil || at != armedAt {
			stop()
			timer, armedAt = a.clock.NewTimer(d), at
		}
		a.mu.Lock()
		a.status = a.m.Status(now)
		a.loops++
		a.mu.Unlock()
		if reply != nil {
			// Answered only now, so a caller that got its answer may move a
			// fake clock: the timer for the next deadline is armed.
			reply <- replyErr
			reply = nil
		}
		var tc <-chan time.Time
		if timer != nil {
			tc = timer.C()
		}
		select {
		case <-ctx.Done():
			return nil
		case c := <-a.calls:
			eff, err := c.step(a.now())
			if aerr := a.apply(ctx, eff); err == nil {
				err = aerr
			}
			reply, replyErr = c.done, err
		case <-tc:
			timer = nil
			a.apply(ctx, a.m.Tick(a.now()))
		}
	}
}

// Input hands one debounced sensor edge to the logic.
func (a *Alarm) Input(ctx context.Context, e sensors.Edge) error {
	if e.AtStart {
		// The state found at start is not a change (see sensors.Edge).
		return a.do(ctx, func(now Instant) (Effects, error) { return Effects{}, a.m.Prime(e.Sensor, e.Active, now) })
	}
	return a.do(ctx, func(now Instant) (Effects, error) { return a.m.Input(e.Sensor, e.Active, now) })
}

// Arm sets mode (Disarmed disarms); see Machine.Arm.
func (a *Alarm) Arm(ctx context.Context, mode string, o Origin) error {
	return a.do(ctx, func(now Instant) (Effects, error) { return a.m.Arm(mode, o, now) })
}

// Silence stops a sounding alarm without disarming; see Machine.Silence.
func (a *Alarm) Silence(ctx context.Context, o Origin) error {
	return a.do(ctx, func(now Instant) (Effects, error) { return a.m.Silence(o, now), nil })
}

// Bypass bypasses or restores a sensor; see Machine.Bypass.
func (a *Alarm) Bypass(ctx context.Context, sensor string, on bool, o Origin) error {
	return a.do(ctx, func(now Instant) (Effects, error) { return a.m.Bypass(sensor, on, o, now) })
}

// Test starts or ends the installer's test mode; see Machine.Test.
func (a *Alarm) Test(ctx context.Context, on bool, o Origin) error {
	return a.do(ctx, func(now Instant) (Effects, error) { return a.m.Test(on, o, now) })
}

// TestOutput pulses an output for a second, marked test; only while
// disarmed and nothing sounds (see Machine.TestOutput).
func (a *Alarm) TestOutput(ctx context.Context, name string, o Origin) error {
	return a.do(ctx, func(now Instant) (Effects, error) { return a.m.TestOutput(name, o, now) })
}

// OutputEvent turns an output's change into the alarm's output event, so
// every output change (by the alarm, a command or a rule) is reported the
// same way.
//
// A lockout change (output.Change.Lockout) is a trouble event of the
// output (attrs trouble: lockout): the station must see that a siren will
// not sound until the site is disarmed or an officer switches it off.
func OutputEvent(c output.Change) Event {
	if c.Lockout != "" {
		e := Event{Kind: KindTrouble, Source: c.Output, State: "inactive", Time: c.Time, Mono: c.Mono, By: BySystem, User: c.User, Reason: c.Reason,
			Attrs: map[string]any{"trouble": "lockout", "output": true}}
		if c.Lockout == "on" {
			e.State = "active"
			e.Attrs["cut_offs"] = c.CutOffs
		}
		return e
	}
	e := Event{Kind: KindOutput, Source: c.Output, State: "off", Time: c.Time, Mono: c.Mono, Test: c.Test, User: c.User, Reason: c.Reason}
	if c.On {
		e.State = "on"
		e.Attrs = map[string]any{"pattern": c.Pattern.String(), "until": c.Until}
	} else if c.CutOff {
		e.Attrs = map[string]any{"cut_off": true}
	}
	return e
}

// WireFields returns the parts of e that go into a wire.Event: its attrs
// with the origin, user and reason added (by, user, reason), so the
// station shows who did what and why.
func (e Event) WireFields() (kind, source, state string, attrs map[string]any) {
	attrs = make(map[string]any, len(e.Attrs)+3)
	for k, v := range e.Attrs {
		attrs[k] = v
	}
	if e.By != "" {
		attrs["by"] = e.By
	}
	if e.User != "" {
		attrs["user"] = e.User
	}
	if e.Reason != "" {
		attrs["reason"] = e.Reason
	}
	return e.Kind, e.Source, e.State, attrs
}
