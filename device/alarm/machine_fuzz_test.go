package alarm

import (
	"testing"
	"time"
)

// FuzzMachine drives the logic with any sequence of inputs, commands and
// time steps and checks the promises that hold whatever happens:
//   - an effect reporting a mode change also saves the state (stored before
//     it is reported), and the stored mode is the one reported;
//   - silence never changes the mode;
//   - nothing sounds in test mode (only the 1 s output test);
//   - an alarm's outputs are asked for at most the trigger time;
//   - the mode is always a configured one, and Next never asks for a
//     deadline in the past after a Tick.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte{20, 1, 41, 1, 200, 3, 9, 9, 9, 7, 250, 250, 4, 2})
	cfg := school()
	cfg.Confirm = time.Minute
	cfg.Sensors[1].StuckAfter = 5 * time.Minute
	cfg.Sensors[1].BypassOnTrouble = true
	cfg.Sensors[2].MaxPerHour = 2
	cfg.Sensors[2].BypassOnTrouble = true
	names := []string{"gate-door", "hall-pir", "yard-pir", "window", "box-tamper", "panic", "key"}
	modes := []string{Disarmed, Away, Home, Night, "holiday", "nope"}
	o := Origin{By: ByStation, User: "cb-lan"}
	f.Fuzz(func(t *testing.T, ops []byte) {
		now := Instant{Wall: start, Mono: time.Hour, Synced: true}
		m, err := NewMachine(cfg, nil, State{}, now)
		if err != nil {
			t.Fatal(err)
		}
		active := map[string]bool{}
		for i, op := range ops {
			var eff Effects
			before := m.Mode()
			switch k := op % 8; k {
			case 0, 1, 2: // a sensor edge
				n := names[int(op/8)%len(names)]
				active[n] = !active[n]
				eff, _ = m.Input(n, active[n], now)
			case 3:
				by := o
				if op&64 != 0 {
					by = Origin{By: ByInstaller}
				}
				eff, _ = m.Arm(modes[int(op/8)%len(modes)], by, now)
			case 4:
				eff = m.Silence(o, now)
				if m.Mode() != before {
					t.Fatalf("op %d: silence changed the mode %s → %s", i, before, m.Mode())
				}
			case 5:
				eff, _ = m.Bypass(names[int(op/8)%len(names)], op&8 != 0, o, now)
			case 6:
				eff, _ = m.Test(op&8 != 0, Origin{By: ByInstaller}, now)
			case 7: // time passes: up to ~32 min, ticking every deadline
				end := now.Mono + time.Duration(op/8)*time.Minute + time.Second
				for {
					mono, ok, _, _ := m.Next()
					if !ok || mono > end {
						break
					}
					now = Instant{Wall: now.Wall.Add(mono - now.Mono), Mono: max(mono, now.Mono), Synced: true}
					e := m.Tick(now)
					check(t, i, m, e, cfg)
					if next, ok, _, _ := m.Next(); ok && next <= now.Mono {
						t.Fatalf("op %d: deadline %s still due after Tick at %s", i, next, now.Mono)
					}
				}
				now = Instant{Wall: now.Wall.Add(end - now.Mono), Mono: end, Synced: true}
				continue
			}
			check(t, i, m, eff, cfg)
		}
	})
}

func check(t *testing.T, i int, m *Machine, e Effects, cfg Config) {
	t.Helper()
	for _, ev := range e.Events {
		if ev.Kind == KindMode {
			if !e.Save {
				t.Fatalf("op %d: mode event %s without saving the state", i, ev.State)
			}
		}
	}
	if _, ok := m.cfg.modes[m.Mode()]; !ok && m.Mode() != Disarmed {
		t.Fatalf("op %d: mode %q", i, m.Mode())
	}
	if st := m.Persist(); st.Mode != m.Mode() {
		t.Fatalf("op %d: persisted mode %s, mode %s", i, st.Mode, m.Mode())
	}
	for _, ev := range e.Events {
		if ev.Kind == KindAlarm && ev.State == Triggered && ev.Attrs["outputs"] != nil && !e.Save && !e.SaveLate {
			t.Fatalf("op %d: an alarm sounds before its swinger count is saved", i)
		}
	}
	for name, s := range m.sensors {
		if s.trips > m.cfg.SwingerLimit {
			t.Fatalf("op %d: %s sounded %d alarms in one arming period, limit %d", i, name, s.trips, m.cfg.SwingerLimit)
		}
	}
	for _, a := range e.Actions {
		r := a.Request
		if !r.On {
			continue
		}
		if m.testUntil != 0 && !r.Test {
			t.Fatalf("op %d: %s on in test mode: %+v", i, a.Output, r)
		}
		if r.For > DefaultTriggerTime {
			t.Fatalf("op %d: %s asked on for %s, over the trigger time", i, a.Output, r.For)
		}
	}
}
