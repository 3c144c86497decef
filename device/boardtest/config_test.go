package boardtest

import (
	"strings"
	"testing"

	"github.com/antt-gateway/antt/device/config"
)

// TestBoardConfig keeps the board's configuration, the scenario and the
// expected events in step as the config format changes, without qemu.
func TestBoardConfig(t *testing.T) {
	cfg, err := config.Load(boardConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Warnings {
		// The scenario sounds the siren past its max_on on purpose, to see
		// the board cut it off: that warning is the one expected.
		if strings.Contains(w.String(), "alarm.trigger_time") && strings.Contains(w.String(), `max_on 1s of output "siren"`) {
			continue
		}
		t.Errorf("warning: %s", w)
	}
	pins := map[string]config.Sensor{}
	for _, s := range cfg.Sensors {
		pins[s.Pin] = s
		if wantKinds[s.Name] != s.Kind {
			t.Errorf("sensor %s has kind %s, the test expects %q", s.Name, s.Kind, wantKinds[s.Name])
		}
		if _, ok := wantStates[s.Name]; !ok {
			t.Errorf("sensor %s has no expected events", s.Name)
		}
		if s.Name == "pir" && s.Hold != pirHold {
			t.Errorf("pir hold %v, the test expects %v", s.Hold, pirHold)
		}
		if s.Name == "cua" && s.Debounce != cuaDebounce {
			t.Errorf("cua debounce %v, the test expects %v", s.Debounce, cuaDebounce)
		}
	}
	if len(idle) != len(cfg.Sensors) {
		t.Errorf("%d idle levels for %d sensors", len(idle), len(cfg.Sensors))
	}
	for _, st := range idle {
		s, ok := pins[st.Pin]
		if !ok {
			t.Errorf("idle level for %s, which no sensor uses", st.Pin)
			continue
		}
		if activeHigh := s.Active != "low"; (st.Level == 1) == activeHigh {
			t.Errorf("idle level %d of %s is its active level", st.Level, s.Name)
		}
	}
	sc := Scenario()
	for _, st := range sc {
		if st.Pin != "" {
			if _, ok := pins[st.Pin]; !ok {
				t.Errorf("scenario drives %s, which no sensor of %s uses", st.Pin, boardConfig)
			}
		}
	}
	sh := script(sc)
	if n := strings.Count(sh, "level "); n != 14 {
		t.Errorf("script has %d level commands, want 14:\n%s", n, sh)
	}
	if !strings.Contains(sh, "say \"first-edge $name\"") {
		t.Errorf("script does not mark the first edge:\n%s", sh)
	}
}
