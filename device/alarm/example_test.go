package alarm_test

import (
	"fmt"
	"time"

	"github.com/antt-gateway/antt/device/alarm"
)

// A school gate at night: the door starts its entry delay, nobody disarms,
// the siren sounds for the trigger time, then the site is armed again with
// the open door bypassed until it closes.
func ExampleMachine() {
	cfg := alarm.Config{
		Sensors: []alarm.Sensor{{Name: "cong-truong", Kind: "contact", Modes: []string{alarm.Night}, EntryDelay: 30 * time.Second}},
		Trigger: []alarm.Use{{Output: "siren"}},
	}
	now := alarm.Instant{Wall: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC), Mono: time.Hour, Synced: true}
	m, err := alarm.NewMachine(cfg, nil, alarm.State{}, now)
	if err != nil {
		panic(err)
	}
	show := func(e alarm.Effects) {
		for _, a := range e.Actions {
			fmt.Printf("  output %s on=%v for %s\n", a.Output, a.Request.On, a.Request.For)
		}
		for _, ev := range e.Events {
			why := ev.Reason
			if why == "" {
				why = "by " + ev.By + " " + ev.User
			}
			fmt.Printf("  event %s %s %s (%s)\n", ev.Kind, ev.Source, ev.State, why)
		}
	}
	later := func(d time.Duration) {
		now.Wall, now.Mono = now.Wall.Add(d), now.Mono+d
	}
	fmt.Println("arm night:")
	e, _ := m.Arm(alarm.Night, alarm.Origin{By: alarm.ByStation, User: "cb-lan"}, now)
	show(e)
	fmt.Println("door opens:")
	e, _ = m.Input("cong-truong", true, now)
	show(e)
	later(30 * time.Second)
	fmt.Println("30 s later:")
	show(m.Tick(now))
	later(3 * time.Minute)
	fmt.Println("3 min later:")
	show(m.Tick(now))
	// Output:
	// arm night:
	//   event mode night night (by station cb-lan)
	// door opens:
	//   event entry_delay cong-truong started (entry delay)
	// 30 s later:
	//   output siren on=true for 3m0s
	//   event alarm cong-truong triggered (intrusion in mode night: entry delay over)
	// 3 min later:
	//   output siren on=false for 0s
	//   event alarm cong-truong restored (trigger time 3m0s over; armed again)
	//   event bypass cong-truong on (triggered and still active; bypassed until it closes)
}
