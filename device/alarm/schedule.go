package alarm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// holidayDay is the day class of a date listed in Schedule.Holidays; it
// replaces the date's weekday.
const holidayDay = 7

// scanDays bounds how far a schedule looks for its previous or next entry:
// a school's summer holidays or Tết listed day by day stay well inside it.
const scanDays = 400

type entry struct {
	days   [8]bool
	minute int // minute of the day
	mode   string
	text   string // "mon-fri 17:30 night", for reasons
}

type schedule struct {
	zone     *time.Location
	entries  []entry
	holidays map[string]bool // 2006-01-02
}

var dayNames = map[string][]int{
	"sun": {0}, "mon": {1}, "tue": {2}, "wed": {3}, "thu": {4}, "fri": {5}, "sat": {6},
	"weekdays": {1, 2, 3, 4, 5}, "weekend": {0, 6}, "every": {0, 1, 2, 3, 4, 5, 6},
	"holiday": {holidayDay},
}

func compileSchedule(s Schedule, zone *time.Location, modeOK func(string) bool) (*schedule, error) {
	sc := &schedule{zone: zone, holidays: map[string]bool{}}
	for i, h := range s.Holidays {
		d, err := time.ParseInLocation(time.DateOnly, h, zone)
		if err != nil {
			return nil, fmt.Errorf("alarm.schedule.holidays[%d]: %q is not a date like 2026-09-02", i, h)
		}
		sc.holidays[d.Format(time.DateOnly)] = true
	}
	type slot struct{ day, minute int }
	taken := map[slot]int{}
	for i, e := range s.Entries {
		key := fmt.Sprintf("alarm.schedule.entries[%d]", i)
		var en entry
		if len(e.Days) == 0 {
			return nil, fmt.Errorf("%s.days: must list days (mon … sun, weekdays, weekend, every, holiday)", key)
		}
		for _, d := range e.Days {
			ds, ok := dayNames[strings.ToLower(d)]
			if !ok {
				return nil, fmt.Errorf("%s.days: %q is not one of mon, tue, wed, thu, fri, sat, sun, weekdays, weekend, every, holiday", key, d)
			}
			for _, x := range ds {
				en.days[x] = true
			}
		}
		m, err := parseClock(e.At)
		if err != nil {
			return nil, fmt.Errorf("%s.at: %v", key, err)
		}
		en.minute = m
		if !modeOK(e.Mode) {
			return nil, fmt.Errorf("%s.mode: unknown mode %q", key, e.Mode)
		}
		en.mode = e.Mode
		en.text = fmt.Sprintf("%s %s %s", strings.Join(e.Days, ","), e.At, e.Mode)
		for d, on := range en.days {
			if !on {
				continue
			}
			if j, dup := taken[slot{d, m}]; dup {
				return nil, fmt.Errorf("%s: overlaps entries[%d]: both set a mode on %s at %s", key, j, dayLabel(d), e.At)
			}
			taken[slot{d, m}] = i
		}
		sc.entries = append(sc.entries, en)
	}
	if len(sc.entries) == 0 {
		return nil, nil
	}
	// Latest in the day first, for the backward scan.
	slices.SortStableFunc(sc.entries, func(a, b entry) int { return b.minute - a.minute })
	return sc, nil
}

func dayLabel(d int) string {
	if d == holidayDay {
		return "holidays"
	}
	return time.Weekday(d).String()
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day like 17:30", s)
	}
	return hh*60 + mm, nil
}

// dayClass is the day class of the date y-m-d: a holiday, or its weekday.
func (s *schedule) dayClass(y int, mo time.Month, d int) int {
	t := time.Date(y, mo, d, 12, 0, 0, 0, s.zone)
	if s.holidays[t.Format(time.DateOnly)] {
		return holidayDay
	}
	return int(t.Weekday())
}

// at is the instant of minute m on the date y-m-d in the zone. A local
// time a DST jump skips (02:30 on a spring-forward night) becomes the first
// instant after the gap (03:00): time.Date alone may land before it.
func (s *schedule) at(y int, mo time.Month, d, m int) time.Time {
	t := time.Date(y, mo, d, m/60, m%60, 0, 0, s.zone)
	if lt := t.In(s.zone); lt.Hour()*60+lt.Minute() == m {
		return t
	}
	t = t.Truncate(time.Minute)
	for range 24 * 60 {
		t = t.Add(time.Minute)
		lt := t.In(s.zone)
		if _, _, ld := lt.Date(); ld != d || lt.Hour()*60+lt.Minute() >= m {
			return t
		}
	}
	return t
}

// latest returns the last entry due at or before t.
func (s *schedule) latest(t time.Time) (time.Time, entry, bool) {
	lt := t.In(s.zone)
	y, mo, d := lt.Date()
	for i := range scanDays {
		day := time.Date(y, mo, d-i, 12, 0, 0, 0, s.zone)
		dy, dm, dd := day.Date()
		class := s.dayClass(dy, dm, dd)
		for _, e := range s.entries { // latest first
			if !e.days[class] {
				continue
			}
			if when := s.at(dy, dm, dd, e.minute); !when.After(t) {
				return when, e, true
			}
		}
	}
	return time.Time{}, entry{}, false
}

// next returns the first entry due strictly after t.
func (s *schedule) next(t time.Time) (time.Time, entry, bool) {
	lt := t.In(s.zone)
	y, mo, d := lt.Date()
	for i := range scanDays {
		day := time.Date(y, mo, d+i, 12, 0, 0, 0, s.zone)
		dy, dm, dd := day.Date()
		class := s.dayClass(dy, dm, dd)
		for j := len(s.entries) - 1; j >= 0; j-- { // earliest first
			e := s.entries[j]
			if !e.days[class] {
				continue
			}
			if when := s.at(dy, dm, dd, e.minute); when.After(t) {
				return when, e, true
			}
		}
	}
	return time.Time{}, entry{}, false
}
