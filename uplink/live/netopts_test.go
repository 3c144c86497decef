package live

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/uplink/live/livetest"
)

// WHEP serves loopback clients as before; any other client needs the
// bearer token, and is refused outright when none is configured.
func TestLiveWHEPToken(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		token, remote, auth string
		want                int
	}{
		{"", "127.0.0.1:5000", "", http.StatusNoContent},
		{"", "[::1]:5000", "", http.StatusNoContent},
		{"", "192.0.2.7:5000", "", http.StatusForbidden},
		{"", "192.0.2.7:5000", "Bearer " + token, http.StatusForbidden},
		{token, "192.0.2.7:5000", "", http.StatusUnauthorized},
		{token, "192.0.2.7:5000", "Bearer wrong", http.StatusUnauthorized},
		{token, "192.0.2.7:5000", "Basic " + token, http.StatusUnauthorized},
		{token, "192.0.2.7:5000", "Bearer " + token, http.StatusNoContent},
	} {
		m := startManager(t, Options{WHEPToken: c.token}, fileHub(t, "gate"))
		mux := http.NewServeMux()
		m.RegisterWHEP(mux)
		req := httptest.NewRequest(http.MethodOptions, "/api/cameras/gate/whep", nil)
		req.RemoteAddr = c.remote
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("token %q, client %s, %q: %d %s, want %d", c.token, c.remote, c.auth, rec.Code, rec.Body, c.want)
		}
		if rec.Code == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
}

// A camera's own max_viewers bounds it below the per-camera default; the
// 1:1 NAT rule puts the external address in the answer in place of the
// local one.
func TestLiveCameraLimitAndNAT(t *testing.T) {
	t.Parallel()
	m := startManager(t, Options{CameraMaxViewers: func(string) int { return 1 },
		NAT1To1: []NAT1To1{{External: "203.0.113.7", Local: "127.0.0.1", As: "host"}}}, fileHub(t, "gate"))
	_, offer := makeOffer(t, viewerAPI(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ans.SDP, " 203.0.113.7 ") || strings.Contains(ans.SDP, " 127.0.0.1 ") {
		t.Errorf("answer: want 127.0.0.1 rewritten to the NAT's 203.0.113.7:\n%s", ans.SDP)
	}
	_, offer2 := makeOffer(t, viewerAPI(t))
	_, err = m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer2})
	if !errors.Is(err, ErrTooManyViewers) || !strings.Contains(err.Error(), "camera gate serves at most 1 viewers") {
		t.Errorf("second viewer of a camera limited to 1: %v", err)
	}
	if _, err := New(Options{Cameras: m.opts.Cameras, NAT1To1: []NAT1To1{{External: "nat.example"}}}); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("bad NAT rule: %v", err)
	}
}

// candidates returns the a=candidate lines of sdp as their fields.
func candidates(sdp string) [][]string {
	var out [][]string
	for _, line := range strings.Split(sdp, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:"); ok {
			out = append(out, strings.Fields(c))
		}
	}
	return out
}

// A 1:1 NAT rule with KeepLocal advertises the external address beside
// the local one, both host candidates on the one shared UDP port (what a
// server reflexive rule is meant for); the viewer connects through the
// local one and plays. "srflx" itself is refused with the reason.
func TestLiveNAT1To1KeepLocal(t *testing.T) {
	t.Parallel()
	m := startManager(t, Options{NAT1To1: []NAT1To1{{External: "203.0.113.7", Local: "127.0.0.1", KeepLocal: true}}}, fileHub(t, "gate"))
	v, offer := newPionViewer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{}
	for _, c := range candidates(ans.SDP) {
		if len(c) >= 8 && c[2] == "udp" && c[6] == "typ" && c[7] == "host" {
			ports[c[4]] = c[5]
		}
	}
	if ports["127.0.0.1"] == "" || ports["203.0.113.7"] != ports["127.0.0.1"] {
		t.Fatalf("want host candidates 127.0.0.1 and 203.0.113.7 on the same (shared) port, got %v:\n%s", ports, ans.SDP)
	}
	// The external address leads nowhere on this machine: the viewer is
	// given only the local candidate, so nothing leaves loopback.
	var kept []string
	for _, line := range strings.Split(ans.SDP, "\n") {
		if !strings.Contains(line, " 203.0.113.7 ") {
			kept = append(kept, line)
		}
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: strings.Join(kept, "\n")}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, v, 10)

	for _, c := range []struct {
		rule NAT1To1
		want string
	}{
		{NAT1To1{External: "203.0.113.7", As: "srflx"}, "not on the shared UDP port"},
		{NAT1To1{External: "203.0.113.7", As: "relay"}, `as "relay": want host`},
		{NAT1To1{External: "203.0.113.7", Local: "lan"}, `local "lan" is not an IP address`},
	} {
		if _, err := New(Options{Cameras: m.opts.Cameras, NAT1To1: []NAT1To1{c.rule}}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rule %+v: %v, want an error saying %q", c.rule, err, c.want)
		}
	}
}

// Why "srflx" is refused, checked against pion itself: with the ICE UDP
// mux on a port of ours and a server reflexive 1:1 rule, pion v4.2.26
// gathers that candidate on a socket of its own (related address 0.0.0.0,
// another port). When this test fails, pion has learnt to gather it on the
// mux, and NAT1To1 may accept "srflx".
func TestPionSrflxRewriteBypassesUDPMux(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mux := webrtc.NewICEUDPMux(nil, conn)
	defer mux.Close()
	muxPort := strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port)
	se := livetest.Loopback()
	se.SetICEUDPMux(mux)
	if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: []string{"203.0.113.7"},
		AsCandidateType: webrtc.ICECandidateTypeSrflx, Mode: webrtc.ICEAddressRewriteAppend}); err != nil {
		t.Fatal(err)
	}
	_, sdp := makeOffer(t, webrtc.NewAPI(webrtc.WithSettingEngine(se)), webrtc.RTPCodecTypeVideo)
	var srflx []string
	for _, c := range candidates(sdp) {
		if len(c) >= 8 && c[7] == "srflx" {
			srflx = c
		}
	}
	if srflx == nil {
		t.Fatalf("pion gathered no server reflexive candidate for the rule:\n%s", sdp)
	}
	raddr := ""
	for i := 8; i+1 < len(srflx); i++ {
		if srflx[i] == "raddr" {
			raddr = srflx[i+1]
		}
	}
	if srflx[5] == muxPort && raddr != "0.0.0.0" {
		t.Fatalf("pion now gathers the mapped srflx candidate on the UDP mux (%v, mux port %s): NAT1To1 can accept as: srflx", srflx, muxPort)
	}
	t.Logf("mux port %s; pion's mapped srflx candidate: %s", muxPort, strings.Join(srflx, " "))
}
