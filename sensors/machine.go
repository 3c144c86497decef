package sensors

import "time"

// stamp is one instant on both clocks: wall time for the event and
// monotonic uptime for deadlines, so a wall clock step never stretches or
// cuts a debounce window or a hold.
type stamp struct {
	wall time.Time
	mono time.Duration
}

// change is one reported state change produced by the machine.
type change struct {
	active bool
	at     stamp
}

// machine is the debounce and hold-off state machine shared by all drivers.
// It is pure: it is fed raw levels and the current time, and says by next()
// when it wants to be ticked; the caller owns the timers and the clock.
//
// Debounce: after a raw edge the level must stay unchanged for the whole
// debounce window; every raw edge inside the window restarts it. When the
// window ends the caller re-reads the level; a level equal to the debounced
// one means the edges were a glitch. The change keeps the time of the first
// raw edge.
//
// Hold-off: after an active change is reported, further activations are
// absorbed (counted in suppressed) until hold has passed since that edge. An
// inactive change inside the hold is delayed, not dropped: at hold expiry the
// inactive edge is reported if the debounced level is inactive then, otherwise
// the state stays active until the level goes inactive.
type machine struct {
	debounce, hold time.Duration

	level    bool // debounced level
	reported bool // state last reported

	pending  bool // inside a debounce window
	first    stamp
	deadline time.Duration

	holding   bool
	holdUntil time.Duration

	raws, glitches, suppressed, edges uint64
	last                              time.Time // time of the last reported edge
}

func newMachine(debounce, hold time.Duration, initial bool) *machine {
	// The level found at start is taken as the reported state without an
	// edge: nothing changed, and a restart must not raise an alarm.
	return &machine{debounce: debounce, hold: hold, level: initial, reported: initial}
}

// raw records a raw edge to level at t.
func (m *machine) raw(level bool, t stamp) []change {
	m.raws++
	if m.debounce <= 0 {
		return m.commit(level, t, t)
	}
	if !m.pending {
		m.pending = true
		m.first = t
	}
	m.deadline = t.mono + m.debounce
	return nil
}

// next returns the monotonic time at which tick must be called.
func (m *machine) next() (time.Duration, bool) {
	switch {
	case m.pending && m.holding:
		return min(m.deadline, m.holdUntil), true
	case m.pending:
		return m.deadline, true
	case m.holding:
		return m.holdUntil, true
	}
	return 0, false
}

// tick advances the machine to now; level is the input's current level.
func (m *machine) tick(level bool, now stamp) []change {
	var out []change
	if m.pending && now.mono >= m.deadline {
		m.pending = false
		if level != m.level {
			out = append(out, m.commit(level, m.first, now)...)
		} else {
			m.glitches++
		}
	}
	if m.holding && now.mono >= m.holdUntil {
		m.holding = false
		if m.reported && !m.level {
			// Report at the instant the hold ended, not when we noticed.
			at := stamp{wall: now.wall.Add(m.holdUntil - now.mono), mono: m.holdUntil}
			out = append(out, m.emit(false, at))
		}
	}
	return out
}

func (m *machine) commit(level bool, at, now stamp) []change {
	if level == m.level {
		return nil
	}
	m.level = level
	if level {
		if m.reported {
			m.suppressed++
			return nil
		}
		c := m.emit(true, at)
		if m.hold > 0 {
			m.holding = true
			m.holdUntil = at.mono + m.hold
			if now.mono >= m.holdUntil {
				// Debounce outlasted the hold; nothing left to absorb.
				m.holding = false
			}
		}
		return []change{c}
	}
	if !m.reported || m.holding {
		return nil
	}
	return []change{m.emit(false, at)}
}

// startEdge counts the state found at start as reported at at, when the
// caller reports it (Config.ReportAtStart); the state itself is unchanged.
func (m *machine) startEdge(at stamp) {
	m.edges++
	m.last = at.wall
}

func (m *machine) emit(active bool, at stamp) change {
	m.reported = active
	m.edges++
	m.last = at.wall
	return change{active: active, at: at}
}
