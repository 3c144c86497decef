package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/devtest"
)

// Start serves the console on loopback over the network; a port already
// taken leaves the station running without it; a given certificate turns
// TLS on, with its fingerprint printed.
func TestStart(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)

	var out devtest.Buffer
	stop, err := Start(ctx, &Config{Listen: "127.0.0.1:0"}, dir, st, log, &out)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`console listening on http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("Start printed %q", out.String())
	}
	if !regexp.MustCompile(`no accounts yet; make an admin with: station user add`).MatchString(out.String()) {
		t.Errorf("no hint about the first admin: %q", out.String())
	}
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get("http://" + m[1] + "/api/me")
	if err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /api/me: %v %v", r, err)
	}
	r.Body.Close()

	var out2 devtest.Buffer
	stop2, err := Start(ctx, &Config{Listen: m[1]}, dir, st, log, &out2)
	if err != nil {
		t.Fatalf("a taken port stopped the station: %v", err)
	}
	stop2()
	if !regexp.MustCompile(`console not started: listen tcp 127.0.0.1:[0-9]+: bind: address already in use`).MatchString(out2.String()) {
		t.Errorf("taken port: %q", out2.String())
	}
	stop()
	if _, err := c.Get("http://" + m[1] + "/login"); err == nil {
		t.Error("console still answers after stop")
	}
	for _, bad := range []*Config{{Listen: "nonsense"}, {Listen: "127.0.0.1:0", CertFile: "x"}} {
		if _, err := Start(ctx, bad, dir, st, log, &out); err == nil {
			t.Errorf("Start(%+v) took a bad flag", bad)
		}
	}

	// TLS with a given certificate, on loopback.
	certDir := t.TempDir()
	cf, kf := filepath.Join(certDir, "c.pem"), filepath.Join(certDir, "k.pem")
	if err := makeCert(cf, kf, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	var out3 devtest.Buffer
	stop3, err := Start(ctx, &Config{Listen: "127.0.0.1:0", CertFile: cf, KeyFile: kf}, dir, st, log, &out3)
	if err != nil {
		t.Fatal(err)
	}
	defer stop3()
	m = regexp.MustCompile(`console listening on https://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out3.String())
	if m == nil || !regexp.MustCompile(`certificate \(given\) SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}`).MatchString(out3.String()) {
		t.Fatalf("TLS start printed %q", out3.String())
	}
	pemBytes, _ := os.ReadFile(cf)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	tc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	r, err = tc.Get("https://" + m[1] + "/login")
	if err != nil || r.StatusCode != http.StatusOK || r.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET https /login: %v %v", r, err)
	}
	r.Body.Close()
}
