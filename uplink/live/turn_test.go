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
// secret), relaying from 127.0.0.1; it returns its turn: URL.
func startTURN(t *testing.T, secret string) string {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       "antt",
		AuthHandler: turn.LongTermTURNRESTAuthHandler(secret, nil),
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "turn:127.0.0.1:" + strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port) + "?transport=udp"
}

// Forced relay with per-session TURN REST credentials carried by the
// offer: the answer offers relay candidates only and the viewer plays
// through the relay; credentials that have expired are refused by the
// server, and the answer says that no relay candidate was gathered.
func TestLiveForcedRelayTURNREST(t *testing.T) {
	t.Parallel()
	const secret = "station-turn-secret"
	url := startTURN(t, secret)
	hub := startHub(t, "gate", digestCamera(t))
	m := startManager(t, Options{ForceRelay: true}, hub)

	user, pass, err := turn.GenerateLongTermTURNRESTCredentials(secret, "cong-khu-3", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v := &pionViewer{}
	v.depack = newDepack(v)
	pc, offer := makeOffer(t, viewerAPI(t))
	v.pc = pc
	v.readTracks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer,
		ICEServers: []ICEServer{{URLs: []string{url}, Username: user, Credential: pass}}})
	if err != nil {
		t.Fatal(err)
	}
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
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, v, 25)
	v.check(t, 320, 180)

	user, pass, err = turn.GenerateLongTermTURNRESTCredentials(secret, "cong-khu-3", -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, offer2 := makeOffer(t, viewerAPI(t))
	ans2, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer2,
		ICEServers: []ICEServer{{URLs: []string{url}, Username: user, Credential: pass}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ans2.SDP, "a=candidate:") || len(ans2.Warnings) == 0 || !strings.Contains(ans2.Warnings[0], "no relay candidate") {
		t.Errorf("expired credentials: warnings %q, answer:\n%s", ans2.Warnings, ans2.SDP)
	}
}

// startTURNS runs a pion TURN server over TLS on loopback (certificate
// for 127.0.0.1 from the test CA, which this process trusts as a system
// root) with TURN REST credentials; it returns its turns: URL.
func startTURNS(t *testing.T, secret string) string {
	t.Helper()
	cert := rtsptest.Issue(t, &testCA, false, "127.0.0.1")
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       "antt",
		AuthHandler: turn.LongTermTURNRESTAuthHandler(secret, nil),
		ListenerConfigs: []turn.ListenerConfig{{Listener: ln,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "turns:127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "?transport=tcp"
}

// TURN over TLS (what a 4G carrier that blocks UDP leaves): with forced
// relay and REST credentials for a turns: server, the gateway's relay
// candidate comes through the TLS connection and the viewer plays; the
// relayed pair is the one selected.
func TestLiveForcedRelayTURNOverTLS(t *testing.T) {
	t.Parallel()
	const secret = "station-turn-secret"
	url := startTURNS(t, secret)
	m := startManager(t, Options{ForceRelay: true}, fileHub(t, "gate"))
	user, pass, err := turn.GenerateLongTermTURNRESTCredentials(secret, "cong-khu-3", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v := &pionViewer{}
	v.depack = newDepack(v)
	pc, offer := makeOffer(t, viewerAPI(t))
	v.pc = pc
	v.readTracks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer,
		ICEServers: []ICEServer{{URLs: []string{url}, Username: user, Credential: pass}}})
	if err != nil {
		t.Fatal(err)
	}
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
