package web

import (
	"net/http"
	"testing"
)

// Review (R2): an officer cannot hold the console's bounded connections
// with candidate streams: each session has at most liveMaxStreams open
// (the page needs one; a reconnect may overlap the old one for a moment).
func TestLiveCandidateStreamsBounded(t *testing.T) {
	f, _ := liveFixture(t)
	c := f.login("tuan")
	loc := must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open").header.Get("Location")
	open := candidateStreams(t, f, c, loc)
	for i := range liveMaxStreams {
		if res := open(); res.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, res.StatusCode)
		}
	}
	if res := open(); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("one stream too many: %d, want 429", res.StatusCode)
	}
}
