package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// page is GET /api/events's answer.
type page struct {
	Items   []Item `json:"items"`
	Next    uint64 `json:"next"`
	Partial bool   `json:"partial"`
}

// all pages through /api/events?query to the end and returns every item.
func (f *fixture) all(t *testing.T, cookie, query string) []Item {
	t.Helper()
	var out []Item
	before := uint64(0)
	for range 100 {
		path := "/api/events?limit=500&" + query
		if before > 0 {
			path += "&before=" + strconv.FormatUint(before, 10)
		}
		p := decode[page](t, must(t, f.do(req{path: path, cookie: cookie}), http.StatusOK, query))
		out = append(out, p.Items...)
		if p.Next == 0 {
			return out
		}
		before = p.Next
	}
	t.Fatalf("%s: paging does not end", query)
	return nil
}

// filterStore holds events of every filter's interest at the two test
// sites; it returns the arrival of the acknowledged tamper.
func filterStore(t *testing.T, f *fixture) (ackedTamper uint64) {
	t.Helper()
	ev := func(gw, kind, source, state string) uint64 {
		f.storeEvent(gw, wire.Event{Kind: kind, Source: source, State: state, ClockSynced: true})
		n, _ := f.st.LastArrival()
		return n
	}
	ev(gwGate, "motion", "pir-cong", "active")
	ev(gwGate, "contact", "cua-chinh", "active")
	ev(gwGate, "contact", "cua-chinh", "inactive")
	ackedTamper = ev(gwGate, "tamper", "hop-dien", "active")
	ev(gwGate, "camera_offline", "cam-cong", "active")
	ev(gwSchool, "motion", "pir-san", "active")
	ev(gwSchool, "panic", "nut-bao-ve", "active")
	ev(gwSchool, "alarm", "pir-san", "restored")
	f.seq[gwSchool] += 3 // three events lost: a gap
	ev(gwSchool, "walk_test", "pir-san", "active")
	if err := f.st.Acknowledge([]store.Ack{{Key: arrivalKey(ackedTamper), User: "tuan", Outcome: store.OutcomeIncident,
		Note: "Đã bắt được đối tượng", At: f.clock(), Gateway: gwGate}}); err != nil {
		t.Fatal(err)
	}
	return ackedTamper
}

// what names items as "gateway kind source state" (gaps: "gateway gap").
func what(items []Item) []string {
	var out []string
	for _, it := range items {
		s := it.Gateway + " " + it.Type
		if it.Event != nil {
			s = it.Gateway + " " + it.Event.Kind + " " + it.Event.Source + " " + it.Event.State
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// The kind, state and text filters of GET /api/events: kinds repeat (any
// of them), states are an alarm's review and outcome or a sensor's state,
// text matches names, sources, labels and notes whatever the case and the
// Vietnamese diacritics; filters combine.
func TestFilterKindStateText(t *testing.T) {
	f := newFixture(t)
	filterStore(t, f)
	an := f.login("an")
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"kind=tamper", []string{"cong-khu-3 tamper hop-dien active"}},
		{"kind=contact&kind=motion&kind=contact", []string{"cong-khu-3 contact cua-chinh active", "cong-khu-3 contact cua-chinh inactive",
			"cong-khu-3 motion pir-cong active", "thcs-chi-dam motion pir-san active"}},
		{"kind=gap", []string{"thcs-chi-dam gap"}},
		{"state=review", []string{"cong-khu-3 camera_offline cam-cong active", "thcs-chi-dam gap", "thcs-chi-dam panic nut-bao-ve active"}},
		{"state=acked", []string{"cong-khu-3 tamper hop-dien active"}},
		{"state=incident", []string{"cong-khu-3 tamper hop-dien active"}},
		{"state=handled", nil},
		{"state=inactive", []string{"cong-khu-3 contact cua-chinh inactive"}},
		{"state=review&state=acked&kind=tamper&kind=panic", []string{"cong-khu-3 tamper hop-dien active", "thcs-chi-dam panic nut-bao-ve active"}},
		{"q=cong+khu&kind=motion", []string{"cong-khu-3 motion pir-cong active"}},
		{"q=C%E1%BB%94NG+KHU&kind=motion", []string{"cong-khu-3 motion pir-cong active"}},     // CỔNG KHU
		{"q=Co%CC%82%CC%89ng+khu&kind=motion", []string{"cong-khu-3 motion pir-cong active"}}, // decomposed: Cổng
		{"q=doi+tuong", []string{"cong-khu-3 tamper hop-dien active"}},                        // the note
		{"q=chuyen+thanh+vu+viec", []string{"cong-khu-3 tamper hop-dien active"}},             // the outcome's words
		{"q=cam-cong", []string{"cong-khu-3 camera_offline cam-cong active"}},                 // a camera
		{"q=xa+chi+dam&kind=motion", []string{"thcs-chi-dam motion pir-san active"}},          // the site's name
		{"q=truong&state=review", []string{"thcs-chi-dam gap", "thcs-chi-dam panic nut-bao-ve active"}},
		{"q=chuyen+dong", []string{"cong-khu-3 motion pir-cong active", "thcs-chi-dam motion pir-san active"}}, // the kind's label
		{"q=mat+su+kien", []string{"thcs-chi-dam gap"}},
		{"q=%C4%91i+th%E1%BB%AD", []string{"thcs-chi-dam walk_test pir-san active"}}, // "đi thử"
		{"q=khong+co+dau+nay", nil},
		{"kind=&state=&q=", nil}, // the form's empty fields: no filter
	} {
		got := what(f.all(t, an, c.query))
		if c.query == "kind=&state=&q=" {
			if len(got) != 10 {
				t.Errorf("%s: %d items, want all 10", c.query, len(got))
			}
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got  %q\n want %q", c.query, got, c.want)
		}
	}
	// The page prints the filters back, keeps them in its links, and runs
	// the live feed with them.
	body := must(t, f.do(req{path: "/events?kind=motion&state=active&q=C%E1%BB%95ng", cookie: an}), http.StatusOK, "page").body
	for _, s := range []string{`<option value="motion" selected>`, `<option value="active" selected>`, `value="Cổng"`,
		`data-feed="on"`, `data-src="/api/feed?kind=motion&amp;q=C%E1%BB%95ng&amp;state=active"`, `href="/events">`} {
		if !strings.Contains(body, s) {
			t.Errorf("filtered page lacks %q", s)
		}
	}
}

// Bad filters are refused with 400 naming the parameter, on the API, the
// page and the live feed.
func TestFilterBadParameters(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	for q, name := range map[string]string{
		"kind=door":                     "kind",
		"kind=motion&kind=MOTION":       "kind",
		"state=open":                    "state",
		"q=" + strings.Repeat("a", 101): "q",
		"q=a%00b":                       "q",
		"q=%FF%FE":                      "q",
		"q=a&q=b":                       "q",
		"q=" + strings.Repeat("a+", 9):  "q",
		"kind=motion&since=2026-12-02&until=2026-12-01": "since",
	} {
		for _, path := range []string{"/api/events?", "/events?", "/api/feed?"} {
			r := must(t, f.do(req{path: path + q, cookie: an}), http.StatusBadRequest, path+q)
			if !strings.Contains(r.body, name) {
				t.Errorf("%s%s: %q does not name %s", path, q, r.body, name)
			}
		}
	}
	r := f.do(req{path: "/api/events?kind=door", cookie: an})
	if !strings.Contains(r.body, `kind \"door\": not a kind of event; want one of motion, contact`) {
		t.Errorf("kind=door: %s", r.body)
	}
}

// An account limited to one site gets nothing of another site with any
// combination of filters, even a text naming the other site; the live
// feed with the same filters neither.
func TestFilterSiteLimits(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FeedHeartbeat = time.Hour })
	filterStore(t, f)
	tuan := f.login("tuan") // khu-3 only
	queries := []string{"", "q=truong", "q=chi+dam", "q=thcs-chi-dam", "q=xa+chi+dam", "q=nut-bao-ve", "site=chi-dam", "site=chi-dam&q=truong",
		"kind=panic", "kind=panic&q=truong", "kind=gap", "state=review", "state=review&q=chi+dam", "state=active&kind=motion&q=pir-san",
		"kind=walk_test", "q=%C4%91i+th%E1%BB%AD", "q=mat+su+kien"}
	for _, k := range filterKinds {
		queries = append(queries, "kind="+k, "kind="+k+"&q=chi+dam")
	}
	for _, s := range filterStates {
		queries = append(queries, "state="+s, "state="+s+"&q=truong")
	}
	for _, q := range queries {
		for _, it := range f.all(t, tuan, q) {
			if it.Gateway != gwGate {
				t.Errorf("%s: the officer of khu-3 got %s", q, what([]Item{it}))
			}
		}
		if body := must(t, f.do(req{path: "/events?" + q, cookie: tuan}), http.StatusOK, q).body; strings.Contains(body, ">nut-bao-ve</td>") || strings.Contains(body, ">pir-san</td>") || strings.Contains(body, ">Trường THCS Chí Đám</td>") {
			t.Errorf("/events?%s shows the other site's events", q)
		}
	}
	must(t, f.do(req{path: "/api/events?gateway=" + gwSchool + "&q=truong", cookie: tuan}), http.StatusNotFound, "the other site's gateway")
	must(t, f.do(req{path: "/api/feed?gateway=" + gwSchool, cookie: tuan}), http.StatusNotFound, "the other site's gateway's feed")

	// The live feed: an alarm of the other site matching the text is not
	// sent, neither as a row nor as an alarm to pin.
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	feed := openFilteredFeed(t, srv.URL, tuan, "q=truong&state=review", "")
	f.storeEvent(gwSchool, wire.Event{Kind: "panic", Source: "nut-truong", State: "active", ClockSynced: true})
	last := lastArrival(t, f)
	m := feed.until(t, func(m sseMsg) bool { return m.id == last })
	if len(m) != 1 || m[0].event != "" {
		t.Errorf("the officer's feed sent %+v for the other site's panic; want its position only", m)
	}
}

func lastArrival(t *testing.T, f *fixture) uint64 {
	t.Helper()
	n, err := f.st.LastArrival()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sseMsg is one message of a live feed: its id, event type ("" for a
// position or heartbeat) and data.
type sseMsg struct {
	id    uint64
	event string
	data  string
}

type sseFeed struct {
	cancel context.CancelFunc
	msgs   chan sseMsg
}

func openFilteredFeed(t *testing.T, base, cookie, query, lastID string) *sseFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rq, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/feed?"+query, nil)
	rq.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	if lastID != "" {
		rq.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("feed %s: %s", query, resp.Status)
	}
	s := &sseFeed{cancel: cancel, msgs: make(chan sseMsg, 1000)}
	go func() {
		defer close(s.msgs)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var m sseMsg
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "id: "):
				m.id, _ = strconv.ParseUint(l[4:], 10, 64)
			case strings.HasPrefix(l, "event: "):
				m.event = l[7:]
			case strings.HasPrefix(l, "data: "):
				m.data = l[6:]
			case l == "" && m.id != 0:
				s.msgs <- m
				m = sseMsg{}
			}
		}
	}()
	t.Cleanup(cancel)
	return s
}

// until collects the feed's messages until one satisfies done (it
// included), failing after 10 s.
func (s *sseFeed) until(t *testing.T, done func(sseMsg) bool) []sseMsg {
	t.Helper()
	var out []sseMsg
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("feed ended after %+v", out)
			}
			out = append(out, m)
			if done(m) {
				return out
			}
		case <-timer.C:
			t.Fatalf("feed: not done in time; got %+v", out)
		}
	}
}

// The live feed honours the page's filters: rows they do not show are
// not sent, an alarm they do not show comes as event: alarm (pinned), and
// the position passes the filtered records at once (not only at the next
// heartbeat), so a browser reconnecting resumes after them, with nothing
// lost and nothing twice.
func TestFeedFilters(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FeedHeartbeat = time.Hour })
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	an := f.login("an")
	const query = "kind=motion&q=cong+khu"
	feed := openFilteredFeed(t, srv.URL, an, query, "")
	f.storeEvent(gwSchool, wire.Event{Kind: "motion", Source: "pir-san", State: "active", ClockSynced: true}) // another site
	f.storeEvent(gwGate, wire.Event{Kind: "tamper", Source: "hop-dien", State: "active", ClockSynced: true})  // an alarm, another kind
	tamper := lastArrival(t, f)
	f.storeEvent(gwGate, wire.Event{Kind: "motion", Source: "pir-cong", State: "active", ClockSynced: true})
	motion := lastArrival(t, f)
	var got []string
	for _, m := range feed.until(t, func(m sseMsg) bool { return m.id == motion }) {
		if m.event != "" {
			got = append(got, m.event+" "+strconv.FormatUint(m.id, 10))
		}
	}
	if want := []string{"alarm " + strconv.FormatUint(tamper, 10), "item " + strconv.FormatUint(motion, 10)}; !slices.Equal(got, want) {
		t.Errorf("feed sent %q, want %q", got, want)
	}

	// Many records the filters do not show: the position passes them.
	for range 300 {
		f.storeEvent(gwSchool, wire.Event{Kind: "motion", Source: "pir-san", State: "active", ClockSynced: true})
	}
	quiet := lastArrival(t, f)
	for _, m := range feed.until(t, func(m sseMsg) bool { return m.id == quiet }) {
		if m.event != "" {
			t.Errorf("feed sent %s %d of the other site", m.event, m.id)
		}
	}
	feed.cancel()

	// Reconnecting from there: only what came after, nothing twice.
	f.storeEvent(gwGate, wire.Event{Kind: "motion", Source: "pir-cong-2", State: "active", ClockSynced: true})
	again := lastArrival(t, f)
	feed2 := openFilteredFeed(t, srv.URL, an, query, strconv.FormatUint(quiet, 10))
	ms := feed2.until(t, func(m sseMsg) bool { return m.id == again })
	if len(ms) != 1 || ms[0].event != "item" || !strings.Contains(ms[0].data, "pir-cong-2") {
		t.Errorf("after reconnecting: %+v", ms)
	}
}

// countingStore counts the records the console reads from the store.
type countingStore struct {
	*store.Store
	read atomic.Int64
}

func (c *countingStore) AfterBrief(n uint64, limit int) ([]store.Record, error) {
	recs, err := c.Store.AfterBrief(n, limit)
	c.read.Add(int64(len(recs)))
	return recs, err
}

// Paging with a filter that matches rarely over a store of many records
// that do not match: each request reads at most its budget (MaxScan, plus
// the rest of the chunk it is in) and answers a partial page with a next
// that continues, until the one match and the end of the store.
func TestFilterScanBudget(t *testing.T) {
	const budget, records = 500, 3000
	var cs *countingStore
	f := newFixture(t, func(o *Options) {
		cs = &countingStore{Store: o.Reviews.(*store.Store)}
		o.Events = &StoreData{Store: cs, Dir: testDir, MaxScan: budget}
	})
	f.storeEvent(gwGate, wire.Event{Kind: "tamper", Source: "hop-dien", State: "active", ClockSynced: true})
	for i := range records {
		f.storeEvent(gwSchool, wire.Event{Kind: "motion", Source: "pir-" + strconv.Itoa(i%7), State: "active", ClockSynced: true})
	}
	an := f.login("an")
	var found []Item
	path := "/api/events?kind=tamper&q=hop+dien&limit=10"
	pages := 0
	for ; pages < 20; pages++ {
		cs.read.Store(0)
		p := decode[page](t, must(t, f.do(req{path: path, cookie: an}), http.StatusOK, path))
		if n := cs.read.Load(); n > budget+256 {
			t.Errorf("page %d read %d records; budget %d", pages, n, budget)
		}
		found = append(found, p.Items...)
		if p.Next == 0 {
			break
		}
		if !p.Partial {
			t.Errorf("page %d: cut short without partial", pages)
		}
		path = "/api/events?kind=tamper&q=hop+dien&limit=10&before=" + strconv.FormatUint(p.Next, 10)
	}
	if len(found) != 1 || found[0].Event.Kind != "tamper" {
		t.Fatalf("found %q", what(found))
	}
	if want := (records + 1 + budget - 1) / budget; pages+1 != want {
		t.Errorf("%d pages, want %d (the budget of %d a page)", pages+1, want, budget)
	}
	// The page says it was cut short, and its "older" link continues.
	body := must(t, f.do(req{path: "/events?kind=tamper", cookie: an}), http.StatusOK, "page").body
	if !strings.Contains(body, `id="events-partial"`) || !strings.Contains(body, `href="/events?before=`) || !strings.Contains(body, `&amp;kind=tamper"`) {
		t.Errorf("a partial page without its notice or its link on")
	}
}

// fold drops case and Vietnamese diacritics, precomposed or combining.
func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Cổng khu dân cư 3":     "cong khu dan cu 3",
		"TRƯỜNG THCS CHÍ ĐÁM":   "truong thcs chi dam",
		"Co\u0302\u0309ng":      "cong",
		"Phát hiện chuyển động": "phat hien chuyen dong",
		"camera_offline":        "camera offline",
		"pir-cong":              "pir-cong",
		"Ỹ ỹ Ặ ặ Ợ ợ Ự ự":       "y y a a o o u u",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEventFilters: any query string either is refused with an error
// starting with the bad parameter's name, or gives known kinds and
// states, a bounded text without control characters, and a span whose
// start is before its end.
func FuzzEventFilters(f *testing.F) {
	for _, s := range []string{"kind=motion&kind=tamper&state=review&q=c%E1%BB%95ng+khu", "kind=door", "state=open", "q=a%00", "q=a&q=b",
		"kind=&state=&q=", "site=khu-3&gateway=cong-khu-3&since=2026-12-01&until=2026-12-02&kind=gap&state=incident&q=%C4%91%C3%A3+b%E1%BA%AFt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // net/http drops such pairs before the console sees them
		}
		fl, err := parseFilter(q)
		if err != nil {
			msg := err.Error()
			for _, p := range []string{"gateway", "site", "since", "until", "kind", "state", "q"} {
				if strings.HasPrefix(msg, p+" ") || strings.HasPrefix(msg, p+":") {
					return
				}
			}
			t.Fatalf("error names no parameter: %v", err)
		}
		for _, k := range fl.kinds {
			if !slices.Contains(filterKinds, k) {
				t.Fatalf("accepted kind %q", k)
			}
		}
		for _, s := range fl.states {
			if !slices.Contains(filterStates, s) {
				t.Fatalf("accepted state %q", s)
			}
		}
		if utf8.RuneCountInString(fl.text) > maxFilterText || !utf8.ValidString(fl.text) || len(fl.words) > maxFilterWords ||
			strings.ContainsFunc(fl.text, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("accepted text %q", fl.text)
		}
		if (fl.gateway != "" && !wire.ValidID(fl.gateway)) || (fl.site != "" && !wire.ValidID(fl.site)) ||
			(!fl.since.IsZero() && !fl.until.IsZero() && !fl.since.Before(fl.until)) {
			t.Fatalf("accepted %+v", fl)
		}
	})
}

// The filters' Vietnamese terms are docs/glossary-vi.md's.
func TestFilterGlossary(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "glossary-vi.md"))
	if err != nil {
		t.Fatal(err)
	}
	gloss := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, "|"); len(f) >= 4 {
			gloss[strings.TrimSpace(f[1])] = strings.TrimSpace(f[2])
		}
	}
	for key, term := range map[string]string{
		"filter.review": "alarm to review", "filter.acked": "acknowledged (alarm; events filter `state=acked`)",
		"filter.alarms": "alarm", "filter.gap": "events lost", "filter.notice": "storage notice (from the store)",
		"filter.active": "active (sensor state)", "filter.inactive": "inactive (sensor state)", "filter.q": "search (events filter, free text)",
		"ev.walk_test": "walk test", "ev.clip_lost": "evidence clip lost (evicted before upload)", "ev.recording_failed": "recording failed",
		"outcome.false_alarm": "false alarm (outcome)", "outcome.handled": "handled (outcome)", "outcome.incident": "turned into a case (outcome)",
		"filter.cameras": "recording", "filter.sensors": "sensor trouble",
	} {
		want := strings.ToLower(gloss[term])
		if got := strings.ToLower(catalogue[key].vi); want == "" || !strings.Contains(got, want) && !strings.Contains(want, got) {
			t.Errorf("%s is %q; the glossary's %q is %q", key, catalogue[key].vi, term, gloss[term])
		}
	}
}

// BenchmarkQueryFiltered: one page (limit 50) of filters that match
// nothing in a store of 60,000 motion events of 100 gateways, so that
// each request spends its whole scan budget (20,000 records): an
// officer of one site without other filters (the baseline, as before
// the filters), a kind, a text, and state=review (which reads the body
// of every event of a kind that is not an alarm kind, for attrs.alarm).
// Compare the cases' ns/op with each other, in one run.
func BenchmarkQueryFiltered(b *testing.B) {
	const total, gateways = 60_000, 100
	st, err := store.Open(filepath.Join(b.TempDir(), "events.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dir := Directory{}
	for g := range gateways {
		id := fmt.Sprintf("gw-%03d", g)
		dir[id] = DirEntry{ID: id, Name: fmt.Sprintf("Cổng khu dân cư %d", g), Site: fmt.Sprintf("site-%02d", g%20), SiteName: "Xã Chí Đám"}
	}
	var wg sync.WaitGroup
	seqs := make([]uint64, gateways)
	for i := range total {
		g := i % gateways
		id := fmt.Sprintf("gw-%03d", g)
		seqs[g]++
		p, _ := json.Marshal(wire.Event{Seq: seqs[g], ID: wire.EventID(id, seqs[g]), Epoch: "e1", Kind: "motion", Source: "pir",
			State: "active", Time: time.Now(), ClockSynced: true, Boot: "b"})
		wg.Add(1)
		st.Submit(id, wire.TopicEvent, p, func(_ store.Result, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	data := &StoreData{Store: st, Dir: dir}
	none := func(string) bool { return false }
	for _, c := range []struct {
		name string
		q    Query
	}{
		{"baseline-no-gateway", Query{Limit: 50, Keep: none}},
		{"kind", Query{Limit: 50, Kinds: []string{"tamper"}}},
		{"text", Query{Limit: 50, Text: "cong khu truong"}},
		{"state-review", Query{Limit: 50, States: []string{stateReview}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				items, next, err := data.Query(c.q)
				if err != nil || len(items) != 0 || next != total-20000+1 {
					b.Fatalf("%d items, next %d, %v", len(items), next, err)
				}
			}
		})
	}
}
