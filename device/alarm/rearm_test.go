package alarm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/sensors"
)

// The defaults (trigger time 3 min, siren max_on 3 min): an alarm ends at
// its trigger time, the site re-arms, and a new intrusion a few seconds
// later sounds again. (Before, the end counted as a cut-off and the siren
// then refused "on" for max_on: this new intrusion was silent.)
func TestNewIntrusionAfterAnAlarmSounds(t *testing.T) {
	s := startSite(t, siteOpt{cfg: gateCfg()})
	if err := s.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	s.input("hall-pir", true)
	if on := s.onFor("siren", 3*time.Minute+10*time.Second); on != 3*time.Minute {
		t.Fatalf("first alarm: siren on %s, want 3m", on)
	}
	if e := has(s.taken(), alarm.KindOutput, "siren", "off"); e == nil || e.Attrs["cut_off"] == true {
		t.Fatalf("the end at the trigger time is reported as a cut-off: %+v", e)
	}
	s.input("yard-pir", true)
	if !s.high("siren") {
		t.Fatalf("a new intrusion 10 s after the first alarm ended does not sound: %+v", s.taken())
	}
}

// Swinger shutdown: one sensor sounds the alarm at most SwingerLimit (2)
// times in an arming period, across a reboot; other sensors still sound;
// disarming ends the period.
func TestSwingerShutdownAcrossReboot(t *testing.T) {
	dir := t.TempDir()
	a := startSite(t, siteOpt{cfg: gateCfg(), dir: dir})
	if err := a.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	a.input("hall-pir", true) // trip 1
	a.advance(10*time.Second, time.Second)
	a.stop() // power cut during the alarm

	b := startSite(t, siteOpt{cfg: gateCfg(), dir: dir, boot: "boot-2", start: a.clock.Now().Add(30 * time.Second)})
	b.input("hall-pir", true)
	b.input("hall-pir", false)
	b.input("hall-pir", true) // trip 2: sounds, the last it may
	if !b.high("siren") {
		t.Fatal("second alarm of the sensor does not sound")
	}
	b.advance(3*time.Minute, time.Second)
	evs := b.taken()
	tr := has(evs, alarm.KindTrouble, "hall-pir", "active")
	if tr == nil || tr.Attrs["trouble"] != "swinger" || !strings.Contains(tr.Reason, "2 times") {
		t.Fatalf("no swinger trouble after the second alarm: %+v", evs)
	}
	if st := b.alarm.Status(); st.Bypassed["hall-pir"] != alarm.BypassSwinger || st.Mode != alarm.Night {
		t.Fatalf("after swinger shutdown: %+v", st)
	}
	b.input("hall-pir", false)
	b.input("hall-pir", true) // trip 3: bypassed
	if b.high("siren") {
		t.Fatal("the sensor sounded a third time in one arming period")
	}
	b.input("yard-pir", true) // another sensor: a new intrusion
	if !b.high("siren") {
		t.Fatal("another sensor does not sound after swinger shutdown of the first")
	}
	b.advance(3*time.Minute, time.Second)
	b.stop()

	// The shutdown survives a second reboot, and disarming lifts it.
	c := startSite(t, siteOpt{cfg: gateCfg(), dir: dir, boot: "boot-3", start: b.clock.Now().Add(time.Minute)})
	if st := c.alarm.Status(); st.Bypassed["hall-pir"] != alarm.BypassSwinger {
		t.Fatalf("swinger bypass lost in a reboot: %+v", st)
	}
	if err := c.alarm.Arm(context.Background(), alarm.Disarmed, officer); err != nil {
		t.Fatal(err)
	}
	if e := has(c.taken(), alarm.KindTrouble, "hall-pir", "inactive"); e == nil {
		t.Fatal("disarming did not end the swinger shutdown")
	}
	if err := c.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	c.input("hall-pir", true)
	if !c.high("siren") {
		t.Fatal("the sensor does not sound in the next arming period")
	}
}

// A trigger time longer than the siren's max_on makes every alarm a
// cut-off; the third within an hour locks the siren out (a trouble event
// the station sees) and the strobe keeps working; disarming clears it.
func TestSirenLockoutThenDisarmClears(t *testing.T) {
	cfg := gateCfg()
	cfg.TriggerTime = 2 * time.Minute
	cfg.SwingerLimit = 6
	s := startSite(t, siteOpt{cfg: cfg, outs: []output.Config{{Name: "siren", MaxOn: time.Minute}, {Name: "strobe", MaxOn: 15 * time.Minute}}})
	if err := s.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	for i, sensor := range []string{"hall-pir", "yard-pir", "hall-pir", "yard-pir"} {
		err := s.alarm.Input(context.Background(), sensors.Edge{Sensor: sensor, Active: true})
		if (i == 3) != (err != nil) {
			t.Fatalf("alarm %d: %v", i+1, err)
		}
		if i == 3 && (s.high("siren") || !s.high("strobe")) {
			t.Fatal("fourth alarm: the siren must stay locked out, the strobe must flash")
		}
		s.advance(2*time.Minute, time.Second)
		s.input(sensor, false)
	}
	evs := s.taken()
	lock := has(evs, alarm.KindTrouble, "siren", "active")
	if lock == nil || lock.Attrs["trouble"] != "lockout" {
		t.Fatalf("no lockout trouble after three cut-offs: %+v", evs)
	}
	if f := has(evs, alarm.KindOutput, "siren", "failed"); f == nil || !strings.Contains(f.Reason, "locked out") {
		t.Fatalf("the fourth alarm's refused siren is not reported: %+v", evs)
	}
	if err := s.alarm.Arm(context.Background(), alarm.Disarmed, officer); err != nil {
		t.Fatal(err)
	}
	if e := has(s.taken(), alarm.KindTrouble, "siren", "inactive"); e == nil || e.User != "cb-lan" {
		t.Fatalf("disarm did not clear the lockout: %+v", e)
	}
	if err := s.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	s.input("hall-pir", true)
	if !s.high("siren") {
		t.Fatal("siren silent after the lockout was cleared")
	}
}

// blockingStore holds every Save until released, to show what waits on it.
type blockingStore struct {
	alarm.MemStore
	block   chan struct{}
	entered chan struct{}
}

func (b *blockingStore) Save(st alarm.State) error {
	b.entered <- struct{}{}
	<-b.block
	return b.MemStore.Save(st)
}

// The swinger count is saved after the siren is switched on (an fsync of
// alarm.json must not delay it) and before the alarm is reported.
func TestSirenDoesNotWaitForTheCountSave(t *testing.T) {
	st := &blockingStore{block: make(chan struct{}), entered: make(chan struct{}, 8)}
	s := startSite(t, siteOpt{cfg: gateCfg(), store: st})
	arm := make(chan error, 1)
	go func() { arm <- s.alarm.Arm(context.Background(), alarm.Night, officer) }()
	<-st.entered
	st.block <- struct{}{} // the mode is saved before it is reported
	if err := <-arm; err != nil {
		t.Fatal(err)
	}
	s.taken()
	done := make(chan error, 1)
	go func() { done <- s.alarm.Input(context.Background(), sensors.Edge{Sensor: "hall-pir", Active: true}) }()
	<-st.entered // the count's save has begun and is held
	if !s.high("siren") {
		t.Fatal("the siren waits for the alarm state to be saved")
	}
	if e := has(s.taken(), alarm.KindAlarm, "hall-pir", alarm.Triggered); e != nil {
		t.Fatal("the alarm was reported before its count was saved")
	}
	st.block <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := st.MemStore.Saves(); n != 2 {
		t.Fatalf("%d saves, want 2 (mode, count)", n)
	}
	if l, _ := st.Load(); l.Trips["hall-pir"] != 1 {
		t.Fatalf("stored count %+v", l.Trips)
	}
}
