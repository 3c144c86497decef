package sensors

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// rawEdge is one raw level change as a driver saw it.
type rawEdge struct {
	level bool
	at    stamp
}

// core is what every driver shares: configuration, clock, status and the run
// loop around the machine.
type core struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	mu       sync.Mutex
	st       Status
	lastLoop time.Time
	// Set by Prime, taken by the next Run.
	primed    bool
	initial   bool
	initialAt stamp
}

func newCore(cfg Config, opt Options) *core {
	return &core{
		cfg:   cfg,
		clock: opt.Clock,
		log:   opt.Logger,
		st:    Status{Name: cfg.Name, Kind: cfg.Kind, Driver: cfg.Driver, Pin: cfg.Pin},
	}
}

// Name implements Input.
func (c *core) Name() string { return c.cfg.Name }

// Status implements Input.
func (c *core) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// LastLoop implements Input.
func (c *core) LastLoop() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastLoop
}

func (c *core) beat() {
	now := c.clock.Now()
	c.mu.Lock()
	c.lastLoop = now
	c.mu.Unlock()
}

func (c *core) now() stamp { return stamp{wall: c.clock.Now(), mono: c.clock.Uptime()} }

// prime records the state found at start for the next Run; a second call
// before Run keeps the first state, so what a caller reported stays what Run
// starts from.
func (c *core) prime(read func() (bool, error)) (bool, error) {
	c.mu.Lock()
	if c.primed {
		defer c.mu.Unlock()
		return c.initial, nil
	}
	c.mu.Unlock()
	// Read without the lock: configuring a pin may take a while, and Status
	// must not wait for it.
	active, err := read()
	if err != nil {
		return false, err
	}
	at := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.primed, c.initial, c.initialAt = true, active, at
	c.st.Active, c.st.ActiveAtStart = active, active
	return active, nil
}

// takePrimed returns the primed state and clears it, so a later Run primes
// again (a gpio Run releases the pin when it ends).
func (c *core) takePrimed() (active bool, at stamp, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	active, at, ok = c.initial, c.initialAt, c.primed
	c.primed = false
	return active, at, ok
}

func (c *core) setRunning(running bool) {
	c.mu.Lock()
	c.st.Running = running
	c.mu.Unlock()
}

func (c *core) publish(m *machine) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastLoop = now
	c.st.Active = m.reported
	c.st.LastEdge = m.last
	c.st.Edges = m.edges
	c.st.RawEdges = m.raws
	c.st.Suppressed = m.suppressed
	c.st.Glitches = m.glitches
	c.st.Loops++
}

// loop runs the machine until ctx ends: raw edges come from raw, and read
// returns the current level when a debounce window closes (nil means the
// last raw level, for drivers whose raw edges are the whole truth). It returns nil
// when ctx ends; the status is marked running only while it loops. initial
// is the state found at start (read at at); with ReportAtStart an active one
// is sent first, marked AtStart.
func (c *core) loop(ctx context.Context, out chan<- Edge, raw <-chan rawEdge, read func() bool, initial bool, at stamp) error {
	m := newMachine(c.cfg.Debounce, c.cfg.Hold, initial)
	last := initial
	if read == nil {
		read = func() bool { return last }
	}
	var (
		timer    Timer
		armedFor time.Duration
	)
	stop := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
	}
	defer stop()
	defer c.setRunning(false)
	c.mu.Lock()
	c.st.ActiveAtStart = initial
	c.mu.Unlock()
	c.setRunning(true)
	if initial && c.cfg.ReportAtStart {
		m.startEdge(at)
		c.publish(m)
		e := Edge{Sensor: c.cfg.Name, Kind: c.cfg.Kind, Active: true, Time: at.wall, Mono: at.mono, AtStart: true}
		c.log.Debug("sensor edge", "active", true, "at_start", true, "time", e.Time)
		select {
		case out <- e:
		case <-ctx.Done():
			return nil
		}
	}
	for {
		if at, ok := m.next(); !ok {
			stop()
		} else if timer == nil || at != armedFor {
			stop()
			timer, armedFor = c.clock.NewTimer(at-c.clock.Uptime()), at
		}
		var tc <-chan time.Time
		if timer != nil {
			tc = timer.C()
		}
		// Published after the timer is armed, so a test that sees a raw edge
		// counted may advance a fake clock past its window.
		c.publish(m)

		var changes []change
		select {
		case <-ctx.Done():
			return nil
		case r := <-raw:
			last = r.level
			changes = m.raw(r.level, r.at)
		case <-tc:
			timer = nil
			changes = m.tick(read(), c.now())
		}
		for _, ch := range changes {
			e := Edge{Sensor: c.cfg.Name, Kind: c.cfg.Kind, Active: ch.active, Time: ch.at.wall, Mono: ch.at.mono}
			c.log.Debug("sensor edge", "active", e.Active, "time", e.Time)
			select {
			case out <- e:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
