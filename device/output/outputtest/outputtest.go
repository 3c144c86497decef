// Package outputtest holds fakes for testing code that uses package output
// without hardware: a Line that records every level it was set to, and a
// Boot that follows a fake clock.
package outputtest

import (
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/sensors"
)

// Line records levels; Err, when set, is what Set returns (after
// recording). The zero value is ready to use.
type Line struct {
	Name string

	mu     sync.Mutex
	levels []bool
	err    error
}

var _ output.Line = (*Line)(nil)

// Set implements output.Line.
func (l *Line) Set(on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.levels = append(l.levels, on)
	return l.err
}

// Fail makes later Sets return err (nil to stop failing).
func (l *Line) Fail(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

// String implements output.Line.
func (l *Line) String() string { return "test:" + l.Name }

// On reports the last level set.
func (l *Line) On() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.levels) > 0 && l.levels[len(l.levels)-1]
}

// Levels returns every level set so far, in order.
func (l *Line) Levels() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.levels...)
}

// Boot is an output.Boot whose clock is a fake clock's uptime plus Offset
// (the time the kernel had been up when the process started).
type Boot struct {
	BootID string
	Clock  sensors.Clock
	Offset time.Duration
}

var _ output.Boot = (*Boot)(nil)

// ID implements output.Boot.
func (b *Boot) ID() string { return b.BootID }

// Since implements output.Boot.
func (b *Boot) Since() time.Duration { return b.Offset + b.Clock.Uptime() }
