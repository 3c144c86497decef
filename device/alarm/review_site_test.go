package alarm_test

import (
	"context"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/alarm"
)

// Found reading the logic as an attacker: an output test (`test {output}`,
// POST /api/test) while an alarm sounded asked the siren for one second,
// and the output shortened the sounding activation to that second: a
// silence without the silence command, the site still "triggered". An
// output test is an installer's act at a disarmed site, like the walk
// test; armed, it is refused and the siren sounds on.
func TestOutputTestCannotShortenAnAlarm(t *testing.T) {
	s := startSite(t, siteOpt{cfg: gateCfg()})
	if err := s.alarm.Arm(context.Background(), alarm.Night, officer); err != nil {
		t.Fatal(err)
	}
	s.input("hall-pir", true)
	err := s.alarm.TestOutput(context.Background(), "siren", alarm.Origin{By: alarm.ByInstaller})
	s.advance(2*time.Second, time.Second)
	if !s.high("siren") {
		t.Fatalf("an output test during an alarm silenced the siren (test: %v)", err)
	}
	if err == nil {
		t.Fatal("output test accepted while armed")
	}
}

// Found reading the logic as a tired installer: a small site with one
// siren uses it for the chime too. While disarmed a tamper sounds it; then
// someone opens the chime door, the chime's chirp replaced the alarm's
// steady request and ended it 100 ms later: the tamper alarm was silenced
// by a door. The chime now stays off an output an alarm is sounding.
func TestChimeCannotEndAnAlarmOnTheSameOutput(t *testing.T) {
	cfg := gateCfg()
	cfg.Sensors[0].Chime = true
	cfg.Chime = []alarm.Use{{Output: "siren"}}
	s := startSite(t, siteOpt{cfg: cfg})
	s.input("box-tamper", true)
	if !s.high("siren") {
		t.Fatal("tamper does not sound while disarmed")
	}
	s.input("gate-door", true) // chime while disarmed
	s.advance(2*time.Second, 100*time.Millisecond)
	if !s.high("siren") {
		t.Fatal("the chime on the same output ended the tamper alarm")
	}
	if e := has(s.taken(), alarm.KindChime, "gate-door", "active"); e == nil {
		t.Fatal("no chime event")
	}
}
