// Package sensorstest holds fakes for testing code that uses package sensors
// without hardware or real time: a manual Clock and a PinSource of gpiotest
// pins.
package sensorstest

import (
	"sort"
	"sync"
	"time"

	"github.com/antt-gateway/antt/sensors"
	"periph.io/x/conn/v3/gpio"
)

// Clock is a sensors.Clock that moves only when Advance is called. Timers
// fire during Advance, in deadline order, by a non-blocking send on a
// one-slot channel, like time.Timer.
type Clock struct {
	mu     sync.Mutex
	wall   time.Time
	uptime time.Duration
	timers []*timer
}

var _ sensors.Clock = (*Clock)(nil)

// NewClock returns a clock showing wall time start and zero uptime.
func NewClock(start time.Time) *Clock { return &Clock{wall: start} }

// Now implements sensors.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

// Uptime implements sensors.Clock.
func (c *Clock) Uptime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uptime
}

// NewTimer implements sensors.Clock; a timer with d <= 0 fires at once.
func (c *Clock) NewTimer(d time.Duration) sensors.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, ch: make(chan time.Time, 1), at: c.uptime + d}
	if d <= 0 {
		t.ch <- c.wall
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves both clocks forward by d, firing every timer that falls due,
// each at its own instant. It returns how many timers fired.
func (c *Clock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	end := c.uptime + d
	fired := 0
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at < c.timers[j].at })
	for len(c.timers) > 0 && c.timers[0].at <= end {
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.wall = c.wall.Add(t.at - c.uptime)
		c.uptime = t.at
		select {
		case t.ch <- c.wall:
		default:
		}
		fired++
	}
	c.wall = c.wall.Add(end - c.uptime)
	c.uptime = end
	return fired
}

// Timers returns how many timers are waiting to fire.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type timer struct {
	c  *Clock
	ch chan time.Time
	at time.Duration
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, o := range t.c.timers {
		if o == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Pins is a sensors.PinSource over a fixed map of pins; InitErr, when set,
// is what Init returns.
type Pins struct {
	Map     map[string]gpio.PinIO
	InitErr error
}

var _ sensors.PinSource = (*Pins)(nil)

// Init implements sensors.PinSource.
func (p *Pins) Init() error { return p.InitErr }

// ByName implements sensors.PinSource.
func (p *Pins) ByName(name string) gpio.PinIO {
	if pin, ok := p.Map[name]; ok {
		return pin
	}
	return nil
}
