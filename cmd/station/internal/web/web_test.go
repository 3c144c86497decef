package web

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// pathOf fills a route pattern's wildcards with values that exist.
func pathOf(p string) string {
	return strings.NewReplacer("{$}", "", "{gateway}", gwGate, "{epoch}", "e1", "{seq}", "1",
		"{name}", "nobody", "{id}", "0000000000000000").Replace(p)
}

// Every route of the table: without a login an API route answers 401 and
// a page leads to the login page; a viewer is refused what needs an
// officer or an admin, an officer what needs an admin.
func TestRouteTable(t *testing.T) {
	f := newFixture(t)
	// This phase has no officer action yet (acknowledge, arm and outputs
	// come with alarm and live view): one stands in, registered the same
	// way, to show the one middleware refuses a viewer.
	f.s.handle("POST /api/test/officer-action", accounts.Officer, func(w http.ResponseWriter, _ *http.Request, _ *view) {
		writeJSON(w, http.StatusOK, map[string]bool{"done": true})
	})
	f.event(gwGate, "motion", "gate-pir", nil)
	checked := 0
	for _, rt := range f.s.routes {
		if rt.need == "" {
			continue
		}
		checked++
		// Fresh sessions for each route: POST /logout ends them.
		viewer, officer, admin := f.login("binh"), f.login("tuan"), f.login("an")
		path := pathOf(rt.path)
		if rt.path == "/api/feed" {
			path += "?after=x" // a good request streams until it is closed: TestFeed* read it
		}
		r := f.do(req{method: rt.method, path: path})
		if rt.api {
			must(t, r, http.StatusUnauthorized, rt.pattern+" without login")
			if !strings.Contains(r.body, "login required") {
				t.Errorf("%s: body %q", rt.pattern, r.body)
			}
		} else {
			must(t, r, http.StatusSeeOther, rt.pattern+" without login")
			if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/login") {
				t.Errorf("%s without login: to %q", rt.pattern, loc)
			}
		}
		for _, who := range []struct {
			cookie string
			role   accounts.Role
		}{{viewer, accounts.Viewer}, {officer, accounts.Officer}, {admin, accounts.Admin}} {
			r := f.do(req{method: rt.method, path: path, cookie: who.cookie, json: "{}"})
			allowed := who.role.AtLeast(rt.need)
			if !allowed && r.code != http.StatusForbidden {
				t.Errorf("%s as %s: %d, want 403", rt.pattern, who.role, r.code)
			}
			if allowed && (r.code == http.StatusForbidden || r.code == http.StatusUnauthorized) {
				t.Errorf("%s as %s: %d %s", rt.pattern, who.role, r.code, r.body)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d routes checked", checked)
	}
	// A page nobody registered also leads to the login page.
	if r := f.do(req{path: "/no/such/page"}); r.code != http.StatusSeeOther {
		t.Errorf("unknown page without login: %d", r.code)
	}
	must(t, f.do(req{path: "/api/nothing"}), http.StatusUnauthorized, "unknown API route without login")
	must(t, f.do(req{path: "/no/such/page", cookie: f.login("binh")}), http.StatusNotFound, "unknown page")
	// Public routes stay public.
	must(t, f.do(req{path: "/login"}), http.StatusOK, "login page")
	must(t, f.do(req{path: "/static/app.css"}), http.StatusOK, "stylesheet")
	must(t, f.do(req{path: "/healthz"}), http.StatusOK, "healthz")
}

// An officer limited to one site sees nothing of another: not in the
// pages, not in the API, not through a gateway's own routes.
func TestSiteLimits(t *testing.T) {
	f := newFixture(t)
	f.event(gwGate, "motion", "gate-pir", nil)
	f.event(gwSchool, "tamper", "school-box", map[string]any{"secret": "school-only"})
	f.event(gwGate, "contact", "gate-door", nil)
	tuan := f.login("tuan")
	for _, path := range []string{"/sites", "/events", "/api/sites", "/api/events", "/api/events?limit=500"} {
		r := must(t, f.do(req{path: path, cookie: tuan}), http.StatusOK, path)
		for _, leak := range []string{gwSchool, "Chí Đám", "school-box", "school-only"} {
			if strings.Contains(r.body, leak) {
				t.Errorf("%s shows %q to an officer limited to khu-3", path, leak)
			}
		}
		if !strings.Contains(r.body, gwGate) && !strings.Contains(r.body, "Cổng khu dân cư 3") {
			t.Errorf("%s does not show the officer's own gateway:\n%.500s", path, r.body)
		}
	}
	for _, path := range []string{"/api/gateways/" + gwSchool, "/api/events/" + gwSchool + "/e1/1/snapshot",
		"/events?gateway=" + gwSchool, "/api/events?gateway=" + gwSchool} {
		must(t, f.do(req{path: path, cookie: tuan}), http.StatusNotFound, path+" for an officer of another site")
	}
	must(t, f.do(req{path: "/api/gateways/" + gwGate, cookie: tuan}), http.StatusOK, "own gateway")
	// The unlimited viewer sees both.
	r := must(t, f.do(req{path: "/api/events", cookie: f.login("binh")}), http.StatusOK, "viewer events")
	if !strings.Contains(r.body, "school-box") || !strings.Contains(r.body, "gate-door") {
		t.Errorf("unlimited viewer misses events:\n%.500s", r.body)
	}
	// A gateway the directory does not place is hidden from limited accounts.
	f.event("la-lung", "motion", "x-pir", nil)
	r = must(t, f.do(req{path: "/api/sites", cookie: tuan}), http.StatusOK, "sites")
	if strings.Contains(r.body, "la-lung") {
		t.Error("a gateway of no known site is shown to a limited officer")
	}
}

// Requests from another origin are refused, whatever their cookies.
func TestCrossOrigin(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	form := url.Values{"name": {"mallory"}, "role": {"admin"}, "password": {"0123456789ab"}}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "http://evil.example"},
		{"Origin": "http://127.0.0.1:9999"},
	} {
		r := f.do(req{method: "POST", path: "/users", form: form, cookie: an, header: h})
		must(t, r, http.StatusForbidden, "cross-origin add user "+strings.Join(mapKV(h), ","))
		r = f.do(req{method: "POST", path: "/login", form: url.Values{"user": {"an"}, "password": {testPassword}}, header: h})
		must(t, r, http.StatusForbidden, "cross-origin login")
	}
	if _, ok, _ := f.db.Lookup("mallory"); ok {
		t.Fatal("a cross-origin form made a user")
	}
	r := f.do(req{method: "POST", path: "/users", form: form, cookie: an,
		header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"}})
	must(t, r, http.StatusSeeOther, "same-origin add user")
	if _, ok, _ := f.db.Lookup("mallory"); !ok {
		t.Fatal("a same-origin form did not make the user")
	}
}

func mapKV(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// HTML and script in an event's fields are shown as text.
func TestEventFieldsEscaped(t *testing.T) {
	f := newFixture(t)
	f.event(gwGate, `<script>alert("kind")</script>`, `<script>alert(1)</script>`,
		map[string]any{"note": `<img src=x onerror=alert(2)>`, `"><b>key`: "v"})
	r := must(t, f.do(req{path: "/events", cookie: f.login("binh")}), http.StatusOK, "events")
	for _, raw := range []string{"<script>alert", "<img src=x", "<b>key"} {
		if strings.Contains(r.body, raw) {
			t.Errorf("events page holds raw %q", raw)
		}
	}
	for _, esc := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;"} {
		if !strings.Contains(r.body, esc) {
			t.Errorf("events page lacks the escaped text %q", esc)
		}
	}
	// The layout's module and the events page's clips.js, nothing else.
	if n := strings.Count(r.body, "<script"); n != 2 || strings.Count(r.body, `<script type="module" src="/static/`) != 2 {
		t.Errorf("%d script elements in the page", n)
	}
}

// Wrong passwords are limited per user and per address; the limit holds
// even for the right password, costs no check, and is audited.
func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxFailuresPerUser, o.MaxFailuresPerAddr = 5, 8 })
	wrong := func(user, remote string) resp {
		return f.do(req{method: "POST", path: "/login", remote: remote, form: url.Values{"user": {user}, "password": {"wrong password"}}})
	}
	right := func(user, remote string) resp {
		return f.do(req{method: "POST", path: "/login", remote: remote, form: url.Values{"user": {user}, "password": {testPassword}}})
	}
	for i := range 5 {
		must(t, wrong("binh", "192.0.2."+strconv.Itoa(i+1)+":4000"), http.StatusUnauthorized, "wrong password")
	}
	r := must(t, right("binh", "192.0.2.99:4000"), http.StatusTooManyRequests, "right password after 5 failures")
	if r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "quá nhiều lần") {
		t.Errorf("limited login: Retry-After %q, body %.300s", r.header.Get("Retry-After"), r.body)
	}
	must(t, right("an", "192.0.2.99:4000"), http.StatusSeeOther, "another user")
	// Per address: 8 failures over several names.
	for i := range 8 {
		must(t, wrong("user"+strconv.Itoa(i), "198.51.100.7:5000"), http.StatusUnauthorized, "wrong user")
	}
	must(t, right("an", "198.51.100.7:5001"), http.StatusTooManyRequests, "limited address")
	must(t, right("an", "198.51.100.8:5001"), http.StatusSeeOther, "other address")
	// IPv6 addresses count per /64.
	for i := range 8 {
		must(t, wrong("x"+strconv.Itoa(i), "[2001:db8:1:2::"+strconv.Itoa(i+1)+"]:1"), http.StatusUnauthorized, "v6")
	}
	must(t, right("an", "[2001:db8:1:2::ff]:1"), http.StatusTooManyRequests, "same /64")
	// After the window, the user may log in again.
	f.advance(16 * time.Minute)
	must(t, right("binh", "192.0.2.99:4000"), http.StatusSeeOther, "after the window")
	failed := f.entries(audit.LoginFailed)
	limited := 0
	for _, e := range failed {
		if e.Detail["reason"] == "rate limited" {
			limited++
		}
		if strings.Contains(e.Target, "wrong password") {
			t.Error("a password reached the audit log")
		}
	}
	if len(failed) < 21 || limited != 3 {
		t.Errorf("%d failed logins audited, %d rate-limit entries; want 21+ and 3", len(failed), limited)
	}
	if es := f.entries(audit.Login); len(es) != 3 || es[0].Actor != "binh" || es[0].Addr != "192.0.2.99" {
		t.Errorf("logins audited: %+v", es)
	}
}

func TestCookieFlags(t *testing.T) {
	f := newFixture(t)
	r := f.do(req{method: "POST", path: "/login", form: url.Values{"user": {"an"}, "password": {testPassword}, "next": {"/events"}}})
	must(t, r, http.StatusSeeOther, "login")
	if loc := r.header.Get("Location"); loc != "/events" {
		t.Errorf("login goes to %q", loc)
	}
	sc := r.header.Get("Set-Cookie")
	for _, want := range []string{sessionCookie + "=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if strings.Contains(sc, "Domain=") || strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
		t.Errorf("Set-Cookie %q: want a host-only session cookie", sc)
	}
	// A login page may not send the browser elsewhere afterwards.
	for _, next := range []string{"//evil.example/", "https://evil.example/", `/\evil.example`} {
		r := f.do(req{method: "POST", path: "/login", form: url.Values{"user": {"an"}, "password": {testPassword}, "next": {next}}})
		if loc := r.header.Get("Location"); loc != "/sites" {
			t.Errorf("next %q: to %q", next, loc)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	for _, r := range []resp{
		f.do(req{path: "/login"}), f.do(req{path: "/sites", cookie: an}), f.do(req{path: "/api/sites", cookie: an}),
		f.do(req{path: "/api/sites"}), f.do(req{path: "/static/app.js"}), f.do(req{path: "/nothing", cookie: an}),
	} {
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP %q allows inline script", csp)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" ||
			r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("headers %v", r.header)
		}
	}
	if cc := f.do(req{path: "/api/me", cookie: an}).header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("API Cache-Control %q", cc)
	}
	// No inline script or style anywhere in the templates.
	ents, _ := templateFS.ReadDir("templates")
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]|\son[a-z]+=|style=|javascript:`)
	for _, e := range ents {
		b, _ := templateFS.ReadFile("templates/" + e.Name())
		if m := inline.Find(b); m != nil {
			t.Errorf("%s: inline script or style %q", e.Name(), m)
		}
	}
}

// Sessions end when idle, at their absolute limit, at logout, and when
// the user's password or role changes or the user is removed.
func TestSessionEnds(t *testing.T) {
	f := newFixture(t)
	alive := func(c string) bool { return f.do(req{path: "/api/me", cookie: c}).code == http.StatusOK }
	c := f.login("binh")
	f.advance(119 * time.Minute)
	if !alive(c) {
		t.Fatal("session ended before its idle limit")
	}
	f.advance(119 * time.Minute)
	if !alive(c) {
		t.Fatal("a session in use ended")
	}
	f.advance(121 * time.Minute)
	if alive(c) {
		t.Fatal("session alive after 2 h idle")
	}
	c = f.login("binh")
	for range 13 {
		f.advance(59 * time.Minute)
		alive(c)
	}
	if alive(c) {
		t.Fatal("session alive after 12 h")
	}
	c = f.login("binh")
	must(t, f.do(req{method: "POST", path: "/logout", cookie: c}), http.StatusSeeOther, "logout")
	if alive(c) {
		t.Fatal("session alive after logout")
	}
	c = f.login("binh")
	if err := f.db.SetPassword("binh", "another password"); err != nil {
		t.Fatal(err)
	}
	if alive(c) {
		t.Fatal("session alive after a password change")
	}
	if err := f.db.SetPassword("binh", testPassword); err != nil {
		t.Fatal(err)
	}
	c = f.login("binh")
	other, _ := accounts.Open(f.db.Path(), accounts.Options{Params: fastParams}) // "station user remove" while running
	if err := other.Remove("binh"); err != nil {
		t.Fatal(err)
	}
	if alive(c) {
		t.Fatal("session alive after the user was removed")
	}
	if es := f.entries(audit.Logout); len(es) != 1 {
		t.Errorf("logouts audited: %d", len(es))
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	f.event(gwGate, "motion", "gate-pir", nil)
	f.event(gwSchool, "motion", "school-pir", nil)
	an := f.login("an")
	r := must(t, f.do(req{method: "POST", path: "/api/tokens", cookie: an,
		json: `{"name":"district","role":"viewer","sites":["chi-dam"]}`}), http.StatusCreated, "add token")
	tok := decode[struct {
		Token string `json:"token"`
		Info  struct {
			ID string `json:"id"`
		} `json:"info"`
	}](t, r)
	bearer := map[string]string{"Authorization": "Bearer " + tok.Token}
	r = must(t, f.do(req{path: "/api/events", header: bearer}), http.StatusOK, "events by token")
	if !strings.Contains(r.body, "school-pir") || strings.Contains(r.body, "gate-pir") {
		t.Errorf("token limited to chi-dam sees:\n%.500s", r.body)
	}
	must(t, f.do(req{path: "/api/users", header: bearer}), http.StatusForbidden, "admin route by a viewer token")
	must(t, f.do(req{path: "/sites", header: bearer}), http.StatusSeeOther, "page by token")
	must(t, f.do(req{path: "/api/events", header: map[string]string{"Authorization": "Bearer antt_00_bad"}}), http.StatusUnauthorized, "bad token")
	must(t, f.do(req{method: "DELETE", path: "/api/tokens/" + tok.Info.ID, cookie: an}), http.StatusNoContent, "revoke")
	must(t, f.do(req{path: "/api/events", header: bearer}), http.StatusUnauthorized, "revoked token")
	if len(f.entries(audit.TokenAdd)) != 1 || len(f.entries(audit.TokenRevoke)) != 1 {
		t.Error("token changes not audited")
	}
	// A token-authenticated client is not a browser: no cross-origin
	// headers, and it works; the same request with a browser's cross-site
	// header is refused.
	r = f.do(req{method: "POST", path: "/api/tokens", cookie: an, json: `{"name":"x","role":"officer"}`,
		header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	must(t, r, http.StatusForbidden, "cross-site API POST")
}

func TestLanguage(t *testing.T) {
	f := newFixture(t)
	vi := must(t, f.do(req{path: "/login"}), http.StatusOK, "login")
	if !strings.Contains(vi.body, `lang="vi"`) || !strings.Contains(vi.body, "Tên đăng nhập") {
		t.Errorf("default page not Vietnamese:\n%.400s", vi.body)
	}
	en := f.do(req{path: "/login", header: map[string]string{"Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"}})
	if !strings.Contains(en.body, `lang="en"`) || !strings.Contains(en.body, "User name") {
		t.Errorf("Accept-Language en not honoured")
	}
	if r := f.do(req{path: "/login", header: map[string]string{"Accept-Language": "fr,vi;q=0.8,en;q=0.7"}}); !strings.Contains(r.body, `lang="vi"`) {
		t.Error("vi preferred over en, page not Vietnamese")
	}
	r := must(t, f.do(req{method: "POST", path: "/lang", form: url.Values{"lang": {"en"}, "next": {"/login"}}}), http.StatusSeeOther, "switch")
	if !strings.Contains(r.header.Get("Set-Cookie"), langCookie+"=en") || r.header.Get("Location") != "/login" {
		t.Errorf("switch: %v", r.header)
	}
	must(t, f.do(req{method: "POST", path: "/lang", form: url.Values{"lang": {"fr"}}}), http.StatusBadRequest, "unknown language")
	c := f.login("an")
	hr := f.do(req{path: "/sites", header: map[string]string{"Cookie": sessionCookie + "=" + c + "; " + langCookie + "=en",
		"Accept-Language": "vi"}})
	if !strings.Contains(hr.body, "Sites and gateways") || !strings.Contains(hr.body, "Online") {
		t.Errorf("language cookie en not honoured over Accept-Language vi:\n%.600s", hr.body)
	}
}

// Every key a template or the Go code uses is in the catalogue, every
// catalogue entry is used and has both languages, and the two differ
// where they should (a key left untranslated shows up here).
func TestCatalogue(t *testing.T) {
	used := map[string]bool{}
	keyRE := regexp.MustCompile(`\{\{-?\s*(?:t|with t|if t)\s+"([a-z_.]+)"`)
	ents, _ := templateFS.ReadDir("templates")
	for _, e := range ents {
		b, _ := templateFS.ReadFile("templates/" + e.Name())
		for _, m := range keyRE.FindAllSubmatch(b, -1) {
			used[string(m[1])] = true
		}
	}
	goKeys := regexp.MustCompile(`(?:tr|trOr)\([a-z.]*lang, "([a-z_.]+)"`)
	prefixKeys := regexp.MustCompile(`trOr\([a-z.]*lang, "([a-z_]+\.)"`)
	var prefixes []string
	files, _ := filepath.Glob("*.go")
	for _, fn := range files {
		if strings.HasSuffix(fn, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(fn)
		for _, m := range goKeys.FindAllSubmatch(b, -1) {
			used[string(m[1])] = true
		}
		for _, m := range prefixKeys.FindAllSubmatch(b, -1) {
			prefixes = append(prefixes, string(m[1]))
		}
	}
	for k := range used {
		if _, ok := catalogue[k]; !ok && !strings.HasSuffix(k, ".") {
			t.Errorf("key %q used but not in the catalogue", k)
		}
	}
	same := map[string]bool{"lang.vi": true, "lang.en": true, "gw.cameras": false}
	for k, m := range catalogue {
		if m.vi == "" || m.en == "" {
			t.Errorf("%q: missing a language: %+v", k, m)
		}
		if m.vi == m.en && !same[k] && k != "gw.cameras" {
			t.Errorf("%q: the same in both languages (%q)", k, m.vi)
		}
		isPrefixed := false
		for _, p := range prefixes {
			isPrefixed = isPrefixed || strings.HasPrefix(k, p)
		}
		if !used[k] && !isPrefixed {
			t.Errorf("%q is in the catalogue but never used", k)
		}
		if strings.Count(m.vi, "%") != strings.Count(m.en, "%") {
			t.Errorf("%q: the two languages take different arguments", k)
		}
	}
}

// Paging walks the whole store, newest first, with no item twice or lost.
func TestEventPaging(t *testing.T) {
	f := newFixture(t)
	for i := range 120 {
		gw := gwGate
		if i%3 == 0 {
			gw = gwSchool
		}
		f.event(gw, "motion", "pir", nil)
	}
	for _, who := range []string{"binh", "tuan"} {
		c := f.login(who)
		var seen []uint64
		before := uint64(0)
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			r := must(t, f.do(req{path: "/api/events?limit=50&before=" + strconv.FormatUint(before, 10), cookie: c}), http.StatusOK, "page")
			p := decode[struct {
				Items []Item `json:"items"`
				Next  uint64 `json:"next"`
			}](t, r)
			for _, it := range p.Items {
				if len(seen) > 0 && it.Arrival >= seen[len(seen)-1] {
					t.Fatalf("%s: arrival %d after %d", who, it.Arrival, seen[len(seen)-1])
				}
				seen = append(seen, it.Arrival)
			}
			if p.Next == 0 {
				break
			}
			before = p.Next
		}
		want := 120
		if who == "tuan" {
			want = 80
		}
		if len(seen) != want {
			t.Errorf("%s paged through %d events, want %d", who, len(seen), want)
		}
	}
	must(t, f.do(req{path: "/api/events?limit=0", cookie: f.login("an")}), http.StatusBadRequest, "limit 0")
	r := must(t, f.do(req{path: "/events?before=x", cookie: f.login("an")}), http.StatusBadRequest, "bad before")
	if !strings.Contains(r.body, "before") {
		t.Errorf("bad before: %s", r.body)
	}
}

// A page cut short by MaxScan still gives a next that continues.
func TestEventPagingScanBound(t *testing.T) {
	f := newFixture(t)
	for range 30 {
		f.event(gwSchool, "motion", "pir", nil)
	}
	f.event(gwGate, "motion", "pir", nil)
	for range 30 {
		f.event(gwSchool, "motion", "pir", nil)
	}
	data := &StoreData{Store: f.st, Dir: testDir, MaxScan: 10}
	keep := func(gw string) bool { return gw == gwGate }
	var got []Item
	before := uint64(0)
	for range 20 {
		items, next, err := data.Page(before, 5, keep)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, items...)
		if next == 0 {
			break
		}
		before = next
	}
	if len(got) != 1 || got[0].Gateway != gwGate {
		t.Fatalf("bounded scans found %+v", got)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	big := `{"name":"` + strings.Repeat("a", 70<<10) + `"}`
	r := must(t, f.do(req{method: "POST", path: "/api/users", cookie: an, json: big}), http.StatusBadRequest, "70 KiB body")
	if !strings.Contains(r.body, "over 65536 bytes") {
		t.Errorf("big body: %s", r.body)
	}
	r = must(t, f.do(req{method: "POST", path: "/api/users", cookie: an, json: `{"name":"x","rolle":"admin"}`}), http.StatusBadRequest, "unknown field")
	if !strings.Contains(r.body, "rolle") {
		t.Errorf("unknown field: %s", r.body)
	}
	r = must(t, f.do(req{method: "POST", path: "/api/users", cookie: an, json: `{"name":"x1","role":"admin","password":"short"}`}), http.StatusBadRequest, "short password")
	if !strings.Contains(r.body, "too short") {
		t.Errorf("short password: %s", r.body)
	}
	must(t, f.do(req{method: "DELETE", path: "/api/users/an", cookie: an}), http.StatusConflict, "remove the last admin")
	must(t, f.do(req{method: "DELETE", path: "/api/users/nobody", cookie: an}), http.StatusNotFound, "remove nobody")
}

func TestUsersAdmin(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	form := url.Values{"name": {"lan"}, "role": {"officer"}, "sites": {"chi-dam, khu-3"}, "password": {testPassword}}
	must(t, f.do(req{method: "POST", path: "/users", cookie: an, form: form}), http.StatusSeeOther, "add")
	r := must(t, f.do(req{path: "/users?done=added", cookie: an}), http.StatusOK, "users page")
	if !strings.Contains(r.body, "lan") || !strings.Contains(r.body, "địa điểm chi-dam,khu-3") || !strings.Contains(r.body, "Đã thêm") {
		t.Errorf("users page:\n%.2000s", r.body)
	}
	lan := f.login("lan")
	r = must(t, f.do(req{method: "PATCH", path: "/api/users/lan", cookie: an, json: `{"role":"viewer"}`}), http.StatusOK, "demote")
	if !strings.Contains(r.body, `"role": "viewer"`) {
		t.Errorf("demote: %s", r.body)
	}
	must(t, f.do(req{path: "/api/me", cookie: lan}), http.StatusUnauthorized, "demoted user's old session")
	must(t, f.do(req{method: "POST", path: "/users/lan/remove", cookie: an}), http.StatusSeeOther, "remove")
	if _, ok, _ := f.db.Lookup("lan"); ok {
		t.Fatal("not removed")
	}
	for _, a := range []string{audit.UserAdd, audit.UserChange, audit.UserRemove} {
		es := f.entries(a)
		if len(es) != 1 || es[0].Actor != "an" || es[0].Target != "lan" {
			t.Errorf("%s audited as %+v", a, es)
		}
	}
	r = must(t, f.do(req{path: "/audit?action=user_add", cookie: an}), http.StatusOK, "audit page")
	if !strings.Contains(r.body, "user_add") || strings.Contains(r.body, ">login</code>") {
		t.Errorf("audit page filtered by user_add:\n%.2000s", r.body)
	}
	if n, err := audit.Verify(f.audit.Path()); err != nil || n < 5 {
		t.Errorf("audit log: %d, %v", n, err)
	}
}

func TestSitesPage(t *testing.T) {
	f := newFixture(t)
	r := must(t, f.do(req{path: "/sites", cookie: f.login("binh")}), http.StatusOK, "sites")
	for _, want := range []string{"Cổng khu dân cư 3", "Trường THCS Chí Đám", "Trực tuyến", "Ngoại tuyến", "Xã Chí Đám", "1.0.0"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("sites page lacks %q", want)
		}
	}
	r = must(t, f.do(req{path: "/api/sites", cookie: f.login("binh")}), http.StatusOK, "api sites")
	gws := decode[struct{ Gateways []Gateway }](t, r).Gateways
	// Sorted by site: chi-dam (the school, offline), then khu-3.
	if len(gws) != 2 || gws[0].Online || !gws[1].Online || gws[1].Site != "khu-3" || gws[0].ID != gwSchool {
		t.Errorf("api sites: %+v", gws)
	}
}

func TestListenAndCert(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "127.3.4.5:1": true, "[::1]:80": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "192.168.1.10:443": false} {
		if got, err := IsLoopback(addr); err != nil || got != want {
			t.Errorf("IsLoopback(%q) = %v, %v", addr, got, err)
		}
	}
	if _, _, err := Listen("192.0.2.1:0", nil); err == nil || !strings.Contains(err.Error(), "needs TLS") {
		t.Errorf("non-loopback without TLS: %v", err)
	}
	dir := t.TempDir()
	_, fp1, made, err := loadOrMakeCert(&Config{}, dir, "192.0.2.10:8443")
	if err != nil || !made || len(fp1) != 95 {
		t.Fatalf("make cert: %q %v %v", fp1, made, err)
	}
	_, fp2, _, err := loadOrMakeCert(&Config{}, dir, "192.0.2.10:8443")
	if err != nil || fp2 != fp1 {
		t.Fatalf("second start made another certificate: %q %q %v", fp1, fp2, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, CertFile))
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("192.0.2.10"); err != nil {
		t.Errorf("certificate does not name the listen address: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(dir, KeyFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode())
	}
}

// The console's Vietnamese words are docs/glossary-vi.md's: one term per
// state and action, the same on every page.
func TestGlossary(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "glossary-vi.md"))
	if err != nil {
		t.Fatal(err)
	}
	gloss := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, "|")
		if len(f) >= 4 {
			gloss[strings.TrimSpace(f[1])] = strings.TrimSpace(f[2])
		}
	}
	for key, term := range map[string]string{
		"users.title": "account", "nav.audit": "audit log", "role.admin": "administrator (role `admin`)",
		"role.officer": "duty officer (role `officer`)", "role.viewer": "viewer (role `viewer`)",
		"users.tokens": "API token", "ev.camera_offline": "camera offline", "ev.camera_online": "camera online",
		"events.title": "event", "gw.online": "online", "gw.offline": "offline", "gw.unknown": "not heard from",
		"gw.lastseen": "last seen", "ev.motion": "motion", "ev.tamper": "tamper", "ev.panic": "panic button",
		"kind.gate": "residential-area gate (kind `gate`)", "kind.school": "school (kind `school`)",
		"nav.sites": "site", "events.snapshot": "snapshot", "login.user": "user name", "login.password": "password",
		"users.role": "role", "gw.name": "gateway", "login.title": "log in / log out",
	} {
		want, ok := gloss[term]
		if !ok {
			t.Errorf("glossary has no %q", term)
			continue
		}
		got := catalogue[key].vi
		if !strings.Contains(strings.ToLower(want), strings.ToLower(got)) && !strings.Contains(strings.ToLower(got), strings.ToLower(want)) {
			t.Errorf("%s is %q; the glossary's %q is %q", key, got, term, want)
		}
	}
}
