package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/uplink/wire"
)

// fakeLive stands in for the gateway behind MQTT and the station's
// broker subscription and TURN server: it answers live.* commands,
// records them, and publishes one gateway candidate before each answer
// (as a trickling gateway may).
type fakeLive struct {
	mu       sync.Mutex
	cmds     []fakeCmd
	watchers map[string]func(wire.LiveCandidateMsg)
	ends     map[string]func(wire.LiveEndMsg) // playbacks' end notices (live_play_test.go)
	closed   bool                             // live.stats answers a closed session's last figures
	refuse   string
	gone     bool // the gateway has ended every session
}

type fakeCmd struct {
	gw, name string
	args     map[string]any
}

func (f *fakeLive) Command(_ context.Context, gw, name string, args map[string]any) (json.RawMessage, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, fakeCmd{gw, name, args})
	refuse, gone := f.refuse, f.gone
	w := f.watchers[gw+"/"+cast(args["session"])]
	f.mu.Unlock()
	exp := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Second)
	var out map[string]any
	if gone && name != "live.offer" {
		return json.RawMessage(`{"ok":false,"error":"unknown session"}`), nil
	}
	switch name {
	case "live.offer":
		if refuse != "" {
			return json.RawMessage(`{"ok":false,"error":` + quote(refuse) + `}`), nil
		}
		if w != nil {
			w(wire.LiveCandidateMsg{Session: cast(args["session"]), Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host", SDPMid: "0"})
			w(wire.LiveCandidateMsg{Session: cast(args["session"])})
		}
		out = map[string]any{"session": args["session"], "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "expires": exp}
		if from, ok := args["from"].(string); ok {
			out["position"] = from
		}
	case "live.stats":
		out = map[string]any{"session": args["session"], "state": "connected", "bytes": 123456}
		f.mu.Lock()
		if f.closed {
			out["state"], out["reason"] = "closed", "playback reached the end of the asked range"
		}
		f.mu.Unlock()
	case "live.seek":
		out = map[string]any{"time": args["time"]}
	case "live.renew":
		out = map[string]any{"expires": exp.Add(time.Minute)}
	default:
		out = map[string]any{}
	}
	out["ok"] = true
	b, _ := json.Marshal(out)
	return b, nil
}

func cast(v any) string { s, _ := v.(string); return s }
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (f *fakeLive) ICEServers(user string, _ time.Duration) []ICEServer {
	return []ICEServer{{URLs: []string{"turn:127.0.0.1:3478?transport=udp"}, Username: "1999999999:" + user, Credential: "c"}}
}

func (f *fakeLive) WatchCandidates(gw, session string, fn func(wire.LiveCandidateMsg)) func() {
	return watch(f, &f.watchers, gw, session, fn)
}

// watch keeps fn in *m (made on first use) under gw/session, as the
// station's broker keeps a watcher, until the returned func removes it.
func watch[M any](f *fakeLive, m *map[string]func(M), gw, session string, fn func(M)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *m == nil {
		*m = map[string]func(M){}
	}
	key := gw + "/" + session
	(*m)[key] = fn
	return func() {
		f.mu.Lock()
		delete(*m, key)
		f.mu.Unlock()
	}
}

func (f *fakeLive) sent(name string) []fakeCmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCmd
	for _, c := range f.cmds {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// candidateStreams serves f on a real loopback HTTP server and returns a
// func that opens the candidate stream of the session at loc with the
// session cookie. The streams' bodies are closed when the test ends, and
// then the server (its Close waits for the open streams).
func candidateStreams(t *testing.T, f *fixture, cookie, loc string) func() *http.Response {
	t.Helper()
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	return func() *http.Response {
		t.Helper()
		hr, _ := http.NewRequest("GET", srv.URL+loc+"/candidates", nil)
		hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		res, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = res.Body.Close() })
		return res
	}
}

const testOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"

func liveFixture(t *testing.T) (*fixture, *fakeLive) {
	fl := &fakeLive{}
	f := newFixture(t, func(o *Options) { o.Commands = fl })
	f.st.SetTelemetry(gwGate, wire.Telemetry{Cameras: map[string]string{"gate-cam": "online"}}, f.now)
	f.st.SetTelemetry(gwSchool, wire.Telemetry{Cameras: map[string]string{"school-cam": "online"}}, f.now)
	return f, fl
}

func (f *fixture) offer(cookie, gw, cam, query string) resp {
	f.t.Helper()
	return f.raw("POST", "/api/gateways/"+gw+"/cameras/"+cam+"/live"+query, cookie, "application/sdp", testOffer)
}

// raw sends body of content type ct.
func (f *fixture) raw(method, path, cookie, ct, body string) resp {
	f.t.Helper()
	hr := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	hr.Header.Set("Content-Type", ct)
	if cookie != "" {
		hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	w := httptest.NewRecorder()
	f.s.ServeHTTP(w, hr)
	return resp{code: w.Code, body: w.Body.String(), header: w.Result().Header}
}

// An officer opens a live view: the offer goes to the gateway with a
// station-chosen session, trickle and TURN credentials for the gateway;
// the answer comes back as WHEP gives it; trickle, stats, renew and close
// are relayed; opening and closing are in the audit log with the bytes.
func TestLiveRelay(t *testing.T) {
	f, fl := liveFixture(t)
	c := f.login("tuan")
	r := must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open")
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/api/gateways/"+gwGate+"/cameras/gate-cam/live/") || !strings.HasPrefix(r.body, "v=0") ||
		r.header.Get("Content-Type") != "application/sdp" {
		t.Fatalf("answer: %v\n%s", r.header, r.body)
	}
	if l := r.header.Values("Link"); len(l) != 1 || !strings.Contains(l[0], `rel="ice-server"`) || !strings.Contains(l[0], "viewer:tuan") {
		t.Errorf("Link headers %q", l)
	}
	offers := fl.sent("live.offer")
	if len(offers) != 1 {
		t.Fatalf("offers %+v", offers)
	}
	a := offers[0].args
	session := loc[strings.LastIndex(loc, "/")+1:]
	if a["camera"] != "gate-cam" || a["quality"] != "low" || a["trickle"] != true || a["session"] != session || a["sdp"] != testOffer {
		t.Errorf("offer args %+v", a)
	}
	if ice, _ := a["ice_servers"].([]ICEServer); len(ice) != 1 || !strings.HasSuffix(ice[0].Username, ":gateway:"+gwGate) {
		t.Errorf("offer's ice_servers %+v: want the gateway's own short-lived credential", a["ice_servers"])
	}

	frag := "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2113937151 192.168.1.5 51000 typ host\r\na=end-of-candidates\r\n"
	must(t, f.raw("PATCH", loc, c, "application/trickle-ice-sdpfrag", frag),
		http.StatusNoContent, "trickle")
	cs := fl.sent("live.candidate")
	if len(cs) != 2 || cs[0].args["sdp_mid"] != "0" || !strings.HasPrefix(cast(cs[0].args["candidate"]), "candidate:1 1 udp") || cs[1].args["candidate"] != "" {
		t.Errorf("candidates relayed %+v", cs)
	}
	must(t, f.raw("PATCH", loc, c, "text/plain", frag),
		http.StatusUnsupportedMediaType, "trickle of the wrong type")
	must(t, f.raw("PATCH", loc, c, "application/trickle-ice-sdpfrag", "a=candidate:x\r\n"),
		http.StatusBadRequest, "malformed candidate")

	st := decode[liveStats](t, must(t, f.do(req{path: loc, cookie: c}), http.StatusOK, "stats"))
	if st.Bytes != 123456 || st.Session != session {
		t.Errorf("stats %+v", st)
	}
	rn := decode[liveStats](t, must(t, f.do(req{method: "POST", path: loc + "/renew", cookie: c}), http.StatusOK, "renew"))
	if rn.Expires.Before(time.Now().Add(10*time.Minute)) || rn.Bytes != 123456 {
		t.Errorf("renew %+v", rn)
	}

	// Someone else's session does not exist for them.
	other := f.login("an")
	must(t, f.do(req{method: "DELETE", path: loc, cookie: other}), http.StatusNotFound, "another officer's session")

	cl := decode[map[string]any](t, must(t, f.do(req{method: "DELETE", path: loc, cookie: c}), http.StatusOK, "close"))
	if cl["bytes"] != float64(123456) {
		t.Errorf("close %+v", cl)
	}
	if len(fl.sent("live.close")) != 1 {
		t.Errorf("live.close not sent: %+v", fl.cmds)
	}
	must(t, f.do(req{method: "DELETE", path: loc, cookie: c}), http.StatusNotFound, "closed twice")

	opens, closes := f.entries(audit.LiveOpen), f.entries(audit.LiveClose)
	if len(opens) != 1 || !opens[0].OK || opens[0].Actor != "tuan" || opens[0].Target != "gate-cam" || opens[0].Gateway != gwGate ||
		opens[0].Detail["session"] != session {
		t.Errorf("live_open entries %+v", opens)
	}
	if len(closes) != 1 || closes[0].Actor != "tuan" || closes[0].Detail["bytes"] != "123456" || closes[0].Detail["reason"] != "closed by the viewer" {
		t.Errorf("live_close entries %+v", closes)
	}
}

// Roles and site limits on the live API: a viewer may not, no login is
// 401, and an officer limited to one site gets the same 404 for another
// site's camera as for a gateway that does not exist; nothing reaches
// that gateway.
func TestLiveLimits(t *testing.T) {
	f, fl := liveFixture(t)
	must(t, f.offer("", gwGate, "gate-cam", ""), http.StatusUnauthorized, "no login")
	must(t, f.offer(f.login("binh"), gwGate, "gate-cam", ""), http.StatusForbidden, "viewer")
	tuan := f.login("tuan")
	r := must(t, f.offer(tuan, gwSchool, "school-cam", ""), http.StatusNotFound, "another site's camera")
	if r2 := must(t, f.offer(tuan, "no-such-gw", "cam", ""), http.StatusNotFound, "no such gateway"); r2.body != r.body {
		t.Errorf("another site's 404 %q differs from a missing gateway's %q", r.body, r2.body)
	}
	if r3 := must(t, f.offer(f.login("an"), "no-such-gw", "cam", ""), http.StatusNotFound, "an unknown gateway, unlimited account"); r3.body != r.body {
		t.Errorf("an unknown gateway's 404 %q differs", r3.body)
	}
	must(t, f.do(req{path: "/live?gateway=" + gwSchool, cookie: tuan}), http.StatusOK, "live page")
	if p := f.do(req{path: "/live", cookie: tuan}); strings.Contains(p.body, "school-cam") || !strings.Contains(p.body, "gate-cam") {
		t.Errorf("the live page of a khu-3 officer shows:\n%.2000s", p.body)
	}
	must(t, f.do(req{path: "/live", cookie: f.login("binh")}), http.StatusForbidden, "viewer's live page")
	must(t, f.offer(tuan, gwGate, "other-cam", ""), http.StatusNotFound, "a camera the gateway does not have")
	must(t, f.offer(tuan, gwGate, "gate-cam", "?quality=max"), http.StatusBadRequest, "bad quality")
	must(t, f.raw("POST", "/api/gateways/"+gwGate+"/cameras/gate-cam/live", tuan, "application/json", "{}"), http.StatusUnsupportedMediaType, "not SDP")
	must(t, f.raw("POST", "/api/gateways/"+gwGate+"/cameras/gate-cam/live", tuan, "application/sdp", "hello"), http.StatusBadRequest, "garbage SDP")
	if n := len(fl.sent("live.offer")); n != 0 {
		t.Errorf("%d offers reached a gateway", n)
	}
	// A refusal of the gateway is the officer's error, and audited.
	fl.refuse = "too many viewers of camera gate-cam (max 4)"
	r = must(t, f.offer(tuan, gwGate, "gate-cam", "?quality=high"), http.StatusServiceUnavailable, "refused")
	if !strings.Contains(r.body, "too many viewers") {
		t.Errorf("refusal %s", r.body)
	}
	if es := f.entries(audit.LiveOpen); len(es) != 1 || es[0].OK || !strings.Contains(es[0].Detail["error"], "viewers") {
		t.Errorf("refused open audited as %+v", es)
	}
	// The per-account bound.
	fl.refuse = ""
	for i := range liveMaxPerUser {
		must(t, f.offer(tuan, gwGate, "gate-cam", ""), http.StatusCreated, "open "+string(rune('0'+i)))
	}
	must(t, f.offer(tuan, gwGate, "gate-cam", ""), http.StatusTooManyRequests, "one view too many")
}

// The gateway's candidates reach the browser over SSE on the session's
// URL, also those published before the gateway's answer; the stream ends
// when the session does.
func TestLiveCandidatesSSE(t *testing.T) {
	f, _ := liveFixture(t)
	c := f.login("tuan")
	loc := must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open").header.Get("Location")
	res := candidateStreams(t, f, c, loc)()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE: %d %v", res.StatusCode, res.Header)
	}
	sc := bufio.NewScanner(res.Body)
	var data []string
	for sc.Scan() && len(data) < 2 {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	if len(data) != 2 || !strings.Contains(data[0], `"candidate":"candidate:1 1 udp`) || !strings.Contains(data[1], `"candidate":""`) {
		t.Fatalf("candidates %q", data)
	}
	must(t, f.do(req{method: "DELETE", path: loc, cookie: c}), http.StatusOK, "close")
	ended := false
	for sc.Scan() {
		if sc.Text() == "event: end" {
			ended = true
		}
	}
	if !ended {
		t.Error("the stream did not say the session ended")
	}
}

// A session not renewed past its end, and one whose browser went away,
// are closed by the station and audited.
func TestLiveReaped(t *testing.T) {
	f, fl := liveFixture(t)
	c := f.login("tuan")
	must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open")
	f.advance(time.Minute) // the fixture's clock: the browser is gone
	deadline := time.Now().Add(3 * liveReap)
	for len(f.entries(audit.LiveClose)) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	es := f.entries(audit.LiveClose)
	if len(es) != 1 || es[0].Detail["reason"] != "abandoned" || es[0].Detail["bytes"] != "123456" {
		t.Fatalf("live_close %+v", es)
	}
	if len(fl.sent("live.close")) != 1 {
		t.Error("live.close not sent to the gateway")
	}
	f.auditSettled()
}

func TestParseFrag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		fail string
	}{
		{"a=mid:0\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n", 1, ""},
		{"a=ice-ufrag:x\r\na=ice-pwd:y\r\nm=audio 9 RTP/AVP 0\r\na=mid:1\r\na=end-of-candidates\r\n", 1, ""},
		{"", 0, ""},
		{"hello\r\n", 0, "not an SDP fragment line"},
		{"a=candidate:1 1 udp\r\n", 0, "too few fields"},
		{"a=mid:\r\n", 0, "not a media id"},
		{strings.Repeat("a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n", liveFragMax+1), 0, "more than"},
	} {
		got, err := parseFrag(tc.in)
		if tc.fail != "" {
			if err == nil || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("%q: %v, want %q", tc.in, err, tc.fail)
			}
			continue
		}
		if err != nil || len(got) != tc.n {
			t.Errorf("%q: %+v %v", tc.in, got, err)
		}
	}
}

func FuzzParseFrag(f *testing.F) {
	f.Add("a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n" +
		"a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n" +
		"a=end-of-candidates\r\n")
	f.Add("a=mid:0\na=candidate:1 1 udp 1 ::1 5 typ host\n")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseFrag(s)
		if err != nil {
			return
		}
		if len(cs) > liveFragMax {
			t.Fatalf("%d candidates", len(cs))
		}
		for _, c := range cs {
			if c.Candidate != "" && (!strings.HasPrefix(c.Candidate, "candidate:") || len(c.Candidate) > 512 || strings.ContainsAny(c.Candidate, "\r\n")) {
				t.Fatalf("candidate %q", c.Candidate)
			}
			if c.MLine < 0 || strings.ContainsAny(c.Mid, " \t\r\n") {
				t.Fatalf("mid %q mline %d", c.Mid, c.MLine)
			}
		}
	})
}

func FuzzCheckOffer(f *testing.F) {
	f.Add(testOffer)
	f.Add("v=0\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		if checkOffer(s) == nil && (!strings.HasPrefix(s, "v=0") || !strings.Contains(s, "\nm=")) {
			t.Fatalf("%q accepted", s)
		}
	})
}

// A session the gateway has ended (its own end, by its clock) is ended
// at the station by the page's next stats read, and audited.
func TestLiveEndedAtGateway(t *testing.T) {
	f, fl := liveFixture(t)
	c := f.login("tuan")
	loc := must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open").header.Get("Location")
	fl.mu.Lock()
	fl.gone = true
	fl.mu.Unlock()
	must(t, f.do(req{path: loc, cookie: c}), http.StatusNotFound, "stats of an ended session")
	must(t, f.do(req{path: loc, cookie: c}), http.StatusNotFound, "and again")
	es := f.entries(audit.LiveClose)
	if len(es) != 1 || es[0].Detail["reason"] != "ended at the gateway" || !strings.Contains(es[0].Detail["stats_error"], "unknown session") {
		t.Fatalf("live_close %+v", es)
	}
}

// One click from an event row to the live view of that gateway's camera
// (the event's snapshot_camera), for officers only.
func TestLiveEventLink(t *testing.T) {
	f, _ := liveFixture(t)
	f.event(gwGate, "motion", "gate-pir", map[string]any{"snapshot_camera": "gate-cam"})
	link := `href="/live?gateway=` + gwGate + `&amp;camera=gate-cam"`
	if p := f.do(req{path: "/events", cookie: f.login("tuan")}); !strings.Contains(p.body, link) {
		t.Errorf("officer's events page has no %s", link)
	}
	if p := f.do(req{path: "/events", cookie: f.login("binh")}); strings.Contains(p.body, "/live?") {
		t.Error("a viewer's events page links to live view")
	}
}
