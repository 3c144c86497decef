package web

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/uplink/wire"
)

func (f *fakeLive) WatchEnd(gw, session string, fn func(wire.LiveEndMsg)) func() {
	return watch(f, &f.ends, gw, session, fn)
}

func (f *fakeLive) endNotice(gw, session, reason string) bool {
	f.mu.Lock()
	fn := f.ends[gw+"/"+session]
	f.mu.Unlock()
	if fn != nil {
		fn(wire.LiveEndMsg{Session: session, Reason: reason})
	}
	return fn != nil
}

const (
	playFrom = "2026-12-02T09:59:50+07:00"
	playTo   = "2026-12-02T10:09:50+07:00"
)

func playQuery(speed string) string {
	q := "?from=" + url.QueryEscape(playFrom) + "&to=" + url.QueryEscape(playTo)
	if speed != "" {
		q += "&speed=" + speed
	}
	return q
}

// A playback through the relay: from/to/speed reach live.offer (no
// quality), the answer's position comes back, the range is in the audit
// log at open and close; a seek is relayed for the session's owner only,
// inside its range, with bad input a 400 naming the field.
func TestLivePlaybackRelay(t *testing.T) {
	f, fl := liveFixture(t)
	c := f.login("tuan")
	r := must(t, f.offer(c, gwGate, "gate-cam", playQuery("4")), http.StatusCreated, "open a playback")
	loc := r.header.Get("Location")
	session := loc[strings.LastIndex(loc, "/")+1:]
	if p := r.header.Get("X-Live-Position"); p != "2026-12-02T02:59:50Z" {
		t.Errorf("X-Live-Position %q", p)
	}
	a := fl.sent("live.offer")[0].args
	if a["from"] != "2026-12-02T02:59:50Z" || a["to"] != "2026-12-02T03:09:50Z" || a["speed"] != 4 || a["quality"] != nil || a["session"] != session {
		t.Errorf("offer args %+v", a)
	}
	if es := f.entries(audit.LiveOpen); len(es) != 1 || es[0].Detail["from"] != "2026-12-02T02:59:50Z" || es[0].Detail["to"] != "2026-12-02T03:09:50Z" ||
		es[0].Detail["speed"] != "4" || es[0].Detail["quality"] != "recording" {
		t.Errorf("live_open %+v", es)
	}

	seek := func(cookie, ct, body string) resp {
		return f.raw("POST", loc+"/seek", cookie, ct, body)
	}
	sk := decode[map[string]any](t, must(t, seek(c, "application/json", `{"time":"2026-12-02T10:05:00+07:00"}`), http.StatusOK, "seek"))
	if sk["time"] != "2026-12-02T03:05:00Z" || sk["session"] != session {
		t.Errorf("seek answer %+v", sk)
	}
	if ss := fl.sent("live.seek"); len(ss) != 1 || ss[0].args["session"] != session || ss[0].args["time"] != "2026-12-02T03:05:00Z" {
		t.Errorf("live.seek sent %+v", ss)
	}
	for _, tc := range []struct {
		ct, body, want string
	}{
		{"application/json", `{"time":"yesterday"}`, "time: "},
		{"application/json", `{"time":"2026-12-02T11:00:00+07:00"}`, "time: 2026-12-02T04:00:00Z is outside"},
		{"application/json", `{"time":"2026-12-02T09:00:00+07:00"}`, "outside the playback's range"},
		{"application/json", `{}`, "time: missing"},
		{"application/json", `{"time":"2026-12-02T10:05:00+07:00","speed":2}`, "body: "},
		{"application/json", `{"time":"2026-12-02T10:05:00+07:00"}{}`, "body: more than one"},
		{"application/json", strings.Repeat(" ", playSeekMax+1), "body: "},
	} {
		r := must(t, seek(c, tc.ct, tc.body), http.StatusBadRequest, "seek "+tc.body)
		if !strings.Contains(r.body, tc.want) {
			t.Errorf("seek %q: %s, want %q", tc.body, r.body, tc.want)
		}
	}
	must(t, seek(c, "text/plain", `{"time":"2026-12-02T10:05:00+07:00"}`), http.StatusUnsupportedMediaType, "seek not JSON")
	must(t, seek(f.login("an"), "application/json", `{"time":"2026-12-02T10:05:00+07:00"}`), http.StatusNotFound, "another officer's seek")
	must(t, seek(f.login("binh"), "application/json", `{"time":"2026-12-02T10:05:00+07:00"}`), http.StatusForbidden, "a viewer's seek")
	must(t, seek("", "application/json", `{"time":"2026-12-02T10:05:00+07:00"}`), http.StatusUnauthorized, "no login")
	if n := len(fl.sent("live.seek")); n != 1 {
		t.Errorf("%d seeks reached the gateway, want the good one", n)
	}

	// A live view has no seek.
	live := must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open live").header.Get("Location")
	must(t, f.raw("POST", live+"/seek", c, "application/json", `{"time":"2026-12-02T10:05:00+07:00"}`), http.StatusConflict, "seek of a live view")

	cl := must(t, f.do(req{method: "DELETE", path: loc, cookie: c}), http.StatusOK, "close")
	_ = cl
	var closed *audit.Entry
	for _, e := range f.entries(audit.LiveClose) {
		if e.Detail["session"] == session {
			closed = &e
		}
	}
	if closed == nil || closed.Detail["from"] != "2026-12-02T02:59:50Z" || closed.Detail["speed"] != "4" || closed.Detail["quality"] != "recording" || closed.Detail["bytes"] != "123456" {
		t.Errorf("live_close %+v", closed)
	}
}

// The range is checked before anything reaches a gateway; each error
// names its field.
func TestLivePlaybackBadRange(t *testing.T) {
	f, fl := liveFixture(t)
	c := f.login("tuan")
	for _, tc := range []struct{ query, want string }{
		{"?from=yesterday&to=" + url.QueryEscape(playTo), "from: "},
		{"?from=" + url.QueryEscape(playFrom), "to: required"},
		{"?to=" + url.QueryEscape(playTo), "from: required"},
		{"?speed=2", "speed: only for a playback"},
		{playQuery("3"), "speed: "},
		{playQuery("1.5"), "speed: "},
		{"?from=" + url.QueryEscape(playTo) + "&to=" + url.QueryEscape(playFrom), "to: "},
		{"?from=" + url.QueryEscape(playFrom) + "&to=" + url.QueryEscape(playFrom), "is not after from"},
		{"?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:01Z", "over 24h"},
		{"?from=2026-12-02%2010:00&to=" + url.QueryEscape(playTo), "from: "},
		{"?from=2026-12-02T10:00:00+07:00&to=" + url.QueryEscape(playTo), "from: "}, // an unescaped + is a space
		{playQuery("2") + "&from=" + url.QueryEscape(playFrom), "from: given 2 times"},
	} {
		r := must(t, f.offer(c, gwGate, "gate-cam", tc.query), http.StatusBadRequest, tc.query)
		if !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %s, want %q", tc.query, r.body, tc.want)
		}
	}
	must(t, f.offer(c, gwGate, "gate-cam", "?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&speed=1"), http.StatusCreated, "exactly 24 h")
	if n := len(fl.sent("live.offer")); n != 1 {
		t.Errorf("%d offers reached the gateway, want the good one", n)
	}
	must(t, f.offer(f.login("binh"), gwGate, "gate-cam", playQuery("")), http.StatusForbidden, "a viewer's playback")
	// Nothing recorded there: the gateway's refusal is a 404, audited with the range.
	fl.mu.Lock()
	fl.refuse = "live: no recording: no recording of camera gate-cam at or after 2026-12-02T02:59:50Z"
	fl.mu.Unlock()
	r := must(t, f.offer(c, gwGate, "gate-cam", playQuery("")), http.StatusNotFound, "no recording")
	if !strings.Contains(r.body, "no recording of camera gate-cam") {
		t.Errorf("refusal %s", r.body)
	}
	var refused int
	for _, e := range f.entries(audit.LiveOpen) {
		if !e.OK && e.Detail["from"] == "2026-12-02T02:59:50Z" && strings.Contains(e.Detail["error"], "no recording") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d refused playbacks audited with their range, want 1: %+v", refused, f.entries(audit.LiveOpen))
	}
}

// The gateway's end notice ends the session at the station (its bytes
// read, no live.close: it is closed there), is audited with its reason,
// and reaches the browser on the session's event stream.
func TestLivePlaybackEndNotice(t *testing.T) {
	f, fl := liveFixture(t)
	c := f.login("tuan")
	loc := must(t, f.offer(c, gwGate, "gate-cam", playQuery("")), http.StatusCreated, "open").header.Get("Location")
	session := loc[strings.LastIndex(loc, "/")+1:]
	sc := bufio.NewScanner(candidateStreams(t, f, c, loc)().Body)
	for sc.Scan() && !strings.Contains(sc.Text(), `"candidate":""`) {
	}
	if !fl.endNotice(gwGate, session, "playback reached the end of the asked range") {
		t.Fatal("no end watcher for the playback")
	}
	var end string
	for sc.Scan() {
		if sc.Text() == "event: end" && sc.Scan() {
			end = sc.Text()
		}
	}
	if end != `data: {"reason":"playback reached the end of the asked range"}` {
		t.Errorf("end event %q", end)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.entries(audit.LiveClose)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	es := f.entries(audit.LiveClose)
	if len(es) != 1 || es[0].Detail["gateway_reason"] != "playback reached the end of the asked range" || es[0].Detail["bytes"] != "123456" ||
		es[0].Detail["reason"] != "ended at the gateway" || es[0].Detail["close_error"] != "" || es[0].Detail["to"] != "2026-12-02T03:09:50Z" {
		t.Fatalf("live_close %+v", es)
	}
	if n := len(fl.sent("live.close")); n != 0 {
		t.Errorf("live.close sent %d times for a session the gateway closed", n)
	}
	must(t, f.do(req{path: loc, cookie: c}), http.StatusNotFound, "stats after the end")
	f.auditSettled()
}

// auditSettled waits for an append made in the background (the station
// ending a session by itself) to finish: an entry is readable before
// Append has written the log's head file, which would race with the
// test's TempDir removal. Append holds the log's lock throughout, so one
// more append waits for it.
func (f *fixture) auditSettled() {
	f.t.Helper()
	if _, err := f.audit.Append(audit.Entry{Actor: "test", Action: "test_settled", OK: true}); err != nil {
		f.t.Fatal(err)
	}
}

// A stats read answered with a closed session's last figures (the
// gateway keeps them ~2 min) ends it at the station with them.
func TestLiveStatsOfClosedSession(t *testing.T) {
	f, fl := liveFixture(t)
	c := f.login("tuan")
	loc := must(t, f.offer(c, gwGate, "gate-cam", playQuery("2")), http.StatusCreated, "open").header.Get("Location")
	fl.mu.Lock()
	fl.closed = true
	fl.mu.Unlock()
	r := must(t, f.do(req{path: loc, cookie: c}), http.StatusNotFound, "stats of a closed session")
	if !strings.Contains(r.body, "end of the asked range") {
		t.Errorf("stats answer %s", r.body)
	}
	es := f.entries(audit.LiveClose)
	if len(es) != 1 || es[0].Detail["bytes"] != "123456" || es[0].Detail["gateway_reason"] != "playback reached the end of the asked range" || es[0].Detail["stats_error"] != "" {
		t.Fatalf("live_close %+v", es)
	}
	if n := len(fl.sent("live.close")); n != 0 {
		t.Errorf("live.close sent %d times", n)
	}
}

func FuzzParsePlayRange(f *testing.F) {
	f.Add(playQuery("4")[1:])
	f.Add("from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z")
	f.Add("speed=2")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		pr, ok, err := parsePlayRange(q)
		if err != nil || !ok {
			return
		}
		if !pr.From.Before(pr.To) || pr.To.Sub(pr.From) > playMaxRange || (pr.Speed != 1 && pr.Speed != 2 && pr.Speed != 4) {
			t.Fatalf("%q accepted as %+v", raw, pr)
		}
	})
}

func FuzzDecodeSeek(f *testing.F) {
	f.Add([]byte(`{"time":"2026-12-02T10:05:00+07:00"}`))
	f.Add([]byte(`{"time":null}`))
	f.Add([]byte(`{"time":"2026-12-02T10:05:00+07:00"} `))
	from, _ := time.Parse(time.RFC3339, playFrom)
	to, _ := time.Parse(time.RFC3339, playTo)
	pr := playRange{From: from, To: to, Speed: 1}
	f.Fuzz(func(t *testing.T, body []byte) {
		tm, err := decodeSeek(body, pr)
		if err != nil {
			return
		}
		if tm.Before(from) || tm.After(to) || len(body) > playSeekMax {
			t.Fatalf("%q accepted as %v", body, tm)
		}
	})
}

// From an event row: "Xem lại bản ghi" opens the tile with its range
// starting 10 s before the event, in Vietnam time; officers only.
func TestLivePlaybackEventLink(t *testing.T) {
	f, _ := liveFixture(t)
	f.event(gwGate, "motion", "gate-pir", map[string]any{"snapshot_camera": "gate-cam"})
	p := f.do(req{path: "/events", cookie: f.login("tuan")})
	i := strings.Index(p.body, `class="button secondary replay-link" href="`)
	if i < 0 {
		t.Fatalf("officer's events page has no playback link:\n%.3000s", p.body)
	}
	href := p.body[i+len(`class="button secondary replay-link" href="`):]
	href = strings.ReplaceAll(href[:strings.Index(href, `"`)], "&amp;", "&")
	u, err := url.Parse(href)
	if err != nil || u.Path != "/live" || u.Query().Get("camera") != "gate-cam" || u.Query().Get("gateway") != gwGate {
		t.Fatalf("link %q", href)
	}
	at, err := time.Parse(time.RFC3339, u.Query().Get("at"))
	if err != nil {
		t.Fatalf("at of %q: %v", href, err)
	}
	page := f.do(req{path: href, cookie: f.login("tuan")})
	want := at.Add(-10 * time.Second).In(audit.Vietnam).Format("2006-01-02T15:04:05")
	if !strings.Contains(page.body, `class="pb-from" value="`+want+`"`) || !strings.Contains(page.body, `data-play-from="`+want+`"`) {
		t.Errorf("live page of %s has no from %s:\n%.3000s", href, want, page.body)
	}
	if p := f.do(req{path: "/events", cookie: f.login("binh")}); strings.Contains(p.body, "replay-link") {
		t.Error("a viewer's events page links to a playback")
	}
	if p := f.do(req{path: "/live?at=garbage", cookie: f.login("tuan")}); p.code != http.StatusOK || strings.Contains(p.body, "<details class=\"playback\" open") {
		t.Errorf("a bad at: %d", p.code)
	}
}
