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
	Mark  string
	Pause time.Duration
}

// idle is every driven line's inactive level, set before each gateway run.
var idle = []step{
	{Pin: "GPIO17", Level: 0}, // pir, active high
	{Pin: "GPIO22", Level: 0}, // cua, active high
	{Pin: "GPIO23", Level: 1}, // tamper, active low
	{Pin: "GPIO24", Level: 1}, // panic, active low
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

// wantStates is the events expected from Scenario, per sensor, in order.
var wantStates = map[string][]string{
	"cua":    {"active", "inactive"},
	"pir":    {"active", "inactive", "active", "inactive"},
	"tamper": {"active", "inactive"},
	"panic":  {"active", "inactive"},
}

// wantKinds is each sensor's event kind in boardConfig.
var wantKinds = map[string]string{"cua": "contact", "pir": "motion", "tamper": "tamper", "panic": "panic"}

// script renders steps as the busybox shell the board's /init sources; it
// provides level, pause and say.
func script(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		if s.Pin != "" {
			fmt.Fprintf(&b, "level %s %d\n", s.Pin, s.Level)
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
