package web

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/enrol"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/uplink/wire"
)

// fakeBroker records what enrolment asks of the broker; the real broker's
// side is tested in the broker package and end to end in cmd/station.
type fakeBroker struct {
	mu    sync.Mutex
	calls []string
}

func (b *fakeBroker) Rekey(u string) (int, error)  { return b.call("rekey " + u) }
func (b *fakeBroker) Revoke(u string) (int, error) { return b.call("revoke " + u) }
func (b *fakeBroker) call(c string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, c)
	return 0, nil
}

func (b *fakeBroker) saw(c string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.calls {
		if x == c {
			return true
		}
	}
	return false
}

// enrolFixture is a console whose Enroller writes into the fixture's
// directory: a password file with the station's user, an access file and
// the directory of the two test gateways.
func enrolFixture(t *testing.T) (*fixture, *fakeBroker, enrol.Options) {
	t.Helper()
	dir := t.TempDir()
	fb := &fakeBroker{}
	o := enrol.Options{PasswdFile: filepath.Join(dir, "passwd"), AccessFile: filepath.Join(dir, "access"),
		DirectoryFile: filepath.Join(dir, DirectoryFile), Broker: fb, BrokerURL: "mqtt://station.test:1883", Iterations: broker.MinIterations}
	if err := broker.SetPassword(o.PasswdFile, "station", "station-secret", broker.MinIterations); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.AccessFile, []byte("# who may connect\nstation station\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(o.DirectoryFile, []byte(`[{"id":"cong-khu-3","name":"Cổng khu dân cư 3","site":"khu-3","site_name":"Khu dân cư số 3","kind":"gate"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	var f *fixture
	o.Now = func() time.Time { return f.clock() } // called only once f is made
	e, err := enrol.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f = newFixture(t, func(opt *Options) { opt.Enrol = e })
	return f, fb, o
}

func unzip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the download is not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

// checkBundle unpacks a download as onto a boot partition, loads its
// gateway.yaml as `gateway check-config` does, and returns the config
// and the password.
func checkBundle(t *testing.T, zipped []byte, id string) (*config.Config, string) {
	t.Helper()
	files := unzip(t, zipped)
	boot := t.TempDir()
	for name, b := range files {
		p := filepath.Join(boot, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(boot, enrol.ConfigName), config.LookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatalf("the generated gateway.yaml does not pass check-config:\n%v\n%s", err, files[enrol.ConfigName])
	}
	if cfg.Gateway.ID != id || cfg.Uplink.Username != id || cfg.Uplink.ClientID != id {
		t.Errorf("gateway.yaml: id %q, username %q, client id %q; want %s", cfg.Gateway.ID, cfg.Uplink.Username, cfg.Uplink.ClientID, id)
	}
	if !strings.HasPrefix(cfg.Uplink.PasswordSource, "password_file") {
		t.Errorf("password from %q, want the password file", cfg.Uplink.PasswordSource)
	}
	for _, w := range cfg.Warnings {
		t.Errorf("gateway.yaml warning: %s", w)
	}
	if strings.Contains(string(files[enrol.ConfigName]), string(cfg.Uplink.Password)) {
		t.Error("the password is written in gateway.yaml itself")
	}
	return cfg, string(cfg.Uplink.Password)
}

// passwordOf returns the stored hash of user, if any.
func passwordOf(t *testing.T, path, user string) (broker.Hash, bool) {
	t.Helper()
	es, err := broker.LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.User == user {
			return e.Hash, true
		}
	}
	return broker.Hash{}, false
}

// TestEnrolAPI: an admin enrols a gateway over the API and gets one zip
// with a gateway.yaml that check-config accepts and the password whose
// hash alone the station keeps; its access rule and directory entry are
// in place at once; bad input is refused naming the field; re-issuing
// replaces the password; removing revokes it; each step is audited; other
// roles are refused.
func TestEnrolAPI(t *testing.T) {
	f, fb, o := enrolFixture(t)
	admin, officer := f.login("an"), f.login("tuan")
	body := `{"id":"cong-khu-7","name":"Cổng khu dân cư 7","site":"khu-7","site_name":"Khu dân cư số 7","kind":"gate"}`

	must(t, f.do(req{method: "POST", path: "/api/gateways", json: body, cookie: officer}), http.StatusForbidden, "officer enrols")
	must(t, f.do(req{method: "POST", path: "/api/gateways", json: body}), http.StatusUnauthorized, "enrol without login")
	if err := f.db.Add("hoa", accounts.Admin, accounts.Limits{Sites: []string{"khu-3"}}, testPassword); err != nil {
		t.Fatal(err)
	}
	must(t, f.do(req{method: "POST", path: "/api/gateways", json: body, cookie: f.login("hoa")}), http.StatusForbidden, "an admin limited to khu-3 enrols at khu-7")

	for _, bad := range []struct{ body, want string }{
		{`{"id":"Cổng 7","kind":"gate"}`, `id "Cổng 7"`},
		{`{"id":"Cong-7","kind":"gate"}`, `id "Cong-7"`},
		{`{"id":"-cong","kind":"gate"}`, `id "-cong"`},
		{`{"id":"` + strings.Repeat("a", 64) + `","kind":"gate"}`, "want 1 to 63"},
		{`{"id":"cong-8","kind":"market"}`, `kind "market"`},
		{`{"id":"cong-8"}`, "kind: want gate or school"},
		{`{"id":"cong-8","kind":"gate","site":"Khu 8"}`, `site "Khu 8"`},
		{`{"id":"cong-8","kind":"gate","name":"a\nb"}`, "name: no control characters"},
		{`{"id":"station","kind":"gate"}`, "station's own user"},
		{`{"id":"cong-8","kind":"gate","password":"x"}`, "unknown field"},
		{`{"id":"cong-khu-3","kind":"gate"}`, "already enrolled"},
	} {
		r := f.do(req{method: "POST", path: "/api/gateways", json: bad.body, cookie: admin})
		msg := decode[map[string]string](t, r)["error"]
		if r.code != http.StatusBadRequest && r.code != http.StatusConflict || !strings.Contains(msg, bad.want) {
			t.Errorf("enrol %s: %d %q, want 400/409 naming %q", bad.body, r.code, msg, bad.want)
		}
	}
	if fb.saw("rekey cong-8") {
		t.Error("a refused enrolment reached the broker")
	}

	r := must(t, f.do(req{method: "POST", path: "/api/gateways", json: body, cookie: admin}), http.StatusCreated, "enrol")
	if ct := r.header.Get("Content-Type"); ct != "application/zip" || !strings.Contains(r.header.Get("Content-Disposition"), "antt-cong-khu-7-boot.zip") {
		t.Errorf("download headers: %v", r.header)
	}
	cfg, pw := checkBundle(t, []byte(r.body), "cong-khu-7")
	if cfg.Uplink.Broker != "mqtt://station.test:1883" || cfg.Gateway.Site != "khu-7" {
		t.Errorf("gateway.yaml: broker %q site %q", cfg.Uplink.Broker, cfg.Gateway.Site)
	}
	if len(pw) < 40 {
		t.Errorf("password of %d characters", len(pw))
	}
	h, ok := passwordOf(t, o.PasswdFile, "cong-khu-7")
	if !ok || !h.Verify(pw) {
		t.Fatal("the password file does not hold the hash of the downloaded password")
	}
	if b, _ := os.ReadFile(o.PasswdFile); bytes.Contains(b, []byte(pw)) {
		t.Fatal("the password is stored in clear")
	}
	acc, err := broker.LoadAccess(o.AccessFile)
	if err != nil || acc["cong-khu-7"] != (broker.Identity{Role: broker.RoleGateway, ID: "cong-khu-7"}) || acc["station"].Role != broker.RoleStation {
		t.Errorf("access file after enrolment: %v %v", acc, err)
	}
	if !fb.saw("rekey cong-khu-7") {
		t.Error("the broker was not told of the new credentials")
	}
	must(t, f.do(req{method: "POST", path: "/api/gateways", json: body, cookie: admin}), http.StatusConflict, "enrol twice")

	// The site directory: on disk in the format the console reads at start,
	// and at once on the pages.
	d, err := LoadDirectory(o.DirectoryFile)
	if err != nil || d["cong-khu-7"].SiteName != "Khu dân cư số 7" || d["cong-khu-3"].Name != "Cổng khu dân cư 3" {
		t.Errorf("directory after enrolment: %v %v", d, err)
	}
	sites := must(t, f.do(req{path: "/api/sites", cookie: admin}), http.StatusOK, "sites")
	if !strings.Contains(sites.body, `"name": "Cổng khu dân cư 7"`) || !strings.Contains(sites.body, `"site": "khu-7"`) {
		t.Errorf("the new gateway is not on /api/sites: %s", sites.body)
	}
	if es := f.entries(audit.GatewayAdd); len(es) != 1 || es[0].Actor != "an" || es[0].Gateway != "cong-khu-7" || es[0].Site != "khu-7" {
		t.Errorf("audit of the enrolment: %+v", es)
	}

	// Re-issue: a new password, the old one gone.
	must(t, f.do(req{method: "POST", path: "/api/gateways/cong-khu-7/credentials", cookie: officer}), http.StatusForbidden, "officer re-issues")
	r = must(t, f.do(req{method: "POST", path: "/api/gateways/cong-khu-7/credentials", cookie: admin}), http.StatusOK, "re-issue")
	_, pw2 := checkBundle(t, []byte(r.body), "cong-khu-7")
	h, _ = passwordOf(t, o.PasswdFile, "cong-khu-7")
	if pw2 == pw || !h.Verify(pw2) || h.Verify(pw) {
		t.Error("re-issuing did not replace the password")
	}
	if es := f.entries(GatewayCredentials); len(es) != 1 || es[0].Target != "cong-khu-7" || es[0].Site != "khu-7" {
		t.Errorf("audit of the re-issue: %+v", es)
	}
	must(t, f.do(req{method: "POST", path: "/api/gateways/nope-9/credentials", cookie: admin}), http.StatusNotFound, "re-issue unknown")

	// Remove: revoked, out of every file.
	must(t, f.do(req{method: "DELETE", path: "/api/gateways/cong-khu-7", cookie: officer}), http.StatusForbidden, "officer removes")
	must(t, f.do(req{method: "DELETE", path: "/api/gateways/cong-khu-7", cookie: admin}), http.StatusNoContent, "remove")
	if _, ok := passwordOf(t, o.PasswdFile, "cong-khu-7"); ok {
		t.Error("the removed gateway keeps its password")
	}
	if acc, _ := broker.LoadAccess(o.AccessFile); len(acc) != 1 {
		t.Errorf("access file after removal: %v", acc)
	}
	if b, _ := os.ReadFile(o.AccessFile); !strings.HasPrefix(string(b), "# who may connect\n") {
		t.Errorf("the access file lost its comment: %q", b)
	}
	if !fb.saw("revoke cong-khu-7") {
		t.Error("the broker was not told to revoke")
	}
	// Its directory entry stays, marked removed, naming its history.
	if d, _ := LoadDirectory(o.DirectoryFile); len(d) != 2 || !d["cong-khu-7"].Removed.Equal(f.clock()) {
		t.Errorf("directory after removal: %v", d)
	}
	if sites := f.do(req{path: "/api/sites", cookie: admin}); !strings.Contains(sites.body, `"removed": "2026-12-01T08:00:00Z"`) {
		t.Errorf("the removed gateway is not marked removed on /api/sites: %s", sites.body)
	}
	if es := f.entries(audit.GatewayDel); len(es) != 1 || !es[0].OK || es[0].Site != "khu-7" {
		t.Errorf("audit of the removal: %+v", es)
	}
	must(t, f.do(req{method: "DELETE", path: "/api/gateways/cong-khu-7", cookie: admin}), http.StatusNotFound, "remove twice")
	must(t, f.do(req{method: "DELETE", path: "/api/gateways/Bad_Id", cookie: admin}), http.StatusBadRequest, "remove a bad id")
}

// TestEnrolPageDownloadOnce: enrolling from the page's form offers the
// download once: the first POST of its form gets the zip, a second gets
// 410, and another admin's session never gets it.
func TestEnrolPageDownloadOnce(t *testing.T) {
	f, _, _ := enrolFixture(t)
	if err := f.db.Add("lan", accounts.Admin, accounts.Limits{}, testPassword); err != nil {
		t.Fatal(err)
	}
	admin, other := f.login("an"), f.login("lan")
	page := must(t, f.do(req{path: "/gateways", cookie: admin}), http.StatusOK, "enrolment page")
	for _, want := range []string{"Cổng khu dân cư 3", `action="/gateways"`, `name="kind"`, "mqtt://station.test:1883"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("enrolment page lacks %q", want)
		}
	}
	must(t, f.do(req{path: "/gateways", cookie: f.login("binh")}), http.StatusForbidden, "viewer opens the enrolment page")

	form := url.Values{"id": {"truong-mn-7"}, "name": {"Trường mầm non <b>7</b>"}, "site": {"chi-dam"}, "site_name": {"Xã Chí Đám"}, "kind": {"school"}}
	r := must(t, f.do(req{method: "POST", path: "/gateways", form: form, cookie: admin}), http.StatusSeeOther, "enrol from the page")
	loc, _ := url.Parse(r.header.Get("Location"))
	tok := loc.Query().Get("bundle")
	if loc.Path != "/gateways" || tok == "" || loc.Query().Get("gateway") != "truong-mn-7" {
		t.Fatalf("after enrolling: to %q", r.header.Get("Location"))
	}
	page = must(t, f.do(req{path: loc.RequestURI(), cookie: admin}), http.StatusOK, "page with the download")
	if !strings.Contains(page.body, `action="/gateways/truong-mn-7/download"`) || !strings.Contains(page.body, tok) {
		t.Fatalf("the page does not offer the download:\n%s", page.body)
	}
	if strings.Contains(page.body, "<b>7</b>") {
		t.Error("a gateway's name became markup")
	}
	if p := f.do(req{path: loc.RequestURI(), cookie: other}); strings.Contains(p.body, `name="token"`) {
		t.Error("another admin's page offers the download")
	}
	dl := url.Values{"token": {tok}}
	must(t, f.do(req{method: "POST", path: "/gateways/truong-mn-7/download", form: dl, cookie: other}), http.StatusGone, "another admin downloads")
	r = must(t, f.do(req{method: "POST", path: "/gateways/truong-mn-7/download", form: dl, cookie: admin}), http.StatusOK, "download")
	checkBundle(t, []byte(r.body), "truong-mn-7")
	again := must(t, f.do(req{method: "POST", path: "/gateways/truong-mn-7/download", form: dl, cookie: admin}), http.StatusGone, "download twice")
	if strings.Contains(again.body, "PK") || !strings.Contains(again.body, tr(LangVI, "enrol.gone")) {
		t.Errorf("second download: %.300s", again.body)
	}
	if p := f.do(req{path: loc.RequestURI(), cookie: admin}); strings.Contains(p.body, `/download"`) {
		t.Error("the page offers a download already taken")
	}

	// Re-issue from the page offers a new one; removing ends any download
	// still waiting.
	r = must(t, f.do(req{method: "POST", path: "/gateways/truong-mn-7/credentials", cookie: admin}), http.StatusSeeOther, "re-issue from the page")
	loc, _ = url.Parse(r.header.Get("Location"))
	must(t, f.do(req{method: "POST", path: "/gateways/truong-mn-7/remove", cookie: admin}), http.StatusSeeOther, "remove from the page")
	must(t, f.do(req{method: "POST", path: "/gateways/truong-mn-7/download", form: url.Values{"token": {loc.Query().Get("bundle")}}, cookie: admin}),
		http.StatusGone, "download of a removed gateway")
}

// TestEnrolOff: without an Enroller (an open or external broker) the
// page says how to turn enrolment on and the API answers 503.
func TestEnrolOff(t *testing.T) {
	f := newFixture(t)
	admin := f.login("an")
	page := must(t, f.do(req{path: "/gateways", cookie: admin}), http.StatusOK, "enrolment page")
	if !strings.Contains(page.body, "-passwd") {
		t.Errorf("the page does not say enrolment needs -passwd:\n%s", page.body)
	}
	r := must(t, f.do(req{method: "POST", path: "/api/gateways", json: `{"id":"cong-9","kind":"gate"}`, cookie: admin}), http.StatusServiceUnavailable, "enrol while off")
	if !strings.Contains(r.body, "-passwd") {
		t.Errorf("503 body: %s", r.body)
	}
	must(t, f.do(req{path: "/api/gateways", cookie: admin}), http.StatusServiceUnavailable, "list while off")
}

// TestEnrolGlossary: the enrolment page's terms are docs/glossary-vi.md's.
func TestEnrolGlossary(t *testing.T) {
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
		"enrol.add": "enrol a gateway", "enrol.reissue": "re-issue credentials",
		"enrol.remove": "revoke (a gateway, an API token)", "enrol.creds": "credentials (of a gateway)",
		"act.gateway_add": "enrol a gateway", "act.gateway_remove": "revoke (a gateway, an API token)",
		"users.revoked": "revoke (a gateway, an API token)",
		"gw.removed":    "removed (a gateway, its credentials revoked)", "gw.removedname": "removed (a gateway, its credentials revoked)",
	} {
		want := strings.ToLower(gloss[term])
		if got := strings.ToLower(catalogue[key].vi); want == "" || !strings.Contains(got, want) && !strings.Contains(want, got) {
			t.Errorf("%s is %q; the glossary's %q is %q", key, catalogue[key].vi, term, gloss[term])
		}
	}
}

// TestGatewayList: GET /api/gateways is the enrolment directory for
// admins only, with site, kind, enrolled time and whether the gateway
// holds credentials, limited to the admin's sites; removed gateways are
// listed, marked.
func TestGatewayList(t *testing.T) {
	f, _, _ := enrolFixture(t)
	admin := f.login("an")
	must(t, f.do(req{path: "/api/gateways"}), http.StatusUnauthorized, "list without login")
	must(t, f.do(req{path: "/api/gateways", cookie: f.login("tuan")}), http.StatusForbidden, "officer lists")
	must(t, f.do(req{path: "/api/gateways", cookie: f.login("binh")}), http.StatusForbidden, "viewer lists")
	must(t, f.do(req{method: "POST", path: "/api/gateways", json: `{"id":"truong-mn-7","name":"Trường mầm non 7","site":"chi-dam","kind":"school"}`, cookie: admin}), http.StatusCreated, "enrol")
	f.advance(time.Hour)
	must(t, f.do(req{method: "POST", path: "/api/gateways", json: `{"id":"cong-khu-8","site":"khu-8","kind":"gate"}`, cookie: admin}), http.StatusCreated, "enrol")
	f.advance(time.Hour)
	must(t, f.do(req{method: "DELETE", path: "/api/gateways/cong-khu-8", cookie: admin}), http.StatusNoContent, "remove")

	type listed struct {
		ID, Name, Site, Kind string
		Enrolled, Removed    time.Time
		Credentials          bool
		InDirectory          bool `json:"in_directory"`
	}
	got := decode[struct {
		Gateways []listed
		Broker   string
	}](t, must(t, f.do(req{path: "/api/gateways", cookie: admin}), http.StatusOK, "list"))
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	want := []listed{
		{ID: "truong-mn-7", Name: "Trường mầm non 7", Site: "chi-dam", Kind: "school", Enrolled: t0, Credentials: true, InDirectory: true},
		{ID: "cong-khu-3", Name: "Cổng khu dân cư 3", Site: "khu-3", Kind: "gate", InDirectory: true}, // written by hand
		{ID: "cong-khu-8", Site: "khu-8", Kind: "gate", Enrolled: t0.Add(time.Hour), Removed: t0.Add(2 * time.Hour), InDirectory: true},
	}
	if len(got.Gateways) != len(want) || got.Broker != "mqtt://station.test:1883" {
		t.Fatalf("list: %+v", got)
	}
	for i := range want {
		g, w := got.Gateways[i], want[i]
		if g.ID != w.ID || g.Name != w.Name || g.Site != w.Site || g.Kind != w.Kind || !g.Enrolled.Equal(w.Enrolled) ||
			!g.Removed.Equal(w.Removed) || g.Credentials != w.Credentials || g.InDirectory != w.InDirectory {
			t.Errorf("gateway %d: %+v, want %+v", i, g, w)
		}
	}
	if err := f.db.Add("hoa", accounts.Admin, accounts.Limits{Sites: []string{"khu-3"}}, testPassword); err != nil {
		t.Fatal(err)
	}
	mine := decode[struct{ Gateways []listed }](t, must(t, f.do(req{path: "/api/gateways", cookie: f.login("hoa")}), http.StatusOK, "limited list"))
	if len(mine.Gateways) != 1 || mine.Gateways[0].ID != "cong-khu-3" {
		t.Errorf("an admin limited to khu-3 lists %+v", mine.Gateways)
	}
	// The page shows the enrolled time and the removed one without its buttons.
	page := must(t, f.do(req{path: "/gateways", cookie: admin}), http.StatusOK, "enrolment page").body
	if !strings.Contains(page, tr(LangVI, "gw.removed")) || strings.Contains(page, `action="/gateways/cong-khu-8/remove"`) ||
		!strings.Contains(page, `action="/gateways/truong-mn-7/remove"`) || !strings.Contains(page, `datetime="`) {
		t.Errorf("enrolment page with a removed gateway:\n%s", page)
	}
}

// TestRemovedGatewayNoOfflineAlarm: the revocation's disconnect (the
// broker publishes the gateway's will, offline) raises no offline alarm,
// even long after the grace; an offline alarm waiting when the gateway is
// removed is closed with the reason, by the admin, in the audit log; the
// removed gateway's events stay listed under its name, marked removed.
// Enrolled again, an offline spell from before does not alarm either.
func TestRemovedGatewayNoOfflineAlarm(t *testing.T) {
	f, _, _ := enrolFixture(t)
	admin := f.login("an")
	offlineAlarms := func() map[string]string {
		t.Helper()
		admin = f.login("an") // a fresh session: the clock jumps by hours
		al := decode[struct{ Alarms []Alarm }](t, must(t, f.do(req{path: "/api/alarms", cookie: admin}), http.StatusOK, "alarms"))
		out := map[string]string{}
		for _, a := range al.Alarms {
			if !a.OfflineSince.IsZero() {
				out[a.Gateway] = a.Key
			}
		}
		return out
	}
	if _, ok := offlineAlarms()[gwSchool]; !ok {
		t.Fatal("the fixture's offline school raises no offline alarm: the test cannot tell")
	}
	for _, id := range []string{"cong-khu-7", "cong-khu-8"} {
		must(t, f.do(req{method: "POST", path: "/api/gateways", json: `{"id":"` + id + `","name":"Cổng ` + id + `","site":"chi-dam","kind":"gate"}`, cookie: admin}), http.StatusCreated, "enrol")
		f.st.SetStatus(id, wire.Status{Online: true, Boot: "b1"}, f.clock())
	}
	f.event("cong-khu-7", "motion", "pir-cong", nil)

	// cong-khu-7 is removed while online: the broker cuts it and its will
	// says offline.
	f.advance(time.Minute)
	must(t, f.do(req{method: "DELETE", path: "/api/gateways/cong-khu-7", cookie: admin}), http.StatusNoContent, "remove")
	f.st.SetStatus("cong-khu-7", wire.Status{Online: false, Boot: "b1"}, f.clock())
	// cong-khu-8 goes offline and its alarm waits for review.
	f.st.SetStatus("cong-khu-8", wire.Status{Online: false, Boot: "b1"}, f.clock())
	f.advance(DefaultOfflineGrace + time.Minute)
	al := offlineAlarms()
	if _, ok := al["cong-khu-7"]; ok {
		t.Error("a removed gateway raised an offline alarm")
	}
	key, ok := al["cong-khu-8"]
	if !ok {
		t.Fatalf("cong-khu-8 offline beyond the grace is no alarm: %v", al)
	}
	f.advance(10 * time.Hour)
	if _, ok := offlineAlarms()["cong-khu-7"]; ok {
		t.Error("a removed gateway raised an offline alarm hours later")
	}

	must(t, f.do(req{method: "DELETE", path: "/api/gateways/cong-khu-8", cookie: admin}), http.StatusNoContent, "remove the offline one")
	if _, ok := offlineAlarms()["cong-khu-8"]; ok {
		t.Error("the offline alarm of a removed gateway stays open")
	}
	acks, _ := f.st.Acks()
	if a, ok := acks[key]; !ok || a.User != "an" || a.Outcome != store.OutcomeHandled || !strings.Contains(a.Note, "an") || !strings.Contains(a.Note, "gỡ") {
		t.Errorf("closing of the offline alarm: %+v (found %v)", a, ok)
	}
	if es := f.entries("ack"); len(es) != 1 || es[0].Target != key || es[0].Actor != "an" {
		t.Errorf("audit of the closing: %+v", es)
	}

	// History: the events page names the removed gateway, marked.
	ev := must(t, f.do(req{path: "/events", cookie: admin}), http.StatusOK, "events").body
	if !strings.Contains(ev, htmlText("Cổng cong-khu-7 (đã gỡ)")) {
		t.Errorf("the removed gateway's event is not listed under its name, marked removed")
	}
	sites := must(t, f.do(req{path: "/sites", cookie: admin}), http.StatusOK, "sites").body
	if !strings.Contains(sites, `class="card gw removed" id="gw-cong-khu-7"`) {
		t.Errorf("the sites page does not show cong-khu-7 removed")
	}
	if strings.Contains(sites, `action="/gateways/cong-khu-7/command"`) || !strings.Contains(sites, `action="/gateways/cong-khu-3/command"`) {
		t.Errorf("the sites page offers commands to the removed gateway, or none to the enrolled one")
	}
	en := f.do(req{path: "/events", header: map[string]string{"Cookie": sessionCookie + "=" + f.login("an") + "; " + langCookie + "=en"}})
	if p := must(t, en, http.StatusOK, "events in English").body; !strings.Contains(p, "Cổng cong-khu-7 (removed)") {
		t.Errorf("the English events page does not mark the removed gateway")
	}

	// Enrolled again: its offline spell from before is not an alarm; a new
	// one is.
	must(t, f.do(req{method: "POST", path: "/api/gateways", json: `{"id":"cong-khu-7","site":"chi-dam","kind":"gate"}`, cookie: admin}), http.StatusCreated, "enrol again")
	f.advance(DefaultOfflineGrace + time.Minute)
	if _, ok := offlineAlarms()["cong-khu-7"]; ok {
		t.Error("the offline spell before the gateway was enrolled again raised an alarm")
	}
	f.st.SetStatus("cong-khu-7", wire.Status{Online: true, Boot: "b2"}, f.clock())
	f.st.SetStatus("cong-khu-7", wire.Status{Online: false, Boot: "b2"}, f.clock())
	f.advance(DefaultOfflineGrace + time.Minute)
	if _, ok := offlineAlarms()["cong-khu-7"]; !ok {
		t.Error("the gateway enrolled again going offline raised no alarm")
	}
}
