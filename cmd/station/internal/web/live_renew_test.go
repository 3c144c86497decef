package web

import (
	"net/http"
	"testing"
	"time"
)

// The page renews at a third of the shorter lifetime, the station's or
// the gateway's, within 5 s to 1 min; a gateway clock far off (its end
// before the offer, or beyond the station's own lifetime) is not taken
// for a length.
func TestLiveRenewEvery(t *testing.T) {
	sent := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		station, gateway time.Duration // the gateway's end after sent
		want             time.Duration
	}{
		{15 * time.Minute, 10 * time.Minute, time.Minute}, // the defaults
		{15 * time.Second, 30 * time.Second, 5 * time.Second},
		{90 * time.Second, 30 * time.Second, 10 * time.Second}, // max_session: 30s
		{90 * time.Second, 0, 30 * time.Second},                // no end from the gateway
		{90 * time.Second, -time.Hour, 30 * time.Second},       // its clock an hour behind
		{90 * time.Second, time.Hour, 30 * time.Second},        // ahead
		{15 * time.Minute, 3 * time.Second, 5 * time.Second},   // at least 5 s
		{24 * time.Hour, 20 * time.Hour, time.Minute},          // at most a minute
	} {
		var expires time.Time
		if tc.gateway != 0 {
			expires = sent.Add(tc.gateway)
		}
		if got := liveRenewEvery(tc.station, sent, expires); got != tc.want {
			t.Errorf("station %v, gateway %v: renew every %v, want %v", tc.station, tc.gateway, got, tc.want)
		}
	}
}

// The offer's answer tells the page how often to renew.
func TestLiveRenewHeader(t *testing.T) {
	f, _ := liveFixture(t)
	r := must(t, f.offer(f.login("tuan"), gwGate, "gate-cam", ""), http.StatusCreated, "open")
	if got := r.header.Get("X-Live-Renew"); got != "60" {
		t.Errorf("X-Live-Renew %q, want 60 (seconds, the defaults)", got)
	}
}
