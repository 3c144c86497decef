package output

import (
	"log/slog"
	"testing"
	"time"
)

// fakeLine is a Line that keeps its level (outputtest cannot be imported
// from inside the package).
type fakeLine struct{ on bool }

func (l *fakeLine) Set(on bool) error { l.on = on; return nil }
func (l *fakeLine) String() string    { return "fake" }
func (l *fakeLine) On() bool          { return l.on }

// FuzzCutOff throws any sequence of requests and time steps (including late
// timers) at the output's logic and checks its promise: the line is never
// on longer than max_on within one activation, never on while the output
// is off, and on requests during a rest or a lockout are refused. The first
// byte picks the rest (none, the default, or 20 s).
func FuzzCutOff(f *testing.F) {
	f.Add([]byte{1, 9, 200, 3, 250, 250, 250, 1, 7})
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, ops []byte) {
	{
		const maxOn = 10 * time.Second
		rest := time.Duration(0)
		if len(ops) > 0 && ops[0]%2 == 1 {
			rest = 20 * time.Second
		}
		line := &fakeLine{}
		c := &ctl{name: "siren", maxOn: maxOn, rest: rest, maxCuts: DefaultMaxCutOffs, line: line, log: slog.New(slog.DiscardHandler)}
		now := instant{wall: time.Unix(1_800_000_000, 0), mono: time.Second, boot: time.Minute}
		var actStart time.Duration // mono when the current activation began
		wasOn := false
		step := func(d time.Duration) {
			// Time passes; the timer may fire late (as a loaded board's would).
			end := now.mono + d
			for {
				at, ok := c.next()
				if !ok || at > end {
					break
				}
				now.mono, now.wall = max(at, now.mono), now.wall.Add(max(at-now.mono, 0))
				c.tick(now)
				observe(t, c, line, now, &actStart, &wasOn, maxOn)
			}
			now.wall = now.wall.Add(end - now.mono)
			now.mono = end
		}
		for _, op := range ops {
			switch op % 4 {
			case 0, 1:
				p := []Pattern{{}, {Kind: Pulse, Hz: 3, Duty: 0.3}, {Kind: Chirp, Count: 2}}[int(op/4)%3]
				resting, locked := now.mono < c.restUntil, now.mono < c.lockUntil
				_, err := c.set(Request{On: true, Pattern: p, For: time.Duration(op/12) * time.Second}, now)
				if err == nil && (resting || locked) {
					t.Fatalf("on accepted while resting %v / locked out %v", resting, locked)
				}
			case 2:
				c.set(Request{On: false, Reset: op%8 == 6}, now)
			case 3:
				// Jump without ticking first: a late timer.
				late := time.Duration(op/4) * 300 * time.Millisecond
				now.mono, now.wall = now.mono+late, now.wall.Add(late)
				c.tick(now)
				observe(t, c, line, now, &actStart, &wasOn, maxOn)
				step(time.Second)
				continue
			}
			observe(t, c, line, now, &actStart, &wasOn, maxOn)
			step(time.Duration(op%7) * time.Second)
		}
	}
}

func observe(t *testing.T, c *ctl, line *fakeLine, now instant, actStart *time.Duration, wasOn *bool, maxOn time.Duration) {
	t.Helper()
	if line.On() && !c.on {
		t.Fatal("line on while the output is off")
	}
	if c.on && !*wasOn {
		*actStart = now.mono
	}
	*wasOn = c.on
	if c.on && c.cap > *actStart+maxOn {
		t.Fatalf("cut-off %s later than activation start %s + max_on", c.cap, *actStart)
	}
	// Once the timer that ends an activation has run, the line is off:
	// whatever is observed on after the cut-off was handled is a bug.
	if c.on && now.mono > c.cap {
		t.Fatalf("still on at %s, past the cut-off %s, after a tick", now.mono, c.cap)
	}
}
