package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Review (R2): an officer cannot hold the console's bounded connections
// with candidate streams: each session has at most liveMaxStreams open
// (the page needs one; a reconnect may overlap the old one for a moment).
func TestLiveCandidateStreamsBounded(t *testing.T) {
	f, _ := liveFixture(t)
	c := f.login("tuan")
	loc := must(t, f.offer(c, gwGate, "gate-cam", ""), http.StatusCreated, "open").header.Get("Location")
	srv := httptest.NewServer(f.s)
	// Registered before the bodies' cleanups, so it runs after them: Close
	// waits for the open streams, which end when their bodies are closed.
	t.Cleanup(srv.Close)
	open := func() *http.Response {
		hr, _ := http.NewRequest("GET", srv.URL+loc+"/candidates", nil)
		hr.AddCookie(&http.Cookie{Name: sessionCookie, Value: c})
		res, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = res.Body.Close() })
		return res
	}
	for i := range liveMaxStreams {
		if res := open(); res.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i, res.StatusCode)
		}
	}
	if res := open(); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("one stream too many: %d, want 429", res.StatusCode)
	}
}
