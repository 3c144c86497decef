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
	Written   time.Time     `json:"written"`
	Reason    string        `json:"reason,omitempty"`
}

// ctl is the output's logic: pure apart from driving its line and saving
// its record, and owned by one goroutine (New, then Run).
type ctl struct {
	name        string
	maxOn, rest time.Duration
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
	toggle     time.Duration // next pattern step; 0 for steady
	chirpsLeft int
	restUntil  time.Duration // on is refused before this
	window     time.Duration // cut-off carried over from an interrupted activation

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

// restore reads the record at path. It returns a change to report when the
// record shows an activation the previous run did not end.
func (c *ctl) restore(path string, now instant) (Change, bool) {
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
			return Change{}, false
		}
		c.log.Error("output record unreadable; resting as after a cut-off", "err", err)
		c.lastErr = "record: " + err.Error()
		c.restUntil = now.mono + c.rest
		c.reason = "record unreadable at start; resting as after a cut-off"
		return Change{}, false
	}
	// remaining converts a recorded instant into time left from now: by the
	// boot clock within the same kernel boot (immune to the wall clock being
	// set by NTP after start), else by the wall clock if it has not gone
	// back behind the record, else nothing is left.
	remaining := func(wall time.Time, boot time.Duration) time.Duration {
		var d time.Duration
		switch {
		case r.BootID != "" && r.BootID == c.bootID:
			d = boot - now.boot
		case !now.wall.Before(r.Written):
			d = wall.Sub(now.wall)
		}
		return min(max(d, 0), c.maxOn+c.rest)
	}
	if !r.RestUntil.IsZero() {
		if d := remaining(r.RestUntil, r.RestBoot); d > 0 {
			c.restUntil = now.mono + min(d, c.rest)
		}
	}
	if !r.On {
		return Change{}, false
	}
	left := min(remaining(r.Until, r.UntilBoot), c.maxOn)
	ch := Change{Output: c.name, Time: now.wall, Mono: now.mono}
	if left > 0 {
		c.window = now.mono + left
		ch.Reason = fmt.Sprintf("restarted during an activation (%s); not resumed, cut-off kept at %s", r.Reason, now.wallAt(c.window).Format(time.RFC3339))
	} else {
		// The cut-off passed while the process was down: count it as cut
		// off, so a crash loop cannot sound the siren past its cut-off.
		// The rest runs from the cut-off (now + rs, rs <= 0); unknown (rs 0) means the whole rest.
		rest := min(max(c.rest+remainingSigned(r, c.bootID, now), 0), c.rest)
		c.restUntil = max(c.restUntil, now.mono+rest)
		ch.Reason = fmt.Sprintf("restarted during an activation (%s) whose cut-off has passed; resting", r.Reason)
		ch.CutOff = true
	}
	c.reason = ch.Reason
	c.lastChange = now.wall
	if ch.CutOff {
		c.persist(record{On: false, Written: now.wall, Reason: ch.Reason, RestUntil: restWall(c, now), RestBoot: restBoot(c, now), BootID: c.bootID})
	}
	// Otherwise the record stays as it is: a second restart inside the
	// window must still find the activation's cut-off.
	return ch, true
}

// remainingSigned is the time from now to the recorded cut-off, negative
// when it passed; 0 when it cannot be known (then the whole rest applies).
func remainingSigned(r record, bootID string, now instant) time.Duration {
	switch {
	case r.BootID != "" && r.BootID == bootID:
		return r.UntilBoot - now.boot
	case !now.wall.Before(r.Written):
		return r.Until.Sub(now.wall)
	}
	return 0
}

func restWall(c *ctl, now instant) time.Time {
	if c.restUntil <= now.mono {
		return time.Time{}
	}
	return now.wallAt(c.restUntil)
}

func restBoot(c *ctl, now instant) time.Duration {
	if c.restUntil <= now.mono {
		return 0
	}
	return now.bootAt(c.restUntil)
}

func (c *ctl) set(r Request, now instant) ([]Change, error) {
	if !r.On {
		if !c.on {
			return nil, nil
		}
		return c.finish(now, r.Reason, r.User, false), nil
	}
	if r.For < 0 {
		return nil, fmt.Errorf("seconds: must not be negative, got %s", r.For)
	}
	p := r.Pattern.Normal()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if c.on && now.mono >= c.cap {
		// A late timer: the cut-off is due now, before anything else.
		ch := c.cutoff(now)
		c.refused++
		return ch, fmt.Errorf("%w until %s (on for its max_on %s)", ErrResting, now.wallAt(c.restUntil).Format(time.RFC3339), c.maxOn)
	}
	if now.mono < c.restUntil {
		c.refused++
		return nil, fmt.Errorf("%w until %s (cut off after its max_on %s)", ErrResting, now.wallAt(c.restUntil).Format(time.RFC3339), c.maxOn)
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
		c.persist(record{On: true, Since: now.wall, Until: now.wallAt(c.cap), BootID: c.bootID, UntilBoot: now.bootAt(c.cap), Written: now.wall, Reason: r.Reason})
	}
	end := c.cap
	if r.For > 0 && now.mono+r.For < end {
		end = now.mono + r.For
	}
	if p.Kind == Chirp && now.mono+p.chirpLength() < end {
		end = now.mono + p.chirpLength()
	}
	if !fresh && p == c.pat && end == c.end {
		// The same request again (a rule that keeps asking): nothing changes.
		return nil, nil
	}
	if !fresh && p == c.pat && p.Kind == Steady {
		// A longer or shorter steady request keeps the line as it is.
		c.end, c.reason, c.user = end, r.Reason, r.User
		return []Change{{Output: c.name, On: true, Pattern: p, Until: now.wallAt(end), Reason: r.Reason, User: r.User, Test: r.Test, Time: now.wall, Mono: now.mono}}, nil
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
	return []Change{{Output: c.name, On: true, Pattern: p, Until: now.wallAt(end), Reason: r.Reason, User: r.User, Test: r.Test, Time: now.wall, Mono: now.mono}}, nil
}

func (c *ctl) tick(now instant) []Change {
	if !c.on {
		return nil
	}
	if now.mono >= c.cap {
		return c.cutoff(now)
	}
	if now.mono >= c.end {
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
	if !c.on {
		return 0, false
	}
	d := c.end
	if c.toggle != 0 && c.toggle < d {
		d = c.toggle
	}
	return d, true
}

func (c *ctl) cutoff(now instant) []Change {
	c.cutoffs++
	c.restUntil = now.mono + c.rest
	return c.finish(now, fmt.Sprintf("cut off: on for its max_on %s; resting %s", c.maxOn, c.rest), "", true)
}

func (c *ctl) finish(now instant, reason, user string, cut bool) []Change {
	c.drive(false)
	c.on, c.toggle = false, 0
	test := c.test
	c.test = false
	c.reason, c.user, c.lastChange = reason, user, now.wall
	c.persist(record{On: false, Written: now.wall, Reason: reason, BootID: c.bootID, RestUntil: restWall(c, now), RestBoot: restBoot(c, now)})
	return []Change{{Output: c.name, On: false, Reason: reason, User: user, CutOff: cut, Test: test, Time: now.wall, Mono: now.mono}}
}
