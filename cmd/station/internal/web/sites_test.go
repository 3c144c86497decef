package web

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// card is gateway id's card on a sites page.
func card(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `id="gw-`+id+`"`)
	if i < 0 {
		t.Fatalf("no card of %s on the page", id)
	}
	i = strings.LastIndex(page[:i], "<li ")
	rest := page[i:]
	if j := strings.Index(rest[1:], `<li class="card`); j > 0 {
		rest = rest[:j]
	}
	return rest
}

type sitesResp struct {
	Gateways []Gateway `json:"gateways"`
}

func gatewayOf(t *testing.T, f *fixture, cookie, id string) Gateway {
	t.Helper()
	for _, g := range decode[sitesResp](t, must(t, f.do(req{path: "/api/sites", cookie: cookie}), http.StatusOK, "sites")).Gateways {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("%s not on /api/sites", id)
	return Gateway{}
}

func offlineAlarms(t *testing.T, f *fixture, cookie, id string) int {
	t.Helper()
	n := 0
	for _, a := range decode[alarmsResp](t, f.do(req{path: "/api/alarms", cookie: cookie})).Alarms {
		if strings.HasPrefix(a.Key, "offline/"+id+"/") {
			n++
		}
	}
	return n
}

// A gateway whose link drops is shown online, on the page and in the API,
// with no alarm, until it has been offline for the grace; then offline
// with an alarm. A blip shorter than the grace never shows offline and
// raises nothing, but is on the timeline, marked short; the longer outage
// is there too.
func TestSitesGraceHoldsOfflineBadge(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	grace := f.s.o.OfflineGrace

	// A blip of 30 s.
	f.advance(time.Hour)
	f.st.SetStatus(gwGate, wire.Status{Online: false, Boot: "b1"}, f.clock())
	f.advance(30 * time.Second)
	page := must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body
	if c := card(t, page, gwGate); !strings.Contains(c, `class="card gw online"`) || !strings.Contains(c, `<span class="badge">Trực tuyến</span>`) {
		t.Errorf("30 s offline (grace %v): the card is not shown online:\n%s", grace, c)
	}
	if g := gatewayOf(t, f, an, gwGate); !g.Online || g.OfflineSince.IsZero() {
		t.Errorf("30 s offline: /api/sites online=%v offline_since=%v, want online with offline_since", g.Online, g.OfflineSince)
	}
	if n := offlineAlarms(t, f, an, gwGate); n != 0 {
		t.Errorf("30 s offline: %d offline alarms", n)
	}
	f.st.SetStatus(gwGate, wire.Status{Online: true, Boot: "b1"}, f.clock())

	// An outage longer than the grace.
	f.advance(10 * time.Minute)
	down := f.clock()
	f.st.SetStatus(gwGate, wire.Status{Online: false, Boot: "b1"}, down)
	f.advance(grace - time.Second)
	if g := gatewayOf(t, f, an, gwGate); !g.Online {
		t.Error("offline for less than the grace: shown offline on /api/sites")
	}
	if g := decode[Gateway](t, must(t, f.do(req{path: "/api/gateways/" + gwGate, cookie: an}), http.StatusOK, "gateway")); !g.Online {
		t.Error("offline for less than the grace: shown offline on /api/gateways/{id}")
	}
	f.advance(time.Second)
	page = must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body
	c := card(t, page, gwGate)
	if !strings.Contains(c, `class="card gw offline"`) || !strings.Contains(c, `<span class="badge">Ngoại tuyến</span>`) {
		t.Errorf("offline for the grace: the card is not shown offline:\n%s", c)
	}
	if g := gatewayOf(t, f, an, gwGate); g.Online || !g.OfflineSince.Equal(down) {
		t.Errorf("offline for the grace: /api/sites online=%v since %v, want offline since %v", g.Online, g.OfflineSince, down)
	}
	if n := offlineAlarms(t, f, an, gwGate); n != 1 {
		t.Errorf("offline for the grace: %d offline alarms, want 1", n)
	}
	// Both on the timeline: the blip marked short, the outage still open.
	if n := strings.Count(c, `<rect class="tl-blip"`); n != 1 {
		t.Errorf("%d short outages drawn, want 1:\n%s", n, c)
	}
	if n := strings.Count(c, `<rect class="tl-out"`); n != 1 {
		t.Errorf("%d outages drawn, want 1:\n%s", n, c)
	}
	if !strings.Contains(c, "30 giây (ngắn, không báo động)") || !strings.Contains(c, "Vẫn đang ngoại tuyến") {
		t.Errorf("the outage list lacks the blip or the open outage:\n%s", c)
	}
	if !strings.Contains(c, "Ngoại tuyến 2 lần") {
		t.Errorf("summary:\n%s", c)
	}
}

// The timeline puts each outage where it was in the span, with its times
// in Vietnam time in the list; ?span=7d widens it and a bad span is an
// error naming it. Camera outages get their own row. GET /api/outages has
// the same outages, with the account's limits.
func TestSitesTimeline(t *testing.T) {
	f := newFixture(t)
	an, tuan := f.login("an"), f.login("tuan")
	t0 := f.clock()                                                                       // 08:00 UTC, 15:00 in Vietnam
	f.st.SetStatus(gwGate, wire.Status{Online: false, Boot: "b1"}, t0.Add(-30*time.Hour)) // before the 24 h
	f.st.SetStatus(gwGate, wire.Status{Online: true, Boot: "b1"}, t0.Add(-30*time.Hour+time.Minute))
	f.st.SetStatus(gwGate, wire.Status{Online: false, Boot: "b1"}, t0.Add(-6*time.Hour))
	f.st.SetStatus(gwGate, wire.Status{Online: true, Boot: "b1"}, t0.Add(-5*time.Hour))
	f.st.SetTelemetry(gwGate, wire.Telemetry{Cameras: map[string]string{"gate-cam": "online"}}, t0)
	f.event(gwGate, wire.KindCameraOffline, "gate-cam", nil) // at t0
	f.advance(time.Hour)

	page := must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body
	c := card(t, page, gwGate)
	// 17 h into a 24 h span is x = 708.3 of 1000; an hour is 41.7 wide.
	if !strings.Contains(c, `<rect class="tl-out" x="708.3" y="0" width="41.7"`) {
		t.Errorf("the 6 h ago outage is not drawn at 18/24 of the span:\n%s", c)
	}
	if !strings.Contains(c, `<rect class="tl-cam" x="958.3" y="0" width="41.7"`) || !strings.Contains(c, `<span class="tl-label">gate-cam</span>`) {
		t.Errorf("the camera outage is not on its own row:\n%s", c)
	}
	if n := strings.Count(c, "<rect class=\"tl-"); n != 4 { // two rows' backgrounds and two outages: not the one 30 h ago
		t.Errorf("drawn: %d rects, want 4:\n%s", n, c)
	}
	for _, want := range []string{`<time datetime="2026-12-01T02:00:00Z">01/12/2026 09:00:00</time>`, "1 giờ 0 phút", "Camera gate-cam", `aria-label="Lịch sử ngoại tuyến của Cổng khu dân cư 3, 24 giờ qua: Ngoại tuyến 1 lần, 1 giờ 0 phút."`} {
		if !strings.Contains(c, html.EscapeString(want)) && !strings.Contains(c, want) {
			t.Errorf("the card lacks %q:\n%s", want, c)
		}
	}
	if !regexp.MustCompile(`<div class="tl-axis" aria-hidden="true"><span>16:00</span><span>22:00</span><span>04:00</span><span>10:00</span><span>16:00</span></div>`).MatchString(c) {
		t.Errorf("axis labels:\n%s", c)
	}

	en := card(t, must(t, f.do(req{path: "/sites", cookie: an, header: map[string]string{"Cookie": langCookie + "=en; " + sessionCookie + "=" + an}}), http.StatusOK, "sites").body, gwGate)
	for _, want := range []string{"1 outage, 1 h 0 min.", "The gate-cam camera", "Outages of Cổng khu dân cư 3, last 24 hours", "2026-12-01 09:00:00"} {
		if !strings.Contains(en, want) {
			t.Errorf("the English card lacks %q:\n%s", want, en)
		}
	}
	week := card(t, must(t, f.do(req{path: "/sites?span=7d", cookie: an}), http.StatusOK, "sites").body, gwGate)
	if strings.Count(week, `<rect class="tl-out"`)+strings.Count(week, `<rect class="tl-blip"`) != 2 {
		t.Errorf("7 days: want both gateway outages:\n%s", week)
	}
	if r := f.do(req{path: "/sites?span=1y", cookie: an}); r.code != http.StatusBadRequest || !strings.Contains(r.body, "span") {
		t.Errorf("bad span: %d %.200s", r.code, r.body)
	}

	type outagesResp struct {
		GraceS  float64     `json:"grace_s"`
		Outages []apiOutage `json:"outages"`
	}
	all := decode[outagesResp](t, must(t, f.do(req{path: "/api/outages", cookie: an}), http.StatusOK, "outages"))
	var gate, school int
	for _, o := range all.Outages {
		switch o.Gateway {
		case gwGate:
			gate++
			if o.Camera == "" && (o.Seconds != 3600 || !o.Alarm) {
				t.Errorf("gateway outage %+v: want 3600 s, an alarm", o)
			}
			if o.Camera == "gate-cam" && (!o.Open() || o.Alarm) {
				t.Errorf("camera outage %+v: want open, no offline alarm", o)
			}
		case gwSchool:
			school++
		}
	}
	if gate != 2 || school != 1 || all.GraceS != 120 {
		t.Errorf("/api/outages: %d of the gate, %d of the school, grace %v s: %+v", gate, school, all.GraceS, all.Outages)
	}
	for _, o := range decode[outagesResp](t, must(t, f.do(req{path: "/api/outages?span=7d", cookie: tuan}), http.StatusOK, "outages")).Outages {
		if o.Gateway != gwGate {
			t.Errorf("an officer limited to khu-3 sees an outage of %s", o.Gateway)
		}
	}
	must(t, f.do(req{path: "/api/outages?gateway=" + gwSchool, cookie: tuan}), http.StatusNotFound, "another site's outages")
	must(t, f.do(req{path: "/api/outages?span=2d", cookie: an}), http.StatusBadRequest, "bad span")
}

// The age of the oldest event waiting in a gateway's outbox, from its
// telemetry, grows with the time since; an empty outbox shows none.
func TestSitesOldestBuffered(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	f.st.SetTelemetry(gwGate, wire.Telemetry{Outbox: wire.OutboxStats{Depth: 12, OldestS: 600}}, f.clock())
	f.advance(5 * time.Minute)
	g := gatewayOf(t, f, an, gwGate)
	if want := f.clock().Add(-15 * time.Minute); !g.OldestBuffered.Equal(want) {
		t.Errorf("oldest_buffered %v, want %v", g.OldestBuffered, want)
	}
	c := card(t, must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body, gwGate)
	if !strings.Contains(c, `<dt>Sự kiện chờ lâu nhất</dt><dd class="oldest">chờ 15 phút (từ 01/12/2026 14:50:00)</dd>`) {
		t.Errorf("oldest waiting event:\n%s", c)
	}
	f.st.SetTelemetry(gwGate, wire.Telemetry{Outbox: wire.OutboxStats{Depth: 0}}, f.clock())
	if c := card(t, must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body, gwGate); strings.Contains(c, "Sự kiện chờ lâu nhất") {
		t.Errorf("an empty outbox shows an oldest event:\n%s", c)
	}
}

// After a station restart the retained will arrives again: the gateway
// is offline since its outage began, not since the restart, so the grace
// and the offline alarm's key do not start over.
func TestSitesOfflineSinceSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	down := f.clock().Add(-time.Hour) // the fixture's school went offline then
	f.st.SetStatus(gwSchool, wire.Status{Online: false, Boot: "b2"}, f.clock())
	if g := gatewayOf(t, f, an, gwSchool); !g.OfflineSince.Equal(down) || g.Online {
		t.Errorf("offline since %v (online %v), want %v", g.OfflineSince, g.Online, down)
	}
	al := decode[alarmsResp](t, f.do(req{path: "/api/alarms", cookie: an})).Alarms
	if !hasKey(al, offlineKey(gwSchool, down)) {
		t.Errorf("offline alarm keys %v, want %s", al, offlineKey(gwSchool, down))
	}
}

func hasKey(al []Alarm, k string) bool {
	for _, a := range al {
		if a.Key == k {
			return true
		}
	}
	return false
}

// dur words a duration in both languages.
func TestDur(t *testing.T) {
	for _, c := range []struct {
		d      time.Duration
		vi, en string
	}{
		{40 * time.Second, "40 giây", "40 s"},
		{12*time.Minute + 20*time.Second, "12 phút", "12 min"},
		{3*time.Hour + 5*time.Minute, "3 giờ 5 phút", "3 h 5 min"},
		{50 * time.Hour, "2 ngày 2 giờ", "2 d 2 h"},
	} {
		if got := dur(LangVI, c.d); got != c.vi {
			t.Errorf("dur(vi, %v) = %q, want %q", c.d, got, c.vi)
		}
		if got := dur(LangEN, c.d); got != c.en {
			t.Errorf("dur(en, %v) = %q, want %q", c.d, got, c.en)
		}
	}
}
