package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/reexec"
)

// built is the bin folder of buildBinaries, made once for the package's
// tests; TestMain removes it.
var built struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain runs the tests, then removes the binaries they shared.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildBinaries builds the station and the gateway into a temporary bin
// folder, as `make demo` builds them into bin/ (without -trimpath, so the
// build reuses the packages `go test` compiled). The package's tests
// share one build: one go command builds both, linking them at once; each
// test starts its own demo from them.
func buildBinaries(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "antt-demo-bin-"); built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", built.dir+string(filepath.Separator), "../station", "../gateway")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ../station ../gateway: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// waitFor polls cond until it holds or d passes; then it fails with why().
func waitFor(t *testing.T, d time.Duration, cond func() bool, why func() string) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", d, why())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mqttConnect sends one MQTT 3.1.1 CONNECT over conn (user "" sends none)
// and returns the CONNACK's return code, or an error when the broker
// closes the connection instead.
func mqttConnect(conn net.Conn, clientID, user, password string) (byte, error) {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	flags := byte(0x02) // clean session
	payload := str(clientID)
	if user != "" {
		flags |= 0xC0
		payload = append(append(payload, str(user)...), str(password)...)
	}
	body := append(append(str("MQTT"), 4, flags, 0, 30), payload...)
	if len(body) > 127 {
		return 0, errors.New("CONNECT too long for this test")
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		return 0, err
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return 0, err
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		return 0, fmt.Errorf("not a CONNACK: % x", ack)
	}
	return ack[3], nil
}

// TestDemoSecureByDefault starts the demo as `make demo` does (the real
// station and gateway binaries) and checks that it shows the product as
// shipped: the broker speaks only TLS and refuses a login without a
// password, a wrong password, and one gateway's password under another's
// name; each demo gateway was enrolled through the station's enrolment
// API with its own password (only its hash in the broker's password file)
// and its own access line, and connects with them: both show online on
// the console; and enrolment works from the console while the demo runs.
// It runs beside TestDemoChromium, each with its own demo: it mostly
// waits (on the offline grace's clock).
func TestDemoSecureByDefault(t *testing.T) {
	t.Parallel()
	bin := buildBinaries(t)
	clip, err := filepath.Abs(filepath.Join("..", "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	var out devtest.Buffer
	o := Options{Bin: bin, Data: filepath.Join(t.TempDir(), "demo-data"), Clip: clip, Out: &out,
		Exec: strings.Fields(os.Getenv(reexec.EnvExec)), OfflineGrace: 2 * time.Second}
	d, err := Start(t.Context(), o)
	if err != nil {
		t.Fatalf("start the demo: %v\n%s", err, out.String())
	}
	t.Cleanup(d.Stop)
	var printed bytes.Buffer
	d.Print(&printed)
	if !strings.Contains(printed.String(), "password "+d.Password) || !strings.Contains(printed.String(), d.WebURL+"/gateways") {
		t.Errorf("the demo does not print its login and the enrolment page:\n%s", printed.String())
	}

	// Both gateways online on the console: they logged in to the broker.
	c, err := login(d.WebURL, "demo", d.Password)
	if err != nil {
		t.Fatal(err)
	}
	online := map[string]bool{}
	deadline := 60 * time.Second
	if testing.Short() {
		deadline = 3 * time.Minute // qemu-user is slow
	}
	waitFor(t, deadline, func() bool {
		code, b, err := c.do("GET", "/api/sites", nil)
		if err != nil || code != http.StatusOK {
			return false
		}
		var sites struct {
			Gateways []struct {
				ID     string
				Online bool
			}
		}
		if json.Unmarshal(b, &sites) != nil {
			return false
		}
		for _, g := range sites.Gateways {
			online[g.ID] = g.Online
		}
		return online["cong-khu-3"] && online["truong-thcs-chi-dam"]
	}, func() string { return fmt.Sprintf("gateways online: %v\n%s", online, out.String()) })

	// Each gateway has its own credentials, made by enrolment.
	passwd, _ := os.ReadFile(filepath.Join(d.Data, "station", "passwd"))
	access, _ := os.ReadFile(filepath.Join(d.Data, "station", "access"))
	ca, _ := os.ReadFile(d.CAFile)
	pws := map[string]string{}
	for _, g := range d.Gateways {
		pw, err := os.ReadFile(filepath.Join(g.Boot, "secrets", "mqtt-password"))
		if err != nil {
			t.Fatal(err)
		}
		pws[g.ID] = strings.TrimSpace(string(pw))
		if len(pws[g.ID]) < 40 || bytes.Contains(passwd, []byte(pws[g.ID])) {
			t.Errorf("%s: password of %d characters, in clear in the password file: %v", g.ID, len(pws[g.ID]), bytes.Contains(passwd, []byte(pws[g.ID])))
		}
		if !bytes.Contains(passwd, []byte("\n"+g.ID+":pbkdf2-sha256$")) || !bytes.Contains(access, []byte("gateway "+g.ID+"\n")) {
			t.Errorf("%s: not in the password file and the access file:\n%s\n%s", g.ID, passwd, access)
		}
		if b, _ := os.ReadFile(filepath.Join(g.Boot, "secrets", "ca.pem")); !bytes.Equal(b, ca) {
			t.Errorf("%s: its download's CA is not the broker's certificate", g.ID)
		}
		cfg, _ := os.ReadFile(filepath.Join(g.Boot, "demo-gateway.yaml"))
		if !bytes.Contains(cfg, []byte("broker: "+d.BrokerURL+"\n")) {
			t.Errorf("%s: its config does not use the enrolled broker %s", g.ID, d.BrokerURL)
		}
		// As `make demo` runs it (TestDemoChromium shortens it).
		if !bytes.Contains(cfg, []byte("\n  telemetry_interval: 15s\n")) {
			t.Errorf("%s: its config does not send telemetry every 15 s:\n%s", g.ID, cfg)
		}
	}
	if pws["cong-khu-3"] == pws["truong-thcs-chi-dam"] {
		t.Error("the two gateways share a password")
	}

	// The broker: TLS only, no open login.
	addr := strings.TrimPrefix(d.BrokerURL, "mqtts://")
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("the broker's certificate does not parse")
	}
	// Every probe uses the gate's client id, so only the credentials differ.
	try := func(user, password string) (byte, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		return mqttConnect(conn, "cong-khu-3", user, password)
	}
	for _, c := range []struct{ what, user, password string }{
		{"an open login (no user, no password)", "", ""},
		{"a wrong password", "cong-khu-3", "not-the-password"},
		{"the school's password as the gate", "cong-khu-3", pws["truong-thcs-chi-dam"]},
		{"the station's user name", "station", pws["cong-khu-3"]},
	} {
		if rc, err := try(c.user, c.password); err == nil && rc == 0 {
			t.Errorf("the broker accepted %s", c.what)
		}
	}
	// The probe itself works: the gate's own password is accepted (its
	// session is taken over for a moment; the gateway reconnects).
	if rc, err := try("cong-khu-3", pws["cong-khu-3"]); err != nil || rc != 0 {
		t.Errorf("the gate's own credentials: CONNACK %d, %v", rc, err)
	}
	if conn, err := net.DialTimeout("tcp", addr, 10*time.Second); err == nil {
		rc, err := mqttConnect(conn, "demo-test-plain", "", "")
		conn.Close()
		if err == nil {
			t.Errorf("the broker answered MQTT without TLS (CONNACK %d)", rc)
		}
	}

	// Enrolment from the console works in the demo.
	code, page, err := c.do("GET", "/gateways", nil)
	if err != nil || code != http.StatusOK || !bytes.Contains(page, []byte(d.BrokerURL)) || !bytes.Contains(page, []byte(`action="/gateways/cong-khu-3/remove"`)) {
		t.Errorf("the enrolment page: %d %v\n%.2000s", code, err, page)
	}
	code, b, err := c.do("POST", "/api/gateways", []byte(`{"id":"cong-khu-5","name":"Cổng khu dân cư 5","site":"chi-dam","kind":"gate"}`))
	if err != nil || code != http.StatusCreated || !bytes.HasPrefix(b, []byte("PK")) {
		t.Errorf("enrol a third gateway in the demo: %d %v %.300s", code, err, b)
	}
	code, b, err = c.do("GET", "/api/gateways", nil)
	var list struct {
		Gateways []struct {
			ID          string
			Credentials bool
			Enrolled    time.Time
		}
	}
	if err != nil || code != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list.Gateways) != 3 {
		t.Fatalf("GET /api/gateways: %d %v %s", code, err, b)
	}
	for _, g := range list.Gateways {
		if !g.Credentials || g.Enrolled.IsZero() {
			t.Errorf("listed %+v: want credentials and an enrolled time", g)
		}
	}

	// The school removed: the broker cuts it and publishes its will, yet
	// no offline alarm follows, long after the grace; its history stays,
	// under its name, marked removed.
	const school = "truong-thcs-chi-dam"
	if code, b, err := c.do("DELETE", "/api/gateways/"+school, nil); err != nil || code != http.StatusNoContent {
		t.Fatalf("remove the school: %d %v %s", code, err, b)
	}
	var gw struct {
		Online       bool
		Removed      time.Time
		OfflineSince time.Time `json:"offline_since"`
	}
	waitFor(t, 30*time.Second, func() bool {
		code, b, err := c.do("GET", "/api/gateways/"+school, nil)
		return err == nil && code == http.StatusOK && json.Unmarshal(b, &gw) == nil && !gw.Online && !gw.OfflineSince.IsZero()
	}, func() string { return fmt.Sprintf("the removed school is not offline: %+v", gw) })
	if gw.Removed.IsZero() {
		t.Errorf("the removed school is not marked removed: %+v", gw)
	}
	// The condition is the clock: three graces past its offline status.
	waitFor(t, time.Minute, func() bool { return time.Since(gw.OfflineSince) > 3*o.OfflineGrace }, func() string { return "the clock" })
	_, b, _ = c.do("GET", "/api/alarms", nil)
	if bytes.Contains(b, []byte(`"offline/`+school+`/`)) {
		t.Errorf("the removed school raised an offline alarm:\n%s", b)
	}
	_, page, _ = c.do("GET", "/events?gateway="+school, nil)
	if !bytes.Contains(page, []byte("Trường THCS Chí Đám (đã gỡ)")) {
		t.Errorf("the removed school's history is not listed under its name, marked removed:\n%.3000s", page)
	}
}
