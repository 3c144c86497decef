package alarm

import (
	"strings"
	"testing"
	"time"
)

func hcm(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// schoolSchedule: disarmed for school hours on weekdays, away otherwise;
// Saturday morning classes; holidays stay armed.
func schoolSchedule(loc *time.Location) Config {
	cfg := school()
	cfg.Zone = loc
	cfg.Schedule = Schedule{
		Entries: []Entry{
			{Days: []string{"weekdays"}, At: "06:30", Mode: Disarmed},
			{Days: []string{"weekdays"}, At: "17:30", Mode: Away},
			{Days: []string{"sat"}, At: "07:00", Mode: Disarmed},
			{Days: []string{"sat"}, At: "11:30", Mode: Away},
		},
		Holidays: []string{"2026-12-07", "2027-01-01"},
	}
	return cfg
}

// modeChanges returns "local time mode by" of the mode events since the
// last call.
func (s *sim) modeChanges(loc *time.Location) []string {
	var out []string
	for _, e := range s.events {
		switch e.Kind {
		case KindMode:
			out = append(out, e.Time.In(loc).Format("Mon 01-02 15:04 ")+e.State+" "+e.By)
		case KindArmingRefused:
			out = append(out, e.Time.In(loc).Format("Mon 01-02 15:04 ")+"refused "+e.State+" "+e.By)
		}
	}
	s.events = nil
	return out
}

func TestScheduleSchoolWeekAndHoliday(t *testing.T) {
	loc := hcm(t)
	// Thursday 2026-12-03 12:00 local; the schedule was last applied that
	// morning (the stored state of a running board).
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, loc)
	s := newSim(t, schoolSchedule(loc), State{Mode: Disarmed, ScheduleDone: time.Date(2026, 12, 3, 6, 30, 0, 0, loc)}, at)
	s.advance(7 * 24 * time.Hour)
	s.want("a week of the school's schedule (Monday 12-07 a holiday)", s.modeChanges(loc),
		"Thu 12-03 17:30 away schedule",
		"Fri 12-04 06:30 disarmed schedule",
		"Fri 12-04 17:30 away schedule",
		"Sat 12-05 07:00 disarmed schedule",
		"Sat 12-05 11:30 away schedule",
		// Sunday: nothing; Monday the holiday: nothing; armed until Tuesday.
		"Tue 12-08 06:30 disarmed schedule",
		"Tue 12-08 17:30 away schedule",
		"Wed 12-09 06:30 disarmed schedule",
		"Wed 12-09 17:30 away schedule",
		"Thu 12-10 06:30 disarmed schedule",
	)
	ev := s.m.Persist()
	if !ev.ScheduleDone.Equal(time.Date(2026, 12, 10, 6, 30, 0, 0, loc)) {
		t.Fatalf("schedule done %s", ev.ScheduleDone)
	}
	// Across the year boundary and its holiday (Friday 2027-01-01).
	s2 := newSim(t, schoolSchedule(loc), State{Mode: Away, ScheduleDone: time.Date(2026, 12, 31, 17, 30, 0, 0, loc)}, time.Date(2026, 12, 31, 20, 0, 0, 0, loc))
	s2.advance(3 * 24 * time.Hour)
	s2.want("new year", s2.modeChanges(loc),
		"Sat 01-02 07:00 disarmed schedule",
		"Sat 01-02 11:30 away schedule",
	)
}

func TestScheduleGateAcrossMidnight(t *testing.T) {
	loc := hcm(t)
	cfg := school()
	cfg.Zone = loc
	cfg.Schedule.Entries = []Entry{
		{Days: []string{"every"}, At: "22:00", Mode: Night},
		{Days: []string{"every"}, At: "05:00", Mode: Disarmed},
	}
	// Sunday 21:00: the week turns over at midnight inside the night.
	at := time.Date(2026, 12, 6, 21, 0, 0, 0, loc)
	s := newSim(t, cfg, State{Mode: Disarmed, ScheduleDone: time.Date(2026, 12, 6, 5, 0, 0, 0, loc)}, at)
	s.advance(2 * time.Hour)
	if s.m.Mode() != Night {
		t.Fatalf("23:00 mode %s", s.m.Mode())
	}
	s.advance(3 * time.Hour) // 02:00 Monday
	if s.m.Mode() != Night {
		t.Fatalf("02:00 mode %s", s.m.Mode())
	}
	s.advance(4 * time.Hour)
	s.want("a night at the gate", s.modeChanges(loc), "Sun 12-06 22:00 night schedule", "Mon 12-07 05:00 disarmed schedule")
	// The station disarmed at night by an officer: the schedule does not
	// re-arm until its next entry.
	s.advance(16 * time.Hour) // Mon 22:00 night
	s.arm(Disarmed, officer)
	s.advance(time.Hour)
	s.want("manual change then schedule", s.modeChanges(loc), "Mon 12-07 22:00 night schedule", "Mon 12-07 22:00 disarmed station")
	if s.m.Mode() != Disarmed {
		t.Fatal("the schedule overrode the officer")
	}
}

func TestScheduledArmingRefused(t *testing.T) {
	loc := hcm(t)
	at := time.Date(2026, 12, 3, 17, 0, 0, 0, loc)
	s := newSim(t, schoolSchedule(loc), State{Mode: Disarmed, ScheduleDone: time.Date(2026, 12, 3, 6, 30, 0, 0, loc)}, at)
	s.input("gate-door", true)
	s.events = nil
	s.advance(time.Hour)
	evs := s.events
	s.want("the gate left open at 17:30", s.modeChanges(loc), "Thu 12-03 17:30 refused away schedule")
	if e := evs[len(evs)-1]; !strings.Contains(e.Reason, "open: gate-door") || !strings.Contains(e.Reason, "weekdays 17:30 away") {
		t.Fatalf("refusal reason %q", e.Reason)
	}
	if s.m.Mode() != Disarmed {
		t.Fatal("armed with the door open")
	}
}

func TestScheduleAfterRestartAndFreshInstall(t *testing.T) {
	loc := hcm(t)
	// Down from 17:00 to 18:00: the 17:30 arming is applied at start.
	s := newSim(t, schoolSchedule(loc), State{Mode: Disarmed, ScheduleDone: time.Date(2026, 12, 3, 6, 30, 0, 0, loc)}, time.Date(2026, 12, 3, 18, 0, 0, 0, loc))
	s.take(s.m.Tick(s.now))
	s.want("missed entry", s.modeChanges(loc), "Thu 12-03 18:00 away schedule")
	// A fresh install at 18:00 does not arm under the installer's feet;
	// the next entry applies.
	f := newSim(t, schoolSchedule(loc), State{}, time.Date(2026, 12, 3, 18, 0, 0, 0, loc))
	f.take(f.m.Tick(f.now))
	f.advance(13 * time.Hour)
	f.want("fresh install", f.modeChanges(loc))
	if f.m.Mode() != Disarmed {
		t.Fatalf("fresh install mode %s", f.m.Mode())
	}
	f.advance(11 * time.Hour)
	f.want("fresh install, next entry", f.modeChanges(loc), "Fri 12-04 17:30 away schedule")
}

func TestScheduleWaitsForSyncedClock(t *testing.T) {
	loc := hcm(t)
	s := newSim(t, schoolSchedule(loc), State{Mode: Disarmed, ScheduleDone: time.Date(2026, 12, 3, 6, 30, 0, 0, loc)}, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC))
	s.now.Synced, s.m.now.Synced = false, false
	s.advance(48 * time.Hour)
	if got := s.modeChanges(loc); len(got) != 0 {
		t.Fatalf("schedule ran on an unsynced clock: %q", got)
	}
	if _, mok, _, wok := s.m.Next(); mok || wok {
		t.Fatal("a deadline while nothing is due and the clock is unsynced")
	}
}

// Written for any zone: New York's DST changes move local entries with
// the zone (22:00 stays 22:00 local), and a time skipped by the spring
// jump (02:30) fires at the first instant after the gap (03:00).
func TestScheduleDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	c, err := compileSchedule(Schedule{Entries: []Entry{
		{Days: []string{"every"}, At: "22:00", Mode: Night},
		{Days: []string{"sun"}, At: "02:30", Mode: Away},
	}}, ny, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 7, 23, 0, 0, 0, ny) // Saturday before the spring jump
	var got []string
	for range 4 {
		next, e, ok := c.next(at)
		if !ok {
			t.Fatal("no next entry")
		}
		got = append(got, next.In(ny).Format("Mon 15:04 MST ")+e.mode)
		at = next
	}
	want := []string{"Sun 03:00 EDT away", "Sun 22:00 EDT night", "Mon 22:00 EDT night", "Tue 22:00 EDT night"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entries across DST\n got %q\nwant %q", got, want)
		}
	}
	if l, _, _ := c.latest(time.Date(2026, 3, 8, 1, 59, 0, 0, ny)); !l.Equal(time.Date(2026, 3, 7, 22, 0, 0, 0, ny)) {
		t.Fatalf("latest just before the jump: %s", l)
	}
	if l, e, _ := c.latest(time.Date(2026, 3, 8, 3, 0, 0, 0, ny)); !l.Equal(time.Date(2026, 3, 8, 3, 0, 0, 0, ny)) || e.mode != Away {
		t.Fatalf("latest at the end of the gap: %s %s", l, e.mode)
	}
}
