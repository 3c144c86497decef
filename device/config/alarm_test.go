package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/output"
)

// TestAlarmSchool reads the school example and checks that every alarm key
// reaches alarm.Config, lined up with the sensors.
func TestAlarmSchool(t *testing.T) {
	cfg, err := Load(filepath.Join(testdata, "alarm-school.yaml"), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Alarm
	if !a.Enabled {
		t.Fatal("alarm not enabled")
	}
	c := a.Config
	if c.TriggerTime != 3*time.Minute || c.Confirm != 2*time.Minute || c.Zone == nil || c.Zone.String() != "Asia/Ho_Chi_Minh" {
		t.Errorf("trigger_time %s confirm %s zone %v", c.TriggerTime, c.Confirm, c.Zone)
	}
	pulse, _ := output.ParsePattern("pulse 2Hz 50%")
	if want := []alarm.Use{{Output: "siren"}, {Output: "strobe", Pattern: pulse}}; !reflect.DeepEqual(c.Trigger, want) {
		t.Errorf("trigger = %+v, want %+v", c.Trigger, want)
	}
	if c.Feedback == nil || c.Feedback.Output != "buzzer" || c.Feedback.Origins != nil {
		t.Errorf("feedback = %+v", c.Feedback)
	}
	if want := []alarm.Mode{{Name: "away", ExitDelay: 45 * time.Second}, {Name: "holiday", ExitDelay: 10 * time.Second}}; !reflect.DeepEqual(c.Modes, want) {
		t.Errorf("modes = %+v", c.Modes)
	}
	if want := []alarm.Entry{{Days: []string{"weekdays"}, At: "06:30", Mode: "disarmed"}, {Days: []string{"weekdays"}, At: "17:30", Mode: "away"}}; !reflect.DeepEqual(c.Schedule.Entries, want) {
		t.Errorf("schedule = %+v", c.Schedule)
	}
	if !reflect.DeepEqual(c.Schedule.Holidays, []string{"2026-09-02"}) {
		t.Errorf("holidays = %v", c.Schedule.Holidays)
	}
	if len(c.Sensors) != len(cfg.Sensors) {
		t.Fatalf("%d alarm sensors for %d sensors", len(c.Sensors), len(cfg.Sensors))
	}
	want := []alarm.Sensor{
		{Name: "cong-truong", Kind: "contact", Modes: []string{"away", "night"}, EntryDelay: 30 * time.Second, Chime: true, StuckAfter: 30 * time.Minute},
		{Name: "pir-day-a", Kind: "motion", Modes: []string{"away", "night"}, StuckAfter: 30 * time.Minute, MaxPerHour: 20, BypassOnTrouble: true},
		{Name: "cua-so", Kind: "contact", Modes: []string{"away"}, AutoBypass: true, StuckAfter: 30 * time.Minute},
		{Name: "nut-khan-cap", Kind: "panic", Always: true, Silent: true, StuckAfter: 30 * time.Minute},
		{Name: "chia-khoa", Kind: "keyswitch", Keyswitch: "night"},
	}
	if !reflect.DeepEqual(c.Sensors, want) {
		t.Errorf("sensors =\n%+v\nwant\n%+v", c.Sensors, want)
	}
	chirp2, _ := output.ParsePattern("chirp 2")
	if o := cfg.Outputs[2]; o.Driver != "sim" || o.Pattern != chirp2 || o.MaxOn != 5*time.Second {
		t.Errorf("buzzer = %+v", o)
	}
	if o := cfg.Outputs[1]; o.Rest != time.Minute || o.MaxCutOffs != 5 {
		t.Errorf("strobe rest = %s, max_cut_offs = %d", o.Rest, o.MaxCutOffs)
	}
	back, err := Parse([]byte(cfg.Redacted()), LookupEnv(noEnv))
	if err != nil || back.Outputs[1].MaxCutOffs != 5 {
		t.Errorf("redacted round trip: %v\n%s", err, cfg.Redacted())
	}
	_, err = Parse([]byte("gateway: {id: g}\nuplink: {broker: \"mqtt://127.0.0.1:1883\"}\noutputs:\n  - {name: siren, driver: sim, max_on: 1m, max_cut_offs: 11}\n"), LookupEnv(noEnv))
	if err == nil || !strings.Contains(err.Error(), "outputs[0].max_cut_offs") || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("max_cut_offs 11: %v", err)
	}
}

// TestAlarmDefaultTrigger: with trigger left out, an alarm drives every
// output that chime and feedback do not use, with the output's pattern.
func TestAlarmDefaultTrigger(t *testing.T) {
	cfg, err := Parse([]byte(`gateway: {id: g}
uplink: {broker: mqtt://h}
alarm:
  chime: [{output: buzzer, pattern: chirp 1}]
sensors:
  - {name: door, kind: contact, driver: sim, every: 1s, modes: [away]}
outputs:
  - {name: siren, driver: sim}
  - {name: strobe, driver: sim, pattern: pulse 1Hz}
  - {name: buzzer, driver: sim}
`), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	pulse, _ := output.ParsePattern("pulse 1Hz")
	if want := []alarm.Use{{Output: "siren"}, {Output: "strobe", Pattern: pulse}}; !reflect.DeepEqual(cfg.Alarm.Config.Trigger, want) {
		t.Errorf("trigger = %+v, want %+v", cfg.Alarm.Config.Trigger, want)
	}
}

// TestNoAlarm: a file without alarm keys runs no alarm logic.
func TestNoAlarm(t *testing.T) {
	cfg, err := Parse([]byte("gateway: {id: g}\nuplink: {broker: mqtt://h}\nsensors: [{name: p, kind: motion, driver: sim, every: 1s}]\n"), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alarm.Enabled {
		t.Error("alarm enabled without alarm keys")
	}
}

// TestAlarmTriggerLongerThanMaxOn: a tired installer's trigger_time above
// the siren's max_on is accepted with a warning on the trigger_time line
// saying what it does (cut off in every alarm, locked out at the 3rd).
func TestAlarmTriggerLongerThanMaxOn(t *testing.T) {
	cfg, err := Parse([]byte(`gateway: {id: g}
uplink: {broker: mqtt://h}
alarm:
  trigger_time: 5m
  swinger_limit: 3
sensors:
  - {name: door, kind: contact, driver: sim, every: 1s, modes: [away]}
outputs:
  - {name: siren, driver: sim, max_on: 2m}
  - {name: strobe, driver: sim, max_on: 10m}
`), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alarm.Config.SwingerLimit != 3 {
		t.Errorf("swinger_limit = %d", cfg.Alarm.Config.SwingerLimit)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.String())
	}
	if len(got) != 1 || !strings.Contains(got[0], `line 4: alarm.trigger_time: 5m0s is longer than the max_on 2m0s of output "siren"`) || !strings.Contains(got[0], "3rd cut-off") {
		t.Fatalf("warnings %q", got)
	}
}
