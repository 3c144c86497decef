package sensors

import "time"

// Clock is the time source of the inputs; tests inject sensorstest.Clock.
type Clock interface {
	// Now returns the wall time.
	Now() time.Time
	// Uptime returns the monotonic time since the process (or clock) started.
	Uptime() time.Duration
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of time.Timer the inputs use.
type Timer interface {
	// C returns the channel the time is sent on when the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
}

// SystemClock is the real clock. Create one at process start and share it,
// so every input's Mono counts from the same instant.
type SystemClock struct{ start time.Time }

// NewSystemClock returns a clock whose Uptime counts from now.
func NewSystemClock() *SystemClock { return &SystemClock{start: time.Now()} }

// Now implements Clock; the result carries a monotonic reading.
func (c *SystemClock) Now() time.Time { return time.Now() }

// Uptime implements Clock; it uses the monotonic clock, so wall clock steps
// (NTP setting the time on a board without RTC) do not move it.
func (c *SystemClock) Uptime() time.Duration { return time.Since(c.start) }

// NewTimer implements Clock.
func (c *SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }
