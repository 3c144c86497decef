package web

import (
	"testing"
	"time"
)

// The statistics count each site's events per hour and per day, its
// alarms, and an officer limited to one site sees no other site's counts.
func TestStatsPerSite(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Now = time.Now }) // the store stamps arrivals with the wall clock
	for range 3 {
		f.event(gwGate, "motion", "gate-pir", nil)
	}
	f.event(gwSchool, "tamper", "school-box", nil)
	sum := func(xs []int) (n int) {
		for _, x := range xs {
			n += x
		}
		return n
	}
	st := decode[Stats](t, must(t, f.do(req{path: "/api/stats", cookie: f.login("an")}), 200, "stats"))
	if len(st.Hours) != 24 || len(st.Days) != 14 {
		t.Fatalf("slots: %d hours, %d days", len(st.Hours), len(st.Days))
	}
	want := map[string][2]int{"khu-3": {3, 0}, "chi-dam": {1, 1}} // events, alarms
	for _, s := range st.Sites {
		w, ok := want[s.Site]
		if !ok || sum(s.PerHour) != w[0] || sum(s.PerDay) != w[0] || s.Alarms != w[1] || s.PerDay[13]+s.PerDay[12] != w[0] {
			t.Errorf("site %q: per hour %v, per day %v, alarms %d; want %d events, %d alarms", s.Site, s.PerHour, s.PerDay, s.Alarms, w[0], w[1])
		}
		delete(want, s.Site)
	}
	if len(want) != 0 {
		t.Errorf("sites missing from the statistics: %v", want)
	}
	lim := decode[Stats](t, must(t, f.do(req{path: "/api/stats", cookie: f.login("tuan")}), 200, "stats, officer of khu-3"))
	if len(lim.Sites) != 1 || lim.Sites[0].Site != "khu-3" || sum(lim.Sites[0].PerHour) != 3 {
		t.Errorf("officer limited to khu-3 sees %+v", lim.Sites)
	}
}
