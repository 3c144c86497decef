package web

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/devtest"
)

// envNetnsTLS marks the copy of the test binary that runs inside the
// network namespace TestStartNonLoopbackTLS makes.
const envNetnsTLS = "ANTT_WEB_TEST_NETNS_TLS"

// netnsAddr is the non-loopback address the namespace's only interface
// (lo) gets: TEST-NET-1, reachable from nowhere but the namespace.
const netnsAddr = "192.0.2.10"

// TestStartNonLoopbackTLS: on a non-loopback address (a specific one, and
// all interfaces) and no certificate given, the console makes one in the
// data directory, prints its SHA-256 fingerprint, and serves only TLS with
// it: the certificate a browser is shown is the one whose fingerprint was
// printed, and it names the address; plain HTTP gets no page. The test
// runs in a network namespace of its own (unshare --net) whose loopback
// interface also holds 192.0.2.10, so no traffic leaves the machine.
func TestStartNonLoopbackTLS(t *testing.T) {
	if inside, _ := devtest.InNetns(t, envNetnsTLS, "ip link set lo up && ip addr add "+netnsAddr+"/32 dev lo", 60*time.Second); !inside {
		return
	}
	// Only in the namespace: there lo is the only interface, so listening
	// on every interface and dialling 192.0.2.10 stays on this machine.
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) != 1 || ifs[0].Flags&net.FlagLoopback == 0 {
		t.Fatalf("%s set outside a namespace holding only lo (interfaces %v, %v)", envNetnsTLS, ifs, err)
	}
	for _, listen := range []string{netnsAddr + ":0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) { startMadeCert(t, listen) })
	}
}

func startMadeCert(t *testing.T, listen string) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out devtest.Buffer
	stop, err := Start(t.Context(), &Config{Listen: listen}, dir, st, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m := regexp.MustCompile(`console listening on https://\S+:(\d+)`).FindStringSubmatch(out.String())
	fp := regexp.MustCompile(`console certificate \(made by the station\) SHA-256 fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})`).FindStringSubmatch(out.String())
	if m == nil || fp == nil {
		t.Fatalf("Start on %s printed %q; want https and the made certificate's fingerprint", listen, out.String())
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		t.Fatalf("no certificate made in the data directory: %v", err)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		t.Fatalf("%s holds no PEM", CertFile)
	}
	if got := fingerprint(blk.Bytes); got != fp[1] {
		t.Fatalf("printed fingerprint %s, the certificate's is %s", fp[1], got)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	url := "https://" + netnsAddr + ":" + m[1]
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	r, err := c.Get(url + "/login")
	if err != nil {
		t.Fatalf("GET %s/login with the made certificate trusted: %v", url, err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 ||
		fingerprint(r.TLS.PeerCertificates[0].Raw) != fp[1] || r.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET %s/login: %s, HSTS %q", url, r.Status, r.Header.Get("Strict-Transport-Security"))
	}
	plain := &http.Client{Timeout: 5 * time.Second}
	if r, err := plain.Get("http://" + netnsAddr + ":" + m[1] + "/login"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP on %s got the login page", listen)
		}
	}
}

// fingerprint is the form Start prints: SHA-256, upper-case hex pairs.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
