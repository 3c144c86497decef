package enrol

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/device/config"
)

type nopBroker struct{ rekeyErr error }

func (b nopBroker) Rekey(string) (int, error)  { return 0, b.rekeyErr }
func (b nopBroker) Revoke(string) (int, error) { return 0, nil }

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func testOptions(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	o := Options{PasswdFile: filepath.Join(dir, "passwd"), AccessFile: filepath.Join(dir, "access"),
		DirectoryFile: filepath.Join(dir, "gateways.json"), Broker: nopBroker{},
		BrokerURL: "mqtts://station.local:8883", CAFile: filepath.Join(dir, "ca.pem"), ServerName: "antt-station", Iterations: broker.MinIterations}
	for p, s := range map[string]string{
		o.PasswdFile: "# station users\n",
		o.AccessFile: "# roles\nstation ops\ngateway old-gw cong-khu-1\n",
		o.CAFile:     testCA,
	} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := broker.SetPassword(o.PasswdFile, "ops", "ops-secret", broker.MinIterations); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestBundleTLS: with an mqtts broker the download carries the CA and a
// gateway.yaml naming it; the yaml loads as check-config loads it.
func TestBundleTLS(t *testing.T) {
	o := testOptions(t)
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Add(Gateway{ID: "truong-thcs-chi-dam", Name: "Trường THCS Chí Đám", Site: "chi-dam", Kind: KindSchool})
	if err != nil {
		t.Fatal(err)
	}
	if string(b.Files[CAName]) != testCA {
		t.Errorf("ca.pem: %q", b.Files[CAName])
	}
	boot := t.TempDir()
	for n, data := range b.Files {
		p := filepath.Join(boot, n)
		_ = os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(boot, ConfigName), config.LookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.Files[ConfigName])
	}
	if !cfg.Uplink.TLS || cfg.Uplink.TLSFiles.CA != filepath.Join(boot, CAName) || cfg.Uplink.TLSFiles.ServerName != "antt-station" {
		t.Errorf("uplink TLS: %+v", cfg.Uplink)
	}
	if string(cfg.Uplink.Password)+"\n" != string(b.Files[PasswordName]) {
		t.Error("the yaml does not read the download's password")
	}
	// The hand-written lines stay; the new ones are added.
	acc, _ := os.ReadFile(o.AccessFile)
	if string(acc) != "# roles\nstation ops\ngateway old-gw cong-khu-1\ngateway truong-thcs-chi-dam\n" {
		t.Errorf("access file: %q", acc)
	}
	if _, err := e.Add(Gateway{ID: "cong-khu-1", Kind: KindGate}); err == nil || !strings.Contains(err.Error(), "user old-gw") {
		t.Errorf("enrolling an id the access file gives another user: %v", err)
	}
	// Removing the hand-made gateway takes every user of its id.
	if err := e.Remove("cong-khu-1"); err != nil {
		t.Fatal(err)
	}
	if acc, _ := os.ReadFile(o.AccessFile); strings.Contains(string(acc), "old-gw") {
		t.Errorf("access file after removing cong-khu-1: %q", acc)
	}
	if pw, _ := os.ReadFile(o.PasswdFile); !strings.HasPrefix(string(pw), "# station users\nops:") {
		t.Errorf("password file: %q", pw)
	}
}

// TestRekeyFailureRestores: when the broker refuses the new files, the
// password file is put back and the directory is not changed.
func TestRekeyFailureRestores(t *testing.T) {
	o := testOptions(t)
	o.Broker = nopBroker{rekeyErr: os.ErrInvalid}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(o.PasswdFile)
	accBefore, _ := os.ReadFile(o.AccessFile)
	if _, err := e.Add(Gateway{ID: "cong-khu-5", Kind: KindGate}); err == nil {
		t.Fatal("enrolled although the broker refused")
	}
	if after, _ := os.ReadFile(o.PasswdFile); string(after) != string(before) {
		t.Errorf("password file changed: %q", after)
	}
	if after, _ := os.ReadFile(o.AccessFile); string(after) != string(accBefore) {
		t.Errorf("access file changed: %q", after)
	}
	if len(e.Directory()) != 0 {
		t.Errorf("directory: %v", e.Directory())
	}
	if gs, err := loadDirectory(o.DirectoryFile); err != nil || len(gs) != 0 {
		t.Errorf("directory file: %v %v", gs, err)
	}
}

func TestNewErrors(t *testing.T) {
	o := testOptions(t)
	for _, c := range []struct {
		tweak func(*Options)
		want  string
	}{
		{func(o *Options) { o.PasswdFile = "" }, "-passwd"},
		{func(o *Options) { o.BrokerURL = "tcp://x:1" }, "want mqtt://HOST:PORT"},
		{func(o *Options) { o.BrokerURL = "mqtt://u:p@x:1" }, "want mqtt://HOST:PORT"},
		{func(o *Options) { o.CAFile = "" }, "needs the CA"},
		{func(o *Options) { o.CAFile = o.AccessFile }, "no PEM certificate"},
	} {
		oo := o
		c.tweak(&oo)
		if _, err := New(oo); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want %q", err, c.want)
		}
	}
}

func TestDefaultBrokerURL(t *testing.T) {
	if u := DefaultBrokerURL("127.0.0.1:1883", false); u != "mqtt://127.0.0.1:1883" {
		t.Error(u)
	}
	if u := DefaultBrokerURL("[::1]:8883", true); u != "mqtts://[::1]:8883" {
		t.Error(u)
	}
	if u := DefaultBrokerURL("0.0.0.0:8883", true); !strings.HasPrefix(u, "mqtts://") || strings.Contains(u, "0.0.0.0") {
		t.Error(u)
	}
}

// FuzzBundle: whatever an admin types (id, name, site, site name), an
// entry that passes the checks gives a gateway.yaml that the gateway's
// config reader accepts with that id and site, reading the download's
// password, and the entry round-trips through the directory file.
func FuzzBundle(f *testing.F) {
	f.Add("cong-khu-3", "Cổng khu dân cư 3", "chi-dam", "Xã Chí Đám")
	f.Add("a", "x # y: z\n", "", "")
	f.Add("b", "\u2028gateway: {id: evil}", "s", "\u0085")
	f.Add("c", `"}{'`, "s-1", "]: [")
	f.Fuzz(func(t *testing.T, id, name, site, siteName string) {
		g := Gateway{ID: id, Name: name, Site: site, SiteName: siteName, Kind: KindGate}
		if g.check() != nil || id == broker.StationUser {
			return
		}
		dir := t.TempDir()
		o := Options{PasswdFile: filepath.Join(dir, "passwd"), DirectoryFile: filepath.Join(dir, "gateways.json"),
			Broker: nopBroker{}, BrokerURL: "mqtt://station.local:1883", Iterations: broker.MinIterations}
		if err := os.WriteFile(o.PasswdFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Add(g)
		if err != nil {
			t.Fatalf("add %+v: %v", g, err)
		}
		read := func(p string) ([]byte, error) {
			if rel, err := filepath.Rel(dir, p); err == nil {
				if data, ok := b.Files[filepath.ToSlash(rel)]; ok {
					return data, nil
				}
			}
			return nil, os.ErrNotExist
		}
		cfg, err := config.Parse(b.Files[ConfigName], config.BaseDir(dir), config.ReadFile(read),
			config.LookupEnv(func(string) (string, bool) { return "", false }))
		if err != nil {
			t.Fatalf("%+v: %v\n%s", g, err, b.Files[ConfigName])
		}
		if cfg.Gateway.ID != id || cfg.Gateway.Site != site || string(cfg.Uplink.Password)+"\n" != string(b.Files[PasswordName]) {
			t.Fatalf("%+v: read back id %q site %q", g, cfg.Gateway.ID, cfg.Gateway.Site)
		}
		gs, err := loadDirectory(o.DirectoryFile)
		if len(gs) == 1 && !gs[0].Enrolled.IsZero() {
			g.Enrolled = gs[0].Enrolled
		}
		if err != nil || len(gs) != 1 || gs[0] != g {
			t.Fatalf("directory round trip: %+v %v", gs, err)
		}
	})
}

// TestRemoveKeepsEntry: a removed gateway loses its credentials but keeps
// its directory entry, marked removed, so its history keeps its name and
// site; it cannot be re-keyed or removed again, and enrolling its id again
// replaces the entry. The times survive the directory file.
func TestRemoveKeepsEntry(t *testing.T) {
	o := testOptions(t)
	now := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
	o.Now = func() time.Time { return now }
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g := Gateway{ID: "cong-khu-3", Name: "Cổng khu dân cư 3", Site: "chi-dam", Kind: KindGate}
	if _, err := e.Add(g); err != nil {
		t.Fatal(err)
	}
	enrolled := now
	now = now.Add(time.Hour)
	if err := e.Remove(g.ID); err != nil {
		t.Fatal(err)
	}
	d := e.Directory()
	if len(d) != 1 || d[0].Name != g.Name || d[0].Site != "chi-dam" || !d[0].Enrolled.Equal(enrolled) || !d[0].Removed.Equal(now) {
		t.Fatalf("directory after remove: %+v", d)
	}
	// ops is the password file's hand-made user (no site: listed first).
	if ls, err := e.List(); err != nil || len(ls) != 2 || ls[1].ID != g.ID || ls[1].Credentials || !ls[1].InDirectory || ls[1].Removed.IsZero() {
		t.Fatalf("list after remove: %+v %v", ls, err)
	}
	if has, _ := hasPassword(o.PasswdFile, g.ID); has {
		t.Error("the removed gateway still has a password")
	}
	if _, err := e.Reissue(g.ID); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "removed on 2026-12-01") {
		t.Errorf("re-issue of a removed gateway: %v", err)
	}
	if err := e.Remove(g.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing it again: %v", err)
	}
	// A fresh Enroller reads the same entry from the file.
	e2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if d2 := e2.Directory(); len(d2) != 1 || d2[0] != d[0] {
		t.Fatalf("directory read back: %+v, want %+v", d2, d[0])
	}
	now = now.Add(time.Hour)
	g.Name = "Cổng khu 3 (mới)"
	if _, err := e2.Add(g); err != nil {
		t.Fatalf("enrol the id again: %v", err)
	}
	if d := e2.Directory(); len(d) != 1 || d[0].Name != g.Name || !d[0].Removed.IsZero() || !d[0].Enrolled.Equal(now) {
		t.Fatalf("directory after enrolling again: %+v", d)
	}
}
