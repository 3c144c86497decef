package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Gateway-supplied strings that the sites page now shows in new places (a
// camera's name, from the telemetry, as a timeline row's label; a
// camera's outage in the SVG's <title> and the outage table) come out as
// text, never as markup; the page has no inline style or script. (The
// store records no outage for a source that is not a camera name:
// store.TestReviewCameraOutageNeedsACameraName.)
func TestReviewSitesGatewayStringsEscaped(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	const evil = `x"></title></svg><script>alert(1)</script><img src=x onerror=alert(2) style="x">`
	f.advance(time.Hour)
	f.st.SetTelemetry(gwGate, wire.Telemetry{Cameras: map[string]string{evil: "online", "gate-cam": "offline"}}, f.clock())
	f.storeEvent(gwGate, wire.Event{Kind: wire.KindCameraOffline, Source: "gate-cam", State: wire.StateActive, ClockSynced: true})
	page := must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body
	c := card(t, page, gwGate)
	if !strings.Contains(c, "alert(1)") || !strings.Contains(c, "<title>") {
		t.Fatalf("the camera's row or outage is not on the card:\n%s", c)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", `style="x"`, "</title></svg><"} {
		if strings.Contains(page, bad) {
			t.Errorf("the sites page carries %q unescaped", bad)
		}
	}
	// In a tag, not in text: an attribute style= or on…=, a script
	// without src.
	if m := regexp.MustCompile(`<[a-z][^>]*\s(style|on[a-z]+)=|<script>`).FindString(page); m != "" {
		t.Errorf("the sites page has inline style or script: %q", m)
	}
}

// The text filter comes back into the form and into the live feed's URL
// (data-src) as text: a q= with markup neither ends the attribute nor
// opens a tag, and the feed URL stays the station's own /api/feed.
func TestReviewFilterEchoEscaped(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	q := url.Values{"q": {`"><script>alert(1)</script>`}, "kind": {"motion"}}
	page := must(t, f.do(req{path: "/events?" + q.Encode(), cookie: an}), http.StatusOK, "events").body
	if strings.Contains(page, `"><script>`) || regexp.MustCompile(`<script>`).MatchString(page) {
		t.Errorf("the events page echoes the text filter as markup")
	}
	m := regexp.MustCompile(`data-src="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no data-src on the events page")
	}
	src := html.UnescapeString(m[1])
	u, err := url.Parse(src)
	if err != nil || u.Host != "" || u.Scheme != "" || u.Path != "/api/feed" || u.Query().Get("q") != q.Get("q") {
		t.Errorf("data-src %q: want /api/feed with the same q", src)
	}
}

// GET /api/outages?gateway= with something that is not a gateway id is a
// bad request naming it, for every account (an unlimited one got an
// empty list, a limited one "no such gateway").
func TestReviewOutagesBadGateway(t *testing.T) {
	f := newFixture(t)
	for _, user := range []string{"an", "tuan"} {
		r := must(t, f.do(req{path: "/api/outages?gateway=%3Cb%3E", cookie: f.login(user)}), http.StatusBadRequest, user+": a bad gateway id")
		if !strings.Contains(r.body, "gateway") || !strings.Contains(r.body, "not a gateway id") {
			t.Errorf("%s: %s", user, r.body)
		}
	}
}
