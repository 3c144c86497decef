package live

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
)

// startTURN runs a pion TURN server on loopback that takes TURN REST
// credentials (username "expiry:user", password the HMAC-SHA1 of it with
// secret), relaying from 127.0.0.1; it returns its turn: URL. With
// overTLS it listens for TLS instead of UDP (certificate for 127.0.0.1
// from the test CA, which this process trusts as a system root) and
// returns its turns: URL.
func startTURN(t *testing.T, secret string, overTLS bool) string {
	t.Helper()
	relay := &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}
	cfg := turn.ServerConfig{Realm: "antt", AuthHandler: turn.LongTermTURNRESTAuthHandler(secret, nil)}
	var url string
	if overTLS {
		cert := rtsptest.Issue(t, &testCA, false, "127.0.0.1")
		ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		cfg.ListenerConfigs = []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: relay}}
		url = "turns:127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "?transport=tcp"
	} else {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg.PacketConnConfigs = []turn.PacketConnConfig{{PacketConn: conn, RelayAddressGenerator: relay}}
		url = "turn:127.0.0.1:" + strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port) + "?transport=udp"
	}
	srv, err := turn.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return url
}

// offerThroughTURN offers a new pion viewer to m for camera "gate" with
// TURN REST credentials for the server at url, made from secret and valid
// for ttl (already expired when ttl is negative).
func offerThroughTURN(t *testing.T, m *Manager, url, secret string, ttl time.Duration) (*pionViewer, *Answer) {
	t.Helper()
	user, pass, err := turn.GenerateLongTermTURNRESTCredentials(secret, "cong-khu-3", ttl)
	if err != nil {
		t.Fatal(err)
	}
	v, offer := newPionViewer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer,
		ICEServers: []ICEServer{{URLs: []string{url}, Username: user, Credential: pass}}})
	if err != nil {
		t.Fatal(err)
	}
	return v, ans
}

// Forced relay with per-session TURN REST credentials carried by the
// offer: the answer offers relay candidates only and the viewer plays
// through the relay; credentials that have expired are refused by the
// server, and the answer says that no relay candidate was gathered.
func TestLiveForcedRelayTURNREST(t *testing.T) {
	t.Parallel()
	const secret = "station-turn-secret"
	url := startTURN(t, secret, false)
	hub := startHub(t, "gate", digestCamera(t))
	m := startManager(t, Options{ForceRelay: true}, hub)

	v, ans := offerThroughTURN(t, m, url, secret, 10*time.Minute)
	if len(ans.Warnings) != 0 {
		t.Errorf("warnings %q", ans.Warnings)
	}
	n := 0
	for _, l := range strings.Split(ans.SDP, "\r\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			n++
			if !strings.Contains(l, " typ relay ") || !strings.Contains(l, " 127.0.0.1 ") {
				t.Errorf("forced relay, yet the answer offers %q", l)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no relay candidate in the answer:\n%s", ans.SDP)
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, v, 25)
	v.check(t, 320, 180)

	_, ans2 := offerThroughTURN(t, m, url, secret, -time.Minute)
	if strings.Contains(ans2.SDP, "a=candidate:") || len(ans2.Warnings) == 0 || !strings.Contains(ans2.Warnings[0], "no relay candidate") {
		t.Errorf("expired credentials: warnings %q, answer:\n%s", ans2.Warnings, ans2.SDP)
	}
}

// TURN over TLS (what a 4G carrier that blocks UDP leaves): with forced
// relay and REST credentials for a turns: server, the gateway's relay
// candidate comes through the TLS connection and the viewer plays; the
// relayed pair is the one selected.
func TestLiveForcedRelayTURNOverTLS(t *testing.T) {
	t.Parallel()
	const secret = "station-turn-secret"
	url := startTURN(t, secret, true)
	m := startManager(t, Options{ForceRelay: true}, fileHub(t, "gate"))
	v, ans := offerThroughTURN(t, m, url, secret, 10*time.Minute)
	pc := v.pc
	relays := 0
	for _, c := range candidates(ans.SDP) {
		if len(c) < 8 || c[7] != "relay" || c[4] != "127.0.0.1" {
			t.Errorf("forced relay over TLS, yet the answer offers %v", c)
		}
		relays++
	}
	if relays == 0 || len(ans.Warnings) != 0 {
		t.Fatalf("no relay candidate through %s (warnings %q):\n%s", url, ans.Warnings, ans.SDP)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, v, 25)
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
		t.Errorf("selected pair %v (%v), want the gateway's relay candidate", pair, err)
	}
}
