package main

import (
	"archive/zip"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// selfSigned writes a self-signed broker certificate for 127.0.0.1 and
// its key into dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ANTT test station"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(k)
	cert, key = filepath.Join(dir, "broker.pem"), filepath.Join(dir, "broker.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// consoleClient talks to a station's console as one logged-in account.
type consoleClient struct {
	t      *testing.T
	base   string
	cookie string
}

var noRedirect = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func consoleLogin(t *testing.T, base, user, password string) *consoleClient {
	t.Helper()
	resp, err := noRedirect.PostForm(base+"/login", url.Values{"user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "session") {
			// Set by hand: a cookie jar keeps Secure cookies to https.
			return &consoleClient{t: t, base: base, cookie: c.Name + "=" + c.Value}
		}
	}
	t.Fatalf("login %s: %s, no session cookie", user, resp.Status)
	return nil
}

func (c *consoleClient) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Cookie", c.cookie)
	resp, err := noRedirect.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// unpackBoot unpacks an enrolment download as onto the SD card's boot
// partition and returns that directory.
func unpackBoot(t *testing.T, b []byte) (string, map[string]string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the download is not a zip: %v", err)
	}
	boot := filepath.Join(t.TempDir(), "ANTT-BOOT")
	files := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		files[f.Name] = string(data)
		p := filepath.Join(boot, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return boot, files
}

// TestEnrolEndToEnd: an admin enrols a gateway over the real station's
// API (embedded broker with TLS, password and access files); the download
// passes `gateway check-config` and the real gateway, started with it
// unchanged but for the board-only lines (data directory, API port, a
// simulated sensor for the GPIO one, no watchdog, a camera), connects over
// mqtts and its walk test is stored. Its camera going offline is an alarm
// to review; the gateway killed is one after the grace. Removing it
// disconnects it at once and it cannot log in again.
func TestEnrolEndToEnd(t *testing.T) {
	t.Parallel()
	stationBin, gatewayBin := binaries(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "station")
	cert, key := selfSigned(t, dir)
	passwd, access := filepath.Join(dir, "passwd"), filepath.Join(dir, "access")
	if err := os.WriteFile(passwd, []byte("# written by enrolment\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(access, []byte("# gateways enrolled from the page\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const adminPW = "mật-khẩu-quản-trị-thử"
	add := binCommand(t.Context(), stationBin, "user", "add", "-data", data, "-role", "admin", "an")
	add.Stdin = strings.NewReader(adminPW + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("station user add: %v\n%s", err, out)
	}
	httpAddr := devtest.FreeAddr(t)
	st := startProc(t, "station", nil, stationBin, "run", "-data", data, "-listen", "127.0.0.1:0",
		"-tls-cert", cert, "-tls-key", key, "-passwd", passwd, "-access", access,
		"-http", httpAddr, "-offline-grace", "1s")
	brokerURL := st.stderr.WaitMatch(t, 30*time.Second, regexp.MustCompile(`station: enrolment gives gateways broker (\S+)`))
	st.stderr.WaitContains(t, 30*time.Second, "station: console listening on")
	if !strings.HasPrefix(brokerURL, "mqtts://127.0.0.1:") {
		t.Fatalf("enrolment's broker URL %q, want mqtts://127.0.0.1:PORT", brokerURL)
	}
	c := consoleLogin(t, "http://"+httpAddr, "an", adminPW)

	const id = "cong-khu-9"
	code, body := c.do("POST", "/api/gateways", `{"id":"`+id+`","name":"Cổng khu dân cư 9","site":"chi-dam","site_name":"Xã Chí Đám","kind":"gate"}`)
	if code != http.StatusCreated {
		t.Fatalf("enrol: %d %s", code, body)
	}
	boot, files := unpackBoot(t, body)
	if files["secrets/ca.pem"] == "" || files["secrets/mqtt-password"] == "" {
		t.Fatalf("the download lacks its secret files: %v", keys(files))
	}
	if pem, _ := os.ReadFile(cert); files["secrets/ca.pem"] != string(pem) {
		t.Error("secrets/ca.pem is not the broker's certificate")
	}
	if b, _ := os.ReadFile(passwd); strings.Contains(string(b), strings.TrimSpace(files["secrets/mqtt-password"])) {
		t.Fatal("the station keeps the password in clear")
	}
	yamlPath := filepath.Join(boot, "gateway.yaml")
	check := binCommand(t.Context(), gatewayBin, "check-config", yamlPath)
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), ": ok") {
		t.Fatalf("gateway check-config on the download: %v\n%s\n%s", err, out, files["gateway.yaml"])
	}

	// The board-only lines, as an installer's board would have them here.
	api := devtest.FreeAddr(t)
	y := files["gateway.yaml"]
	uplinkBefore := section(y, "uplink:")
	for _, r := range []struct{ old, new string }{
		{"data_dir: /data/gateway", "data_dir: " + filepath.Join(dir, "gw-data")},
		{"listen: 127.0.0.1:8080", "listen: " + api},
		{"driver: gpio, pin: GPIO17, active: high, pull: down, debounce: 50ms, hold: 10s", "driver: sim, every: 1h"},
		{"watchdog:\n  device: /dev/watchdog\n  timeout: 15s\n", "cameras:\n  - {name: cam-cong, url: \"file:///nonexistent/clip.h264\", offline_after: 1s}\n"},
	} {
		if !strings.Contains(y, r.old) {
			t.Fatalf("gateway.yaml has no %q:\n%s", r.old, y)
		}
		y = strings.Replace(y, r.old, r.new, 1)
	}
	if section(y, "uplink:") != uplinkBefore {
		t.Fatal("the test changed the uplink section")
	}
	if err := os.WriteFile(yamlPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startBinGateway(t, yamlPath, api)
	devtest.WaitFor(t, 30*time.Second, "the enrolled gateway connected over mqtts", func() bool { return gw.status(t).Uplink.Connected })
	seq := gw.walk(t, "cong-pir")
	devtest.WaitFor(t, 15*time.Second, "the walk test stored and on /api/events", func() bool {
		_, b := c.do("GET", "/api/events?gateway="+id, "")
		var page struct {
			Items []struct {
				Event *wire.Event `json:"event"`
			} `json:"items"`
		}
		_ = json.Unmarshal(b, &page)
		for _, it := range page.Items {
			if it.Event != nil && it.Event.Seq == seq && it.Event.Test {
				return true
			}
		}
		return false
	})
	if _, b := c.do("GET", "/api/gateways/"+id, ""); !strings.Contains(string(b), "Cổng khu dân cư 9") {
		t.Errorf("the enrolled gateway's name is not on the console: %s", b)
	}

	// Item 4: a camera offline, then the gateway offline, are alarms.
	alarms := func() string { _, b := c.do("GET", "/api/alarms", ""); return string(b) }
	devtest.WaitFor(t, 20*time.Second, "the camera_offline alarm", func() bool {
		var a struct {
			Alarms []struct {
				Gateway string `json:"gateway"`
				Item    *struct {
					Event *wire.Event `json:"event"`
				} `json:"item"`
			} `json:"alarms"`
		}
		_ = json.Unmarshal([]byte(alarms()), &a)
		for _, x := range a.Alarms {
			if x.Gateway == id && x.Item != nil && x.Item.Event != nil && x.Item.Event.Kind == wire.KindCameraOffline {
				return true
			}
		}
		return false
	})
	gw.kill()
	devtest.WaitFor(t, 20*time.Second, "the gateway-offline alarm after the grace", func() bool {
		return strings.Contains(alarms(), `"key": "offline/`+id+`/`)
	})

	// Back; its credentials re-issued: the old password is cut off at
	// once, the new download's password works.
	gw = startBinGateway(t, yamlPath, api)
	devtest.WaitFor(t, 30*time.Second, "the gateway reconnected", func() bool { return gw.status(t).Uplink.Connected })
	code, body = c.do("POST", "/api/gateways/"+id+"/credentials", "")
	if code != http.StatusOK {
		t.Fatalf("re-issue: %d %s", code, body)
	}
	devtest.WaitFor(t, 3*time.Second, "the old password's session cut off", func() bool { return !gw.status(t).Uplink.Connected })
	_, again := unpackBoot(t, body)
	if again["secrets/mqtt-password"] == files["secrets/mqtt-password"] {
		t.Fatal("re-issuing gave the same password")
	}
	gw.kill()
	if err := os.WriteFile(filepath.Join(boot, "secrets", "mqtt-password"), []byte(again["secrets/mqtt-password"]), 0o600); err != nil {
		t.Fatal(err)
	}
	gw = startBinGateway(t, yamlPath, api)
	devtest.WaitFor(t, 30*time.Second, "the gateway connected with the new password", func() bool { return gw.status(t).Uplink.Connected })

	// Removed: cut off at once, refused when it tries again.
	start := time.Now()
	if code, b := c.do("DELETE", "/api/gateways/"+id, ""); code != http.StatusNoContent {
		t.Fatalf("remove: %d %s", code, b)
	}
	devtest.WaitFor(t, 3*time.Second, "the revoked gateway disconnected", func() bool { return !gw.status(t).Uplink.Connected })
	t.Logf("revoked gateway disconnected %v after DELETE was sent", time.Since(start).Round(time.Millisecond))
	st.stderr.WaitContains(t, 10*time.Second, "its credentials were revoked")
	devtest.WaitFor(t, 60*time.Second, "the revoked gateway's next login refused", func() bool {
		for l := range strings.Lines(st.stderr.String()) {
			if strings.Contains(l, "connection refused") && strings.Contains(l, "bad user name or password") && strings.Contains(l, "user="+id) {
				return true
			}
		}
		return false
	})
	if s := gw.status(t); s.Uplink.Connected {
		t.Fatalf("the revoked gateway is connected again: %+v", s.Uplink)
	}
	_, b := c.do("GET", "/api/audit", "")
	for _, want := range []string{`"action": "gateway_add"`, `"action": "gateway_credentials"`, `"action": "gateway_remove"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("audit log lacks %s", want)
		}
	}
}

// section returns the lines of yaml from the line header to the next
// top-level key.
func section(yaml, header string) string {
	i := strings.Index(yaml, "\n"+header)
	if i < 0 {
		return ""
	}
	rest := yaml[i+1:]
	for j := 1; j < len(rest); j++ {
		if rest[j-1] == '\n' && rest[j] != ' ' && rest[j] != '\n' && rest[j] != '#' {
			return rest[:j]
		}
	}
	return rest
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
