package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// storeEvent stores ev (seq and id from the fixture's counter) for gw.
func (f *fixture) storeEvent(gw string, ev wire.Event) uint64 {
	f.t.Helper()
	f.seq[gw]++
	ev.Seq, ev.ID, ev.Epoch, ev.Boot = f.seq[gw], wire.EventID(gw, f.seq[gw]), "e1", "b1"
	if ev.Time.IsZero() {
		ev.Time = f.clock()
	}
	b, err := json.Marshal(ev)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.Add(gw, wire.TopicEvent, b); err != nil {
		f.t.Fatal(err)
	}
	return ev.Seq
}

// A row the live feed adds carries the strings the events page prints for
// the same record, in the page's language: the kind and state localised,
// the time in Asia/Ho_Chi_Minh, the clock flag, the test badge, the
// attrs; an alarm brings its key and its line for the alarms list; a
// snapshot stored after its event follows as its own feed event naming
// the row.
func TestFeedRowsAsPage(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FeedHeartbeat = time.Hour })
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	an := f.login("an")
	s, code := openFeed(t, srv.URL, an, "")
	if code != http.StatusOK {
		t.Fatalf("feed: %d", code)
	}
	at := time.Date(2026, 12, 1, 23, 30, 5, 0, time.UTC) // 06:30:05 on the 2nd in Hà Nội
	f.storeEvent(gwGate, wire.Event{Kind: "tamper", Source: "hop-dien", State: "active", Time: at, ClockSynced: false,
		Attrs: map[string]any{"note": "<b>x</b>"}})
	_, it := s.next(5 * time.Second)
	sh := it.Show
	want := feedRow{Time: "02/12/2026 06:30:05", ISO: "2026-12-01T23:30:05Z", Unsynced: "(đồng hồ thiết bị chưa đồng bộ)",
		Kind: "Cạy phá thiết bị", State: "kích hoạt", Attrs: []string{"note: <b>x</b>"}, Ref: gwGate + "/e1/1",
		AlarmKey: arrivalKey(it.Arrival), AlarmText: "Cạy phá thiết bị hop-dien kích hoạt", AlarmISO: iso(it.Stored), AlarmTime: when(LangVI, it.Stored)}
	if b1, b2 := mustJSON(t, sh), mustJSON(t, want); b1 != b2 {
		t.Fatalf("feed row\n got %s\nwant %s", b1, b2)
	}
	// The events page prints the same strings for the same record.
	page := must(t, f.do(req{path: "/events", cookie: an}), http.StatusOK, "events page").body
	for _, s := range []string{htmlText(sh.Time), htmlText(sh.Unsynced), htmlText(sh.Kind), htmlText(sh.State), htmlText(sh.AlarmText),
		`id="al-` + sh.AlarmKey + `"`, `data-ref="` + sh.Ref + `"`} {
		if !strings.Contains(page, s) {
			t.Errorf("events page lacks %q", s)
		}
	}

	// A walk test (not an alarm) with its snapshot in a later commit.
	seq := f.storeEvent(gwGate, wire.Event{Kind: "motion", Source: "pir-cong", State: "active", ClockSynced: true, Test: true})
	_, it = s.next(5 * time.Second)
	if it.Show.Test != "thử" || it.Show.Unsynced != "" || it.Show.AlarmKey != "" || it.Show.Snapshot != "" || it.Show.Kind != "Phát hiện chuyển động" {
		t.Fatalf("walk test row: %+v", it.Show)
	}
	if _, err := f.st.Add(gwGate, "snapshot/"+strconv.FormatUint(seq, 10), testJPEG(t)); err != nil {
		t.Fatal(err)
	}
	ev, data := s.nextEvent(5 * time.Second)
	var sn feedSnapshot
	if ev != "snapshot" || json.Unmarshal([]byte(data), &sn) != nil || sn.Ref != it.Show.Ref || sn.URL != "/api/events/"+gwGate+"/e1/2/snapshot" {
		t.Fatalf("snapshot feed event %q %s (row %s)", ev, data, it.Show.Ref)
	}
	must(t, f.do(req{path: sn.URL, cookie: an}), http.StatusOK, "snapshot")

	// English: the same row in the other language.
	v := &view{s: f.s, p: &principal{name: "an"}, lang: LangEN}
	en := v.show(it.Item, map[string]string{gwGate: "Cổng khu dân cư 3"})
	if en.Kind != "Motion" || en.State != "active" || en.Test != "test" || !strings.Contains(en.Time, "2026-12-01 15:00:00") {
		t.Errorf("English row: %+v", en)
	}
}

// nextEvent returns the next SSE event's name and data, skipping heartbeats.
func (s *sse) nextEvent(d time.Duration) (name, data string) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatal("feed ended")
			}
			switch {
			case strings.HasPrefix(l, "event: "):
				name = l[7:]
			case strings.HasPrefix(l, "data: "):
				data = l[6:]
			case l == "" && data != "":
				return name, data
			}
		case <-deadline:
			s.t.Fatal("no feed event in time")
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// htmlText is s as html/template escapes text.
func htmlText(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

// Camera states, the alarm mode, disk and temperature show in the page's
// language on the sites page.
func TestSitesStatesLocalised(t *testing.T) {
	f := newFixture(t)
	temp := 51.4
	f.st.SetTelemetry(gwGate, wire.Telemetry{Cameras: map[string]string{"cam-a": "online", "cam-b": "connecting", "cam-c": "idle", "cam-d": "offline"},
		Alarm: "away", DiskFree: 3 << 30, CPUTempC: &temp}, f.clock())
	an := f.login("an")
	vi := must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body
	for _, s := range []string{"cam-a: trực tuyến, cam-b: đang kết nối, cam-c: chờ, kiểm tra định kỳ, cam-d: ngoại tuyến",
		`id="mode-now-` + gwGate + `">Đi vắng<`, "3.0 GiB", "51 °C", "Nhiệt độ CPU", "Bộ nhớ còn trống"} {
		if !strings.Contains(vi, s) {
			t.Errorf("Vietnamese sites page lacks %q", s)
		}
	}
	en := must(t, f.do(req{path: "/sites", cookie: an, header: map[string]string{"Cookie": langCookie + "=en; " + sessionCookie + "=" + an}}), http.StatusOK, "sites").body
	for _, s := range []string{"cam-a: online, cam-b: connecting, cam-c: idle, checked, cam-d: offline", ">Away<", "CPU temperature"} {
		if !strings.Contains(en, s) {
			t.Errorf("English sites page lacks %q", s)
		}
	}
}

// Every event kind a gateway sends and every state has its words in both
// languages; an alarm's mode event shows the mode's name.
func TestEveryKindLocalised(t *testing.T) {
	kinds := []string{wire.KindMotion, wire.KindContact, wire.KindTamper, wire.KindPanic, wire.KindCameraOffline, wire.KindCameraOnline,
		wire.KindOutboxOverflow, wire.KindStorageReset, wire.KindBoot, wire.KindSnapshot, wire.KindCaptureFailed, wire.KindClip,
		// device/alarm's (machine.go, config.go)
		"mode", "exit_delay", "entry_delay", "alarm", "silence", "bypass", "trouble", "chime", "output", "arming_refused", "test_mode", "keyswitch"}
	for _, k := range kinds {
		if _, ok := catalogue["ev."+k]; !ok {
			t.Errorf("event kind %q has no ev.%s string", k, k)
		}
	}
	for _, st := range []string{"active", "inactive", "triggered", "unconfirmed", "restored", "started", "ended", "on", "off", "failed"} {
		if _, ok := catalogue["state."+st]; !ok {
			t.Errorf("state %q has no string", st)
		}
	}
	for _, c := range []string{"online", "offline", "connecting", "idle"} {
		if _, ok := catalogue["cam."+c]; !ok {
			t.Errorf("camera state %q has no string", c)
		}
	}
	f := newFixture(t)
	f.storeEvent(gwGate, wire.Event{Kind: "mode", Source: "officer", State: "night", ClockSynced: true})
	v := &view{s: f.s, p: &principal{name: "an"}, lang: LangVI}
	items, _, err := f.s.o.Events.Page(0, 1, func(string) bool { return true })
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	if rw := v.row(items[0], nil); rw.Kind != "Đổi chế độ bảo vệ" || rw.State != "Ban đêm" {
		t.Errorf("mode event row: %q %q", rw.Kind, rw.State)
	}
}

// An events page with no events and no alarms still opens the live feed
// and has, for an officer, the acknowledgement form ready (hidden) for a
// live alarm; a viewer's has no form.
func TestEventsPageReadyForLive(t *testing.T) {
	f := newFixture(t)
	officer := must(t, f.do(req{path: "/events", cookie: f.login("tuan")}), http.StatusOK, "events").body
	for _, s := range []string{`data-feed="on"`, `id="events-table" hidden`, `id="ack-form"`, `id="ack-fields" hidden`, `data-officer="on"`, `<p id="events-none">`} {
		if !strings.Contains(officer, s) {
			t.Errorf("officer's empty events page lacks %q", s)
		}
	}
	viewer := must(t, f.do(req{path: "/events", cookie: f.login("binh")}), http.StatusOK, "events").body
	if strings.Contains(viewer, `id="ack-form"`) || strings.Contains(viewer, `data-officer="on"`) {
		t.Error("a viewer's events page has the acknowledgement form")
	}
}

// The events page and the API filter by site and by a span of the events'
// own time (dates in Asia/Ho_Chi_Minh); the pager keeps the filters; a bad
// date is refused naming the parameter.
func TestEventsQueryDaySite(t *testing.T) {
	f := newFixture(t)
	day0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	want := map[uint64]bool{}
	for h := 0; h < 72; h += 2 { // three days, an event every two hours at each site
		at := day0.Add(time.Duration(h) * time.Hour)
		seq := f.storeEvent(gwGate, wire.Event{Kind: "motion", Source: "pir", State: "active", Time: at, ClockSynced: true})
		f.storeEvent(gwSchool, wire.Event{Kind: "motion", Source: "pir", State: "active", Time: at, ClockSynced: true})
		if h >= 24 && h < 48 {
			want[seq] = true
		}
	}
	an := f.login("an")
	var got []Item
	path := "/api/events?site=khu-3&since=2026-12-01&until=2026-12-02&limit=5"
	for range 10 {
		r := decode[struct {
			Items []Item `json:"items"`
			Next  uint64 `json:"next"`
		}](t, must(t, f.do(req{path: path, cookie: an}), http.StatusOK, "query"))
		got = append(got, r.Items...)
		if r.Next == 0 {
			break
		}
		path = "/api/events?site=khu-3&since=2026-12-01&until=2026-12-02&limit=5&before=" + strconv.FormatUint(r.Next, 10)
	}
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for _, it := range got {
		if it.Gateway != gwGate || !want[it.Event.Seq] {
			t.Errorf("item %s/%d at %v not of the day and site", it.Gateway, it.Event.Seq, it.Event.Time)
		}
	}
	page := must(t, f.do(req{path: "/events?site=khu-3&since=2026-12-01&until=2026-12-02&limit=5", cookie: an}), http.StatusOK, "page").body
	if !strings.Contains(page, `href="/events?before=`) || !strings.Contains(page, "&amp;since=2026-12-01&amp;site=khu-3&amp;until=2026-12-02") {
		t.Errorf("the pager lost the filters")
	}
	if strings.Contains(page, `data-feed="on"`) {
		t.Error("a filtered page runs the live feed")
	}
	r := must(t, f.do(req{path: "/api/events?since=1.12.2026", cookie: an}), http.StatusBadRequest, "bad since")
	if !strings.Contains(r.body, "since") {
		t.Errorf("bad since: %s", r.body)
	}
	must(t, f.do(req{path: "/api/events?site=Khu%203", cookie: an}), http.StatusBadRequest, "bad site")
}

// No attribute of any page is escaped as script: html/template treats an
// attribute named on* (data-on* too) as JavaScript and quotes its value,
// which then shows with its quotes when a script reads it as text.
func TestNoAttributeEscapedAsScript(t *testing.T) {
	f := newFixture(t)
	f.event(gwGate, "tamper", "box", nil)
	an := f.login("an")
	for _, p := range []string{"/sites", "/events", "/stats", "/audit", "/users"} {
		body := must(t, f.do(req{path: p, cookie: an}), http.StatusOK, p).body
		if i := strings.Index(body, `="&#34;`); i >= 0 {
			t.Errorf("%s: an attribute escaped as a script string: %.120s", p, body[max(0, i-60):])
		}
	}
	if body := f.do(req{path: "/login"}).body; strings.Contains(body, `="&#34;`) {
		t.Error("/login: an attribute escaped as a script string")
	}
}

// FuzzEventsQuery: any query string of the events page and API either is
// refused with an error naming a parameter, or gives a limit of 1 to 500,
// valid ids and a span whose start is before its end.
func FuzzEventsQuery(f *testing.F) {
	for _, s := range []string{"", "before=12&limit=5", "site=khu-3&since=2026-12-01&until=2026-12-02", "since=2026-12-01T08:00:00%2B07:00",
		"until=1.12.2026", "gateway=Cong&limit=0", "since=2026-12-02&until=2026-12-01", "limit=501", "site=%00", "before=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/api/events", nil)
		r.URL.RawQuery = raw
		_, limit, fl, err := eventsQuery(r)
		if err != nil {
			msg := err.Error()
			for _, p := range []string{"before", "limit", "gateway", "site", "since", "until", "kind", "state", "q"} {
				if strings.HasPrefix(msg, p) {
					return
				}
			}
			t.Fatalf("error names no parameter: %v", err)
		}
		if limit < 1 || limit > 500 || (fl.gateway != "" && !wire.ValidID(fl.gateway)) || (fl.site != "" && !wire.ValidID(fl.site)) ||
			(!fl.since.IsZero() && !fl.until.IsZero() && !fl.since.Before(fl.until)) {
			t.Fatalf("accepted %q: limit %d, filter %+v", raw, limit, fl)
		}
	})
}
