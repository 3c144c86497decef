package boardtest

import (
	"fmt"
	"strings"
	"time"
)

// boardConfig is the gateway's configuration on the board; its sensors are
// the ones the scenario drives.
const boardConfig = "../../testdata/board/gateway.yaml"

// Sensor settings of boardConfig the checks depend on.
const (
	pirHold     = 2 * time.Second
	cuaDebounce = 100 * time.Millisecond
)

// step drives one gpio-sim line to a level (when Pin is set), prints a
// mark (when Mark is set), then waits Pause. Pause is counted by the board's
// busybox, so it is a schedule for the edges, not a wait for the gateway.
type step struct {
	Pin   string
	Level int
	// Wait, instead of Pin, waits for the gateway to drive this output line
	// to Level (read back from gpio-sim's value file); Mark follows it.
	Wait  string
	Mark  string
	Pause time.Duration
}

// idle is every driven line's inactive level, set before each gateway run.
var idle = []step{
	{Pin: "GPIO17", Level: 0}, // pir, active high
	{Pin: "GPIO22", Level: 0}, // cua, active high
	{Pin: "GPIO23", Level: 1}, // tamper, active low
	{Pin: "GPIO24", Level: 1}, // panic, active low
	{Pin: "GPIO25", Level: 0}, // key switch: disarmed
	{Pin: "GPIO18", Level: 0}, // hall pir
}

// Scenario is the edges played against each gateway. Every level is held
// at least 300 ms: far beyond the largest debounce window (100 ms), and
// gpio-sim queues at most 16 events per line, so nothing merges.
//
// Expected, per sensor (wantStates):
//   - cua: open, close → active, inactive; then a glitch (up and down with
//     nothing between, a few ms under emulation) shorter than its 100 ms
//     debounce → nothing.
//   - pir: active → one event; falling, rising again and falling inside the
//     2 s hold → nothing more; inactive once the hold has expired. A second
//     activation after that → active, and inactive at its hold's expiry.
//   - tamper and panic, active low, interleaved with the pir's hold → one
//     event per edge.
func Scenario() []step {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return []step{
		{Pause: ms(300)}, // let the sensor loops start after the API answers
		{Pin: "GPIO22", Level: 1, Mark: "first-edge", Pause: ms(400)},
		{Pin: "GPIO22", Level: 0, Pause: ms(400)},
		{Pin: "GPIO22", Level: 1}, // glitch
		{Pin: "GPIO22", Level: 0, Pause: ms(400)},
		{Pin: "GPIO17", Level: 1, Mark: "pir-1", Pause: ms(400)},
		{Pin: "GPIO17", Level: 0, Pause: ms(300)}, // inside the hold
		{Pin: "GPIO23", Level: 0, Pause: ms(300)},
		{Pin: "GPIO17", Level: 1, Pause: ms(300)}, // retrigger inside the hold
		{Pin: "GPIO23", Level: 1, Pause: ms(300)},
		{Pin: "GPIO17", Level: 0, Pause: ms(300)},
		{Pin: "GPIO24", Level: 0, Pause: ms(300)},
		{Pin: "GPIO24", Level: 1, Pause: ms(2300)}, // past the hold, even one counted from the retrigger
		{Pin: "GPIO17", Level: 1, Mark: "pir-2", Pause: ms(400)},
		{Pin: "GPIO17", Level: 0, Pause: pirHold + ms(500)},
	}
}

// AlarmScenario follows Scenario: the key switch arms away (no exit
// delay); the gate opens, and after its entry delay the siren line goes
// high, and low again at its cut-off; once the strobe ends with the trigger
// time (the site armed again, the open gate bypassed), the hall PIR, instant
// and without debounce, drives the siren line again: the edge-to-line figure.
func AlarmScenario() []step {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return []step{
		{Pin: "GPIO25", Level: 1, Mark: "armed", Pause: ms(500)},
		{Pin: "GPIO22", Level: 1, Mark: "door-open"},
		{Wait: "GPIO27", Level: 1, Mark: "siren-on"},
		{Wait: "GPIO27", Level: 0, Mark: "siren-off"},
		{Wait: "GPIO26", Level: 0, Mark: "strobe-off", Pause: ms(500)},
		{Pin: "GPIO18", Level: 1, Mark: "hall-edge"},
		{Wait: "GPIO27", Level: 1, Mark: "siren-on-2", Pause: ms(300)},
		{Pin: "GPIO18", Level: 0, Pause: ms(300)},
		{Pin: "GPIO25", Level: 0, Mark: "disarmed"},
		{Wait: "GPIO27", Level: 0, Mark: "siren-off-2", Pause: ms(300)},
	}
}

// wantStates is the events expected from Scenario, per sensor, in order.
// AlarmScenario opens the gate again (it stays open), turns the key switch
// on and off and moves the hall PIR once.
var wantStates = map[string][]string{
	"cua":       {"active", "inactive", "active"},
	"pir":       {"active", "inactive", "active", "inactive"},
	"tamper":    {"active", "inactive"},
	"panic":     {"active", "inactive"},
	"chia-khoa": {"active", "inactive"},
	"hall":      {"active", "inactive"},
}

// wantKinds is each sensor's event kind in boardConfig.
var wantKinds = map[string]string{"cua": "contact", "pir": "motion", "tamper": "tamper", "panic": "panic", "chia-khoa": "keyswitch", "hall": "motion"}

// script renders steps as the busybox shell the board's /init sources; it
// provides level, pause and say.
func script(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		if s.Pin != "" {
			fmt.Fprintf(&b, "level %s %d\n", s.Pin, s.Level)
		}
		if s.Wait != "" {
			fmt.Fprintf(&b, "waitline %s %d || say \"timeout %s %s=%d $name\"\n", s.Wait, s.Level, s.Mark, s.Wait, s.Level)
		}
		if s.Mark != "" {
			fmt.Fprintf(&b, "say \"%s $name\"\n", s.Mark)
		}
		if s.Pause > 0 {
			fmt.Fprintf(&b, "pause %.3f\n", s.Pause.Seconds())
		}
	}
	return b.String()
}
