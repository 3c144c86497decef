package sensors

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// simInput is the simulated driver: a periodic pulse, a script played once,
// or only on-demand Trigger calls. Its raw edges go through the same machine
// as GPIO edges.
type simInput struct {
	*core
	trig chan rawEdge

	mu      sync.Mutex
	running bool
}

func newSim(cfg Config, opt Options) *simInput {
	return &simInput{core: newCore(cfg, opt), trig: make(chan rawEdge, 16)}
}

// Trigger implements Triggerer. It fails when Run is not active or when
// triggers arrive faster than Run takes them.
func (s *simInput) Trigger(active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return fmt.Errorf("sensor %q: trigger: %w", s.cfg.Name, ErrNotRunning)
	}
	select {
	case s.trig <- rawEdge{level: active, at: s.now()}:
		return nil
	default:
		return fmt.Errorf("sensor %q: trigger: too many pending triggers", s.cfg.Name)
	}
}

func (s *simInput) setTriggerable(r bool) {
	s.mu.Lock()
	s.running = r
	s.mu.Unlock()
}

// Prime implements Input: the simulated input starts in Config.Initial.
func (s *simInput) Prime() (bool, error) {
	return s.prime(func() (bool, error) { return s.cfg.Initial, nil })
}

// Run plays the schedule and Trigger calls until ctx ends; it never fails.
func (s *simInput) Run(ctx context.Context, out chan<- Edge) error {
	_, _ = s.Prime() // cannot fail
	initial, at, _ := s.takePrimed()
	start := s.clock.Uptime()
	raw := make(chan rawEdge)
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.feed(rctx, start, raw)
	}()
	s.setTriggerable(true)
	err := s.core.loop(rctx, out, raw, nil, initial, at)
	s.setTriggerable(false)
	cancel()
	wg.Wait()
	// Drop triggers that arrived too late, so a later Run starts clean.
	for {
		select {
		case <-s.trig:
		default:
			return err
		}
	}
}

// feed owns the schedule: it merges scheduled steps and triggers into raw.
func (s *simInput) feed(ctx context.Context, start time.Duration, raw chan<- rawEdge) {
	pulse := s.cfg.Pulse
	if pulse == 0 {
		pulse = min(time.Second, s.cfg.Every/2)
	}
	// step returns the n-th scheduled step, if any.
	step := func(n int) (Step, bool) {
		if s.cfg.Every > 0 {
			k := time.Duration(n/2 + 1)
			if n%2 == 0 {
				return Step{At: k * s.cfg.Every, Active: true}, true
			}
			return Step{At: k*s.cfg.Every + pulse, Active: false}, true
		}
		if n < len(s.cfg.Script) {
			return s.cfg.Script[n], true
		}
		return Step{}, false
	}
	for n := 0; ; {
		var tc <-chan time.Time
		var timer Timer
		st, ok := step(n)
		if ok {
			timer = s.clock.NewTimer(start + st.At - s.clock.Uptime())
			tc = timer.C()
		}
		var r rawEdge
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case r = <-s.trig:
		case <-tc:
			n++
			// Stamp at the scheduled instant, not when this goroutine ran.
			now := s.now()
			at := start + st.At
			r = rawEdge{level: st.Active, at: stamp{wall: now.wall.Add(at - now.mono), mono: at}}
		}
		if timer != nil {
			timer.Stop()
		}
		select {
		case raw <- r:
		case <-ctx.Done():
			return
		}
	}
}
