package sensors

import (
	"testing"
	"time"
)

// TestMachine drives the pure state machine with raw edges and ticks at
// given instants (ms) and checks what it reports.
func TestMachine(t *testing.T) {
	type ev struct {
		ms    int64
		tick  bool // a tick with the current level instead of a raw edge
		level bool
	}
	type out struct {
		ms     int64
		active bool
	}
	tests := []struct {
		name           string
		debounce, hold time.Duration
		in             []ev
		want           []out
		suppressed     uint64
	}{
		{"plain", 0, 0, []ev{{0, false, true}, {5, false, false}, {6, false, true}}, []out{{0, true}, {5, false}, {6, true}}, 0},
		{"same level twice", 0, 0, []ev{{0, false, true}, {5, false, true}}, []out{{0, true}}, 0},
		{"glitch", 50, 0, []ev{{0, false, true}, {10, false, false}, {60, true, false}}, nil, 0},
		{"bounce then stable", 50, 0, []ev{{0, false, true}, {10, false, false}, {20, false, true}, {70, true, true}}, []out{{0, true}}, 0},
		{"hold delays release", 0, 100, []ev{{0, false, true}, {10, false, false}, {100, true, false}}, []out{{0, true}, {100, false}}, 0},
		{"hold absorbs", 0, 100, []ev{{0, false, true}, {10, false, false}, {20, false, true}, {100, true, true}, {150, false, false}}, []out{{0, true}, {150, false}}, 1},
		{"debounce longer than hold", 200, 100, []ev{{0, false, true}, {200, true, true}, {300, false, false}, {500, true, false}}, []out{{0, true}, {300, false}}, 0},
		{"late tick reports expiry instant", 0, 100, []ev{{0, false, true}, {10, false, false}, {400, true, false}}, []out{{0, true}, {100, false}}, 0},
	}
	wall := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(tt.debounce*time.Millisecond, tt.hold*time.Millisecond, false)
			var got []change
			for _, e := range tt.in {
				d := time.Duration(e.ms) * time.Millisecond
				s := stamp{wall: wall.Add(d), mono: d}
				if e.tick {
					if at, ok := m.next(); !ok || at > d {
						t.Fatalf("tick at %dms but next() = %v, %v", e.ms, at, ok)
					}
					got = append(got, m.tick(e.level, s)...)
				} else {
					got = append(got, m.raw(e.level, s)...)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d changes %+v, want %+v", len(got), got, tt.want)
			}
			for i, w := range tt.want {
				d := time.Duration(w.ms) * time.Millisecond
				if got[i].active != w.active || got[i].at.mono != d || !got[i].at.wall.Equal(wall.Add(d)) {
					t.Errorf("change %d = %+v, want active=%v at %dms", i, got[i], w.active, w.ms)
				}
			}
			if m.suppressed != tt.suppressed {
				t.Errorf("suppressed = %d, want %d", m.suppressed, tt.suppressed)
			}
		})
	}
}
