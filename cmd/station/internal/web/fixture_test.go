package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// fastParams keep argon2 cheap in tests (the accounts package tests the
// defaults).
var fastParams = accounts.Params{Time: 1, Memory: 1 << 10, Threads: 1, SaltLen: 16, KeyLen: 32}

const testPassword = "mật-khẩu-thử-nghiệm"

// Two gateways at two sites, as in the demo.
const (
	gwGate   = "cong-khu-3"
	gwSchool = "thcs-chi-dam"
)

var testDir = Directory{
	gwGate:   {ID: gwGate, Name: "Cổng khu dân cư 3", Site: "khu-3", SiteName: "Khu dân cư số 3", Kind: "gate"},
	gwSchool: {ID: gwSchool, Name: "Trường THCS Chí Đám", Site: "chi-dam", SiteName: "Xã Chí Đám", Kind: "school"},
}

// fixture is a console over a real store, accounts file and audit log.
type fixture struct {
	t     testing.TB
	s     *Server
	st    *store.Store
	db    *accounts.DB
	audit *audit.Log
	dir   string

	mu  sync.Mutex
	now time.Time
	seq map[string]uint64
}

func newFixture(t testing.TB, tweak ...func(*Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := accounts.Open(filepath.Join(dir, accounts.FileName), accounts.Options{Params: fastParams})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, db: db, audit: audit.Open(filepath.Join(dir, audit.FileName)), dir: dir,
		now: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), seq: map[string]uint64{}}
	data := &StoreData{Store: st, Dir: testDir}
	o := Options{Accounts: db, Audit: f.audit, Gateways: data, Events: data, Feed: data, Reviews: st, Now: f.clock}
	for _, fn := range tweak {
		fn(&o)
	}
	if f.s, err = New(o); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name string
		role accounts.Role
		lim  accounts.Limits
	}{
		{"an", accounts.Admin, accounts.Limits{}},
		{"tuan", accounts.Officer, accounts.Limits{Sites: []string{"khu-3"}}},
		{"binh", accounts.Viewer, accounts.Limits{}},
	} {
		if err := db.Add(u.name, u.role, u.lim, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	st.SetStatus(gwGate, wire.Status{Online: true, Boot: "b1", Version: "1.0.0"}, f.now)
	st.SetStatus(gwSchool, wire.Status{Online: false, Boot: "b2"}, f.now.Add(-time.Hour))
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// event stores one event of gw with the given source and attrs.
func (f *fixture) event(gw, kind, source string, attrs map[string]any) uint64 {
	f.t.Helper()
	f.seq[gw]++
	seq := f.seq[gw]
	b, err := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(gw, seq), Epoch: "e1", Kind: kind, Source: source,
		State: "active", Time: f.clock(), ClockSynced: true, Boot: "b1", Attrs: attrs})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.Add(gw, wire.TopicEvent, b); err != nil {
		f.t.Fatal(err)
	}
	return seq
}

// req is one request to the handler.
type req struct {
	method, path string
	form         url.Values
	json         string
	cookie       string // session cookie value
	header       map[string]string
	remote       string
}

type resp struct {
	code   int
	body   string
	header http.Header
}

func (f *fixture) do(r req) resp {
	f.t.Helper()
	var body io.Reader
	hr := httptest.NewRequest(cmpOr(r.method, "GET"), "http://127.0.0.1:8080"+r.path, nil)
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
		hr = httptest.NewRequest(r.method, "http://127.0.0.1:8080"+r.path, body)
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else if r.json != "" {
		hr = httptest.NewRequest(r.method, "http://127.0.0.1:8080"+r.path, strings.NewReader(r.json))
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.cookie != "" {
		hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: r.cookie})
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.s.ServeHTTP(w, hr)
	return resp{code: w.Code, body: w.Body.String(), header: w.Result().Header}
}

// login logs user in through the form and returns the session cookie.
func (f *fixture) login(user string) string {
	f.t.Helper()
	r := f.do(req{method: "POST", path: "/login", form: url.Values{"user": {user}, "password": {testPassword}}})
	if r.code != http.StatusSeeOther {
		f.t.Fatalf("login %s: %d %s", user, r.code, r.body)
	}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	f.t.Fatalf("login %s: no session cookie in %v", user, r.header)
	return ""
}

func (f *fixture) entries(action string) []audit.Entry {
	f.t.Helper()
	es, err := f.audit.List(audit.Filter{Action: action}, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}

func must(t *testing.T, r resp, code int, what string) resp {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: status %d, want %d; body:\n%.600s", what, r.code, code, r.body)
	}
	return r
}

func decode[T any](t *testing.T, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %q: %v", fmt.Sprintf("%.200s", r.body), err)
	}
	return v
}
