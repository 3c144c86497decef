package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The statistics page draws each site's events as bars the server lays
// out (no script, no external service): 24 hourly and 14 daily bars, each as
// high as its count over the largest and titled with its count; the time to acknowledge is printed once an alarm is acknowledged;
// an officer limited to one site gets no chart of another.
func TestStatsPageChart(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Now = time.Now }) // arrivals carry the wall clock
	for range 3 {
		f.event(gwGate, "motion", "gate-pir", nil)
	}
	f.event(gwSchool, "tamper", "school-box", nil)
	an := f.login("an")

	page := must(t, f.do(req{path: "/stats", cookie: an}), http.StatusOK, "stats page").body
	if strings.Contains(page, `id="ack-figures"`) || !strings.Contains(page, "Chưa có báo động nào được xác nhận") {
		t.Errorf("before any acknowledgement the page shows figures:\n%.1500s", page)
	}
	gate := siteSection(t, page, "Khu dân cư số 3")
	charts := regexp.MustCompile(`(?s)<svg class="chart"[^>]*>(.*?)</svg>`).FindAllStringSubmatch(gate, -1)
	if len(charts) != 2 {
		t.Fatalf("%d charts for khu-3, want 2 (per hour, per day)", len(charts))
	}
	rect := regexp.MustCompile(`<rect x="[^"]*" y="[^"]*" width="[^"]*" height="([^"]*)"><title>[^<]*: (\d+)</title></rect>`)
	for i, want := range []int{24, 14} {
		bs := rect.FindAllStringSubmatch(charts[i][1], -1)
		if len(bs) != want {
			t.Fatalf("chart %d of khu-3: %d bars, want %d", i, len(bs), want)
		}
		// Each bar's height is its count over the chart's largest, in a
		// 100-unit box (the events may straddle an hour's end).
		total, most := 0, 0
		ns, hs := make([]int, len(bs)), make([]float64, len(bs))
		for j, b := range bs {
			hs[j], _ = strconv.ParseFloat(b[1], 64)
			ns[j], _ = strconv.Atoi(b[2])
			total += ns[j]
			most = max(most, ns[j])
		}
		if total != 3 {
			t.Errorf("chart %d of khu-3: %d events in its bars, want 3", i, total)
		}
		for j := range bs {
			if want := 100 * float64(ns[j]) / float64(max(most, 1)); hs[j] < want-0.01 || hs[j] > want+0.01 {
				t.Errorf("chart %d, bar %d: %d events drawn %v high, want %v", i, j, ns[j], hs[j], want)
			}
		}
	}

	al := decode[alarmsResp](t, must(t, f.do(req{path: "/api/alarms", cookie: an}), http.StatusOK, "alarms")).Alarms
	key := ""
	for _, a := range al {
		if a.Gateway == gwSchool && a.Item != nil {
			key = a.Key
		}
	}
	if key == "" {
		t.Fatalf("the school's tamper is not an alarm: %+v", al)
	}
	must(t, f.do(req{method: "POST", path: "/api/alarms/ack", cookie: an, json: `{"keys":["` + key + `"],"outcome":"false_alarm"}`}), http.StatusOK, "ack")
	page = must(t, f.do(req{path: "/stats", cookie: an}), http.StatusOK, "stats page").body
	if m := regexp.MustCompile(`<p id="ack-figures">([^<]*)</p>`).FindStringSubmatch(page); m == nil ||
		!strings.Contains(m[1], "1 báo động đã xác nhận.") || !strings.Contains(m[1], "Trung vị") {
		t.Errorf("time to acknowledge not shown: %q", m)
	}

	mine := must(t, f.do(req{path: "/stats", cookie: f.login("tuan")}), http.StatusOK, "stats page, officer of khu-3").body
	if strings.Contains(mine, "Xã Chí Đám") || strings.Contains(mine, gwSchool) || !strings.Contains(mine, "Khu dân cư số 3") {
		t.Errorf("the officer of khu-3 sees another site's chart:\n%.2000s", mine)
	}
}

// siteSection is the page's section of the site named name.
func siteSection(t *testing.T, page, name string) string {
	t.Helper()
	for _, s := range strings.Split(page, `<section class="site-stats"`)[1:] {
		if strings.Contains(s[:strings.Index(s, "</h2>")], name) {
			return s[:strings.Index(s, "</section>")]
		}
	}
	t.Fatalf("no section for %q in the statistics page", name)
	return ""
}
