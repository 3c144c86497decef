package output

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/antt-gateway/antt/device/output/statefile"
)

// instant is one moment on the three clocks an output uses: wall (for
// people and the record), the clock's uptime (for every deadline) and the
// time since the kernel booted (for the record across process restarts).
type instant struct {
	wall time.Time
	mono time.Duration
	boot time.Duration
}

func (n instant) wallAt(mono time.Duration) time.Time { return n.wall.Add(mono - n.mono) }
func (n instant) bootAt(mono time.Duration) time.Duration {
	return n.boot + (mono - n.mono)
}

// record is the durable trace of an activation (see the package doc).
type record struct {
	On        bool          `json:"on"`
	Since     time.Time     `json:"since,omitzero"`
	Until     time.Time     `json:"until,omitzero"` // the cut-off, wall time
	BootID    string        `json:"boot_id,omitempty"`
	UntilBoot time.Duration `json:"until_boot_ns,omitempty"` // the cut-off, since kernel boot
	RestUntil time.Time     `json:"rest_until,omitzero"`
	RestBoot  time.Duration `json:"rest_until_boot_ns,omitempty"`
	LockUntil time.Time     `json:"lock_until,omitzero"` // lockout, wall time
	LockBoot  time.Duration `json:"lock_until_boot_ns,omitempty"`
	CutOffs   []stamp       `json:"cut_offs,omitempty"` // within the last CutOffWindow
	Written   time.Time     `json:"written"`
	Reason    string        `json:"reason,omitempty"`
}

// stamp is one recorded instant, by wall and boot clock.
type stamp struct {
	Wall time.Time     `json:"wall"`
	Boot time.Duration `json:"boot_ns,omitempty"`
}

// ctl is the output's logic: pure apart from driving its line and saving
// its record, and owned by one goroutine (New, then Run).
type ctl struct {
	name        string
	maxOn, rest time.Duration
	maxCuts     int
	line        Line
	save        func(record) error // nil: no record
	bootID      string
	log         *slog.Logger

	on, level  bool
	pat        Pattern
	test       bool
	start      time.Duration // activation start (mono)
	cap        time.Duration // its cut-off
	end        time.Duration // when the current request ends (≤ cap)
	clipped    bool          // the caller wanted longer than cap: ending at cap is a cut-off
	toggle     time.Duration // next pattern step; 0 for steady
	chirpsLeft int
	restUntil  time.Duration   // on is refused before this
	window     time.Duration   // cut-off carried over from an interrupted activation
	cuts       []time.Duration // cut-offs (mono) within the last CutOffWindow
	lockUntil  time.Duration   // locked out before this

	reason, user string
	lastChange   time.Time
	lastErr      string
	cutoffs      uint64
	refused      uint64
}

func (c *ctl) drive(level bool) error {
	c.level = level
	if err := c.line.Set(level); err != nil {
		c.lastErr = fmt.Sprintf("line %s: %v", c.line, err)
		c.log.Error("drive output line", "line", c.line.String(), "level", level, "err", err)
		return err
	}
	return nil
}

func (c *ctl) persist(r record) {
	if c.save == nil {
		return
	}
	if err := c.save(r); err != nil {
		// The output keeps working: a siren must sound even when the SD card
		// fails. The state shows the error.
		c.lastErr = "record: " + err.Error()
		c.log.Error("write output record", "err", err)
	}
}

// store writes the record: r's activation fields with the rest, the
// lockout and the recent cut-offs as they stand now.
func (c *ctl) store(now instant, r record) {
	r.Written, r.BootID = now.wall, c.bootID
	if c.restUntil > now.mono {
		r.RestUntil, r.RestBoot = now.wallAt(c.restUntil), now.bootAt(c.restUntil)
	}
	if c.lockUntil > now.mono {
		r.LockUntil, r.LockBoot = now.wallAt(c.lockUntil), now.bootAt(c.lockUntil)
	}
	c.pruneCuts(now)
	for _, m := range c.cuts {
		r.CutOffs = append(r.CutOffs, stamp{Wall: now.wallAt(m), Boot: now.bootAt(m)})
	}
	c.persist(r)
}

// restore reads the record at path. It returns the changes to report: an
// activation the previous run did not end, a lockout it left.
func (c *ctl) restore(path string, now instant) []Change {
	data, err := statefile.Read(path)
	var r record
	if err == nil {
		err = json.Unmarshal(data, &r)
		if err != nil {
			err = fmt.Errorf("decode %s: %w", path, err)
		}
	}
	if err != nil {
		if statefile.Missing(err) {
			return nil
		}
		c.log.Error("output record unreadable; resting as after a cut-off", "err", err)
		c.lastErr = "record: " + err.Error()
		c.restUntil = now.mono + max(c.rest, c.maxOn)
		c.reason = "record unreadable at start; resting as after a cut-off"
		return nil
	}
	sameBoot := r.BootID != "" && r.BootID == c.bootID
	known := sameBoot || !now.wall.Before(r.Written)
	// toMono converts a recorded instant to this run's uptime clock: by the
	// boot clock within the same kernel boot (immune to the wall clock being
	// set by NTP after start), else by the wall clock if it has not gone
	// back behind the record; unknown gives ok false.
	toMono := func(wall time.Time, boot time.Duration) (time.Duration, bool) {
		switch {
		case sameBoot:
			return now.mono + (boot - now.boot), true
		case known:
			return now.mono + wall.Sub(now.wall), true
		}
		return 0, false
	}
	// until converts a recorded end (rest, lockout) to uptime, at most
	// ceiling from now; unknown means the whole ceiling.
	until := func(wall time.Time, boot, ceiling time.Duration) time.Duration {
		m, ok := toMono(wall, boot)
		if !ok {
			m = now.mono + ceiling
		}
		return min(m, now.mono+ceiling)
	}
	if !r.RestUntil.IsZero() {
		c.restUntil = max(c.restUntil, until(r.RestUntil, r.RestBoot, c.rest))
	}
	for _, st := range r.CutOffs {
		m, ok := toMono(st.Wall, st.Boot)
		if !ok {
			m = now.mono // unknown: count it as recent
		}
		c.cuts = append(c.cuts, min(m, now.mono))
	}
	c.pruneCuts(now)
	var out []Change
	if !r.LockUntil.IsZero() {
		if u := until(r.LockUntil, r.LockBoot, LockoutTime); u > now.mono {
			c.lockUntil = u
			out = append(out, Change{Output: c.name, Lockout: "on", CutOffs: len(c.cuts), Time: now.wall, Mono: now.mono,
				Reason: fmt.Sprintf("locked out since before the restart, until %s", now.wallAt(u).Format(time.RFC3339))})
		}
	}
	if !r.On {
		return out
	}
	ch := Change{Output: c.name, Time: now.wall, Mono: now.mono}
	capAt, ok := toMono(r.Until, r.UntilBoot)
	switch {
	case !ok:
		// How long it sounded cannot be known: it may have just sounded its
		// full time. Rest for max_on, and count it as a cut-off.
		c.restUntil = max(c.restUntil, now.mono+max(c.rest, c.maxOn))
		ch.Reason = fmt.Sprintf("restarted during an activation (%s) of unknown age (clock behind the record); resting %s", r.Reason, max(c.rest, c.maxOn))
		ch.CutOff = true
	case capAt > now.mono:
		c.window = min(capAt, now.mono+c.maxOn)
		ch.Reason = fmt.Sprintf("restarted during an activation (%s); not resumed, cut-off kept at %s", r.Reason, now.wallAt(c.window).Format(time.RFC3339))
	default:
		// The cut-off passed while the process was down: count it as a cut-off,
		// so a crash loop cannot sound the siren past its cut-off nor for ever.
		c.restUntil = max(c.restUntil, capAt+c.rest)
		ch.Reason = fmt.Sprintf("restarted during an activation (%s) whose cut-off has passed; counted as a cut-off", r.Reason)
		ch.CutOff = true
	}
	c.reason = ch.Reason
	c.lastChange = now.wall
	lock := out
	out = []Change{ch}
	if ch.CutOff {
		if l, ok := c.addCut(now); ok {
			lock = append(lock, l)
		}
		c.store(now, record{On: false, Reason: ch.Reason})
	}
	// Otherwise the record stays as it is: a second restart inside the
	// window must still find the activation's cut-off.
	return append(out, lock...)
}

// pruneCuts drops cut-offs older than CutOffWindow.
func (c *ctl) pruneCuts(now instant) {
	i := 0
	for i < len(c.cuts) && now.mono-c.cuts[i] >= CutOffWindow {
		i++
	}
	c.cuts = append(c.cuts[:0], c.cuts[i:]...)
}

func (c *ctl) recentCuts(now instant) int {
	n := 0
	for _, m := range c.cuts {
		if now.mono-m < CutOffWindow {
			n++
		}
	}
	return n
}

// addCut counts a cut-off now and locks the output out at the
// maxCuts-th within CutOffWindow, returning the lockout's change.
func (c *ctl) addCut(now instant) (Change, bool) {
	c.pruneCuts(now)
	c.cuts = append(c.cuts, now.mono)
	if len(c.cuts) < c.maxCuts || c.lockUntil > now.mono {
		return Change{}, false
	}
	c.lockUntil = now.mono + LockoutTime
	c.log.Warn("output locked out after repeated cut-offs", "cut_offs", len(c.cuts), "until", now.wallAt(c.lockUntil))
	return Change{Output: c.name, Lockout: "on", CutOffs: len(c.cuts), Time: now.wall, Mono: now.mono,
		Reason: fmt.Sprintf("locked out: %d cut-offs within %s; on is refused until %s, or until the site is disarmed or a person switches it off", len(c.cuts), CutOffWindow, now.wallAt(c.lockUntil).Format(time.RFC3339))}, true
}

func (c *ctl) set(r Request, now instant) ([]Change, error) {
	var changes []Change
	if c.on && now.mono >= c.end {
		// A late timer: the activation's end (or cut-off) is due now,
		// before anything else.
		changes = c.tick(now)
	}
	if !r.On {
		if c.on {
			changes = append(changes, c.finish(now, r.Reason, r.User, false)...)
		}
		if r.Reset {
			changes = append(changes, c.reset(now, r)...)
		}
		return changes, nil
	}
	if r.For < 0 {
		return changes, fmt.Errorf("seconds: must not be negative, got %s", r.For)
	}
	p := r.Pattern.Normal()
	if err := p.Validate(); err != nil {
		return changes, err
	}
	if now.mono < c.lockUntil {
		c.refused++
		return changes, fmt.Errorf("%w until %s (%d cut-offs within %s; disarm the site or switch the output off by command to clear it)", ErrLockedOut, now.wallAt(c.lockUntil).Format(time.RFC3339), max(len(c.cuts), c.maxCuts), CutOffWindow)
	}
	if now.mono < c.restUntil {
		c.refused++
		return changes, fmt.Errorf("%w until %s (cut off after its max_on %s)", ErrResting, now.wallAt(c.restUntil).Format(time.RFC3339), c.maxOn)
	}
	fresh := !c.on
	if fresh {
		c.start = now.mono
		c.cap = now.mono + c.maxOn
		if c.window > now.mono && c.window < c.cap {
			c.cap = c.window
		}
		// Durable before the line goes on: after a crash from here on the
		// next start knows the cut-off.
		c.store(now, record{On: true, Since: now.wall, Until: now.wallAt(c.cap), UntilBoot: now.bootAt(c.cap), Reason: r.Reason})
	}
	end := c.cap
	clipped := true // until off, or longer than the cap
	if r.For > 0 && now.mono+r.For <= end {
		end, clipped = now.mono+r.For, false
	}
	if p.Kind == Chirp && now.mono+p.chirpLength() <= end {
		end, clipped = now.mono+p.chirpLength(), false
	}
	if !fresh && p == c.pat && end == c.end {
		// The same request again (a rule that keeps asking): nothing changes.
		return changes, nil
	}
	c.clipped = clipped
	if !fresh && p == c.pat && p.Kind == Steady {
		// A longer or shorter steady request keeps the line as it is.
		c.end, c.reason, c.user = end, r.Reason, r.User
		return append(changes, Change{Output: c.name, On: true, Pattern: p, Until: now.wallAt(end), Reason: r.Reason, User: r.User, Test: r.Test, Time: now.wall, Mono: now.mono}), nil
	}
	c.on, c.pat, c.end, c.test = true, p, end, r.Test
	c.reason, c.user, c.lastChange = r.Reason, r.User, now.wall
	c.toggle = 0
	switch p.Kind {
	case Pulse:
		on, _ := p.phases()
		c.toggle = now.mono + on
	case Chirp:
		c.chirpsLeft = p.Count
		c.toggle = now.mono + ChirpOn
	}
	c.drive(true)
	return append(changes, Change{Output: c.name, On: true, Pattern: p, Until: now.wallAt(end), Reason: r.Reason, User: r.User, Test: r.Test, Time: now.wall, Mono: now.mono}), nil
}

// reset clears the lockout, the rest and the count of cut-offs (Request.Reset).
func (c *ctl) reset(now instant, r Request) []Change {
	locked := c.lockUntil > now.mono
	if !locked && c.restUntil <= now.mono && len(c.cuts) == 0 {
		return nil
	}
	c.lockUntil, c.restUntil, c.cuts, c.window = 0, 0, nil, 0
	c.store(now, record{On: false, Reason: "reset: " + r.Reason})
	if !locked {
		return nil
	}
	return []Change{{Output: c.name, Lockout: "off", User: r.User, Reason: join("lockout cleared", r.Reason), Time: now.wall, Mono: now.mono}}
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

func (c *ctl) tick(now instant) []Change {
	if c.lockUntil != 0 && now.mono >= c.lockUntil {
		c.lockUntil, c.cuts = 0, nil
		out := []Change{{Output: c.name, Lockout: "off", Reason: fmt.Sprintf("lockout over after %s", LockoutTime), Time: now.wall, Mono: now.mono}}
		if !c.on {
			c.store(now, record{On: false, Reason: "lockout over"})
		}
		return append(out, c.tick(now)...)
	}
	if !c.on {
		return nil
	}
	if now.mono >= c.end {
		if c.clipped && now.mono >= c.cap {
			return c.cutoff(now)
		}
		reason := "time over"
		if c.pat.Kind == Chirp {
			reason = "chirp done"
		}
		return c.finish(now, reason, "", false)
	}
	if c.toggle == 0 || now.mono < c.toggle {
		return nil
	}
	switch c.pat.Kind {
	case Pulse:
		on, off := c.pat.phases()
		d := on
		if c.level {
			d = off
		}
		c.drive(!c.level)
		c.toggle = max(c.toggle+d, now.mono+time.Millisecond)
	case Chirp:
		if c.level {
			c.drive(false)
			c.chirpsLeft--
			c.toggle = now.mono + ChirpOff
			if c.chirpsLeft <= 0 {
				return c.finish(now, "chirp done", "", false)
			}
		} else {
			c.drive(true)
			c.toggle = now.mono + ChirpOn
		}
	}
	return nil
}

// next returns the next deadline (mono), if any.
func (c *ctl) next() (time.Duration, bool) {
	d, ok := c.lockUntil, c.lockUntil != 0
	if !c.on {
		return d, ok
	}
	if !ok || c.end < d {
		d = c.end
	}
	if c.toggle != 0 && c.toggle < d {
		d = c.toggle
	}
	return d, true
}

func (c *ctl) cutoff(now instant) []Change {
	c.cutoffs++
	c.restUntil = now.mono + c.rest
	lock, locked := c.addCut(now)
	reason := fmt.Sprintf("cut off: on for its max_on %s", c.maxOn)
	if c.rest > 0 {
		reason += fmt.Sprintf("; resting %s", c.rest)
	}
	out := c.finish(now, reason, "", true)
	if locked {
		out = append(out, lock)
	}
	return out
}

func (c *ctl) finish(now instant, reason, user string, cut bool) []Change {
	c.drive(false)
	c.on, c.toggle, c.clipped = false, 0, false
	test := c.test
	c.test = false
	c.reason, c.user, c.lastChange = reason, user, now.wall
	c.store(now, record{On: false, Reason: reason})
	return []Change{{Output: c.name, On: false, Reason: reason, User: user, CutOff: cut, Test: test, Time: now.wall, Mono: now.mono}}
}
