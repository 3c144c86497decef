package live

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
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
