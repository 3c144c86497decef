package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/cmd/station/internal/turn"
	"github.com/antt-gateway/antt/device/devtest"
)

// envNetnsTURN marks the copy of the test binary that runs inside the
// network namespace TestTURNOnByDefault makes.
const envNetnsTURN = "ANTT_STATION_TEST_NETNS_TURN"

// linkICE is one Link: <url>; rel="ice-server"; username=…; credential=…
// header of a live offer's answer.
var linkICE = regexp.MustCompile(`^<([^>]+)>; rel="ice-server"; username="([^"]+)"; credential="([^"]+)"; credential-type="password"$`)

// TURN is on by default: the real station started with no -turn flags
// runs its TURN server on the fixed default ports, UDP 3478 and TLS 5349
// (on the broker's listen host), and a live offer to a real gateway's
// camera is answered with TURN credentials for the officer on both, which
// that server takes: a relay is allocated over UDP and over TLS (the
// station's own certificate, made in the data directory). The test runs
// in a network namespace of its own (unshare --net, only lo in it), so the
// fixed ports collide with nothing on the machine.
func TestTURNOnByDefault(t *testing.T) {
	if inside, out := devtest.InNetns(t, envNetnsTURN, "ip link set lo up", 3*time.Minute, "-test.timeout=170s"); !inside {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "turn_default_test.go") || strings.Contains(l, "--- ") {
				t.Log("in the namespace:", strings.TrimSpace(l))
			}
		}
		return
	}
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) != 1 || ifs[0].Flags&net.FlagLoopback == 0 {
		t.Fatalf("%s set outside a namespace holding only lo (interfaces %v, %v)", envNetnsTURN, ifs, err)
	}
	data := t.TempDir()
	s := startConsoleStation(t, data) // -listen 127.0.0.1:0, and no -turn flags
	want := "station: TURN listening on udp 127.0.0.1:3478, tls 127.0.0.1:5349"
	devtest.WaitFor(t, 10*time.Second, want, func() bool { return strings.Contains(s.stderr.String(), want) })
	if strings.Contains(s.stderr.String(), "WARNING: TURN") {
		t.Errorf("a warning about TURN in a namespace with nothing else:\n%s", e2eTail(s.stderr))
	}

	const gw, cam = "cong-khu-3", "cam-cong"
	startLiveGateway(t, s, gw, "  - {name: pir, kind: motion, driver: sim, every: 1h}\n",
		"  - {name: "+cam+", url: \"file://"+liveClip(t)+"\", preload: true}\n")
	devtest.WaitFor(t, 30*time.Second, "gateway online with its camera", func() bool {
		var g struct {
			Online  bool              `json:"online"`
			Cameras map[string]string `json:"cameras"`
		}
		s.tryAPI(t, "GET", "/api/gateways/"+gw, &g)
		return g.Online && g.Cameras[cam] != ""
	})

	// The officer's side: a real WebRTC offer (pion's, as a browser's).
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	rq, _ := http.NewRequest("POST", "http://"+s.http+"/api/gateways/"+gw+"/cameras/"+cam+"/live?quality=low", strings.NewReader(offer.SDP))
	rq.Header.Set("Cookie", s.cookie)
	rq.Header.Set("Content-Type", "application/sdp")
	r, err := s.client.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusCreated || !strings.HasPrefix(string(body), "v=0") {
		t.Fatalf("live offer: %s %.300s\nstation:\n%s", r.Status, body, e2eTail(s.stderr))
	}
	defer func() {
		rq, _ := http.NewRequest("DELETE", "http://"+s.http+r.Header.Get("Location"), nil)
		rq.Header.Set("Cookie", s.cookie)
		if r, err := s.client.Do(rq); err == nil {
			r.Body.Close()
		}
	}()
	creds := map[string][2]string{} // url → username, credential
	for _, l := range r.Header.Values("Link") {
		m := linkICE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("Link %q: not an ice-server with a credential", l)
		}
		creds[m[1]] = [2]string{m[2], m[3]}
	}
	udpURL, tlsURL := "turn:127.0.0.1:3478?transport=udp", "turns:127.0.0.1:5349?transport=tcp"
	if len(creds) != 2 || creds[udpURL][0] == "" || creds[tlsURL][0] == "" {
		t.Fatalf("the offer's ICE servers %v, want %s and %s with credentials", r.Header.Values("Link"), udpURL, tlsURL)
	}
	for _, c := range creds {
		if !strings.HasSuffix(c[0], ":viewer_an") {
			t.Errorf("TURN user name %q: not the officer's (…:viewer_an)", c[0])
		}
	}

	// The credentials work on the default ports.
	t.Run("udp", func(t *testing.T) {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		allocateTURN(t, "127.0.0.1:3478", conn, creds[udpURL])
	})
	t.Run("tls", func(t *testing.T) {
		pemCert, err := os.ReadFile(filepath.Join(data, turnCertFile))
		if err != nil {
			t.Fatal("the station's TURN certificate:", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCert) {
			t.Fatalf("%s: no certificate in it", turnCertFile)
		}
		conn, err := tls.Dial("tcp", "127.0.0.1:5349", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		allocateTURN(t, "127.0.0.1:5349", pionturn.NewSTUNConn(conn), creds[tlsURL])
	})
}

// allocateTURN asks the TURN server at addr, over conn, for a UDP relay
// with the credential cred (user name, password).
func allocateTURN(t *testing.T, addr string, conn net.PacketConn, cred [2]string) {
	t.Helper()
	c, err := pionturn.NewClient(&pionturn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: cred[0], Password: cred[1], Realm: turn.DefaultRealm})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocation on %s: %v", addr, err)
	}
	defer relay.Close()
	t.Logf("relay %v allocated through %s", relay.LocalAddr(), addr)
}
