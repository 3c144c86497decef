package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// assetRE finds what a page loads: its styles, script, icon and images.
var assetRE = regexp.MustCompile(`(?:href|src)="(/static/[^"]+|/api/events/[^"]+/snapshot)"`)

// pageLoad is a browser's first visit over loopback TCP: the login page
// and everything it loads, the login, and the sites page it leads to with
// what it loads that was not loaded before, gzip accepted as browsers do.
// It returns the bytes on the wire (bodies as sent, compressed) and the
// requests made.
func pageLoad(tb testing.TB, base string) (wire int64, requests int) {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	loaded := map[string]bool{}
	get := func(method, path string, form url.Values) []byte {
		tb.Helper()
		var body io.Reader
		if form != nil {
			body = bytes.NewReader([]byte(form.Encode()))
		}
		rq, _ := http.NewRequest(method, base+path, body)
		rq.Header.Set("Accept-Encoding", "gzip, deflate, br") // what browsers send
		if form != nil {
			rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r, err := c.Do(rq)
		if err != nil {
			tb.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		wire += int64(len(b))
		requests++
		if r.StatusCode != http.StatusOK {
			tb.Fatalf("%s %s: %s", method, path, r.Status)
		}
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				tb.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				tb.Fatal(err)
			}
		}
		return b
	}
	assets := func(page []byte) {
		for _, m := range assetRE.FindAllSubmatch(page, -1) {
			if p := string(m[1]); !loaded[p] {
				loaded[p] = true
				get("GET", p, nil)
			}
		}
	}
	assets(get("GET", "/login", nil))
	assets(get("POST", "/login", url.Values{"user": {"an"}, "password": {testPassword}, "next": {"/sites"}}))
	return wire, requests
}

// serveFixture serves f's console on a loopback port until the test ends,
// when it must shut down cleanly.
func serveFixture(tb testing.TB, f *fixture) string {
	tb.Helper()
	ln, _, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, NewHTTPServer(f.s, f.s.log), ln) }()
	tb.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			tb.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// Static files and pages go gzip-compressed to a browser that accepts it,
// plain otherwise, with Vary: Accept-Encoding.
func TestCompressed(t *testing.T) {
	f := newFixture(t)
	for _, accept := range []string{"gzip", ""} {
		rq := req{path: "/static/app.js", header: map[string]string{"Accept-Encoding": accept}}
		r := must(t, f.do(rq), http.StatusOK, "app.js")
		plain, _ := staticFS.ReadFile("static/app.js")
		body := []byte(r.body)
		if accept != "" {
			if r.header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("app.js with gzip accepted: %v", r.header)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(zr)
		} else if r.header.Get("Content-Encoding") != "" {
			t.Fatalf("app.js compressed for a client that did not ask: %v", r.header)
		}
		if !bytes.Equal(body, plain) || r.header.Get("Vary") != "Accept-Encoding" || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("app.js (accept %q): %d bytes, headers %v", accept, len(body), r.header)
		}
	}
	r := must(t, f.do(req{path: "/login", header: map[string]string{"Accept-Encoding": "gzip"}}), http.StatusOK, "login")
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("login page not compressed: %v", r.header)
	}
	if r := must(t, f.do(req{path: "/login", header: map[string]string{"Accept-Encoding": "gzip;q=0"}}), http.StatusOK, "login"); r.header.Get("Content-Encoding") != "" {
		t.Error("compressed although gzip;q=0")
	}
}

// BenchmarkFirstPageLoad: the first visit of a browser on the station LAN
// (pageLoad): first-load-KB is every byte of it on the wire, compressed;
// ms/op the time from the first request to the last answer, over
// loopback. The console holds the demo's two gateways with telemetry.
func BenchmarkFirstPageLoad(b *testing.B) {
	f := newFixture(b, func(o *Options) { o.Now = time.Now })
	f.st.SetTelemetry(gwGate, wire.Telemetry{Outbox: wire.OutboxStats{Depth: 3}, Cameras: map[string]string{"gate-cam": "online", "gate-cam-2": "idle"}, Alarm: "away"}, time.Now())
	base := serveFixture(b, f)
	var bytes int64
	var n int
	for b.Loop() {
		bytes, n = pageLoad(b, base)
	}
	b.ReportMetric(float64(bytes)/1024, "first-load-KB")
	b.ReportMetric(float64(n), "requests")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/load")
}
