package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/device/devtest"
)

// renewTileJS reads the tile's state, session and decoded frames, and how
// many renewals of that session (and of any session) the page has sent,
// from the page's resource timing.
const renewTileJS = `(async () => {
  const el = document.querySelector(".tile"), session = el.dataset.session || "";
  let frames = 0;
  if (el._pc) (await el._pc.getStats()).forEach(s => { if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0; });
  const renews = performance.getEntriesByType("resource").map(e => new URL(e.name).pathname).filter(p => p.endsWith("/renew"));
  return {state: el.dataset.state, session, frames, renewed: session ? renews.filter(p => p === session + "/renew").length : 0,
    renews: renews};
})()`

type renewTile struct {
	State, Session string
	Frames         int
	Renewed        int
	Renews         []string
}

// A live tile renews its session while it is watched, as often as the
// station tells it (X-Live-Renew, from the session's lifetime): with the
// real station (-live-session 15s) and gateway (max_session: 30s) the
// video keeps decoding well past both lifetimes, the gateway's end of the
// session moves with each renewal, and neither side closes it. Scrolled
// out of view the tile closes its session (audited "closed by the viewer")
// and renews it no more. A tile whose renewals do not get through (the
// browser blocks them) is closed by the station at its lifetime, audited
// "not renewed", and the tile shows it ended.
func TestLiveChromiumRenewal(t *testing.T) {
	const lifetime = 15 * time.Second
	s := startConsoleStation(t, t.TempDir(), "-turn", "", "-turn-tls", "", "-live-session", lifetime.String())
	const gw, cam = "cong-khu-3", "cam-cong"
	startLiveGatewayWith(t, s, gw, "  - {name: pir, kind: motion, driver: sim, every: 1h}\n",
		"  - {name: "+cam+", url: \"file://"+liveClip(t)+"\", preload: true}\n", "  max_session: 30s\n")
	devtest.WaitFor(t, 30*time.Second, "gateway online with its camera", func() bool {
		var g struct {
			Online  bool              `json:"online"`
			Cameras map[string]string `json:"cameras"`
		}
		s.tryAPI(t, "GET", "/api/gateways/"+gw, &g)
		return g.Online && g.Cameras[cam] != ""
	})
	ctx := openLiveConsole(t, s, "/live?gateway="+gw+"&camera="+cam)
	read := func() renewTile {
		t.Helper()
		tl, err := chromedp.Run(ctx, chromedp.Evaluate[renewTile](renewTileJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal("tile:", err)
		}
		if tl.State == "failed" || tl.State == "ended" {
			t.Fatalf("tile %+v\nstation:\n%s", tl, e2eTail(s.stderr))
		}
		return tl
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`performance.setResourceTimingBufferSize(100000); true`)); err != nil {
		t.Fatal(err)
	}
	var tl renewTile
	devtest.WaitFor(t, 30*time.Second, "the tile decoding", func() bool { tl = read(); return tl.State == "playing" && tl.Frames > 10 })
	session := tl.Session
	// The session's figures as the station relays them from the gateway.
	type sessionStats struct {
		Session string    `json:"session"`
		Expires time.Time `json:"expires"`
		Bytes   uint64    `json:"bytes"`
	}
	stats := func() (sessionStats, int) {
		t.Helper()
		rq, _ := http.NewRequest("GET", "http://"+s.http+session, nil)
		rq.Header.Set("Cookie", s.cookie)
		r, err := s.client.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var st sessionStats
		if r.StatusCode == http.StatusOK {
			if err := json.NewDecoder(r.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
		}
		return st, r.StatusCode
	}
	first, code := stats()
	if code != http.StatusOK || first.Expires.IsZero() {
		t.Fatalf("GET %s: %d %+v", session, code, first)
	}
	// The gateway's first end, 30 s after the offer; the station's, 15 s.
	t.Logf("session %s: the gateway's end %v", lastSeg(session), first.Expires.Format(time.RFC3339))

	// Past both lifetimes and then some: still the same session, decoding.
	var late renewTile
	devtest.WaitFor(t, 90*time.Second, "the tile decoding 10 s past the session's first end", func() bool {
		tl = read()
		if tl.Session != session || tl.State != "playing" {
			t.Fatalf("the session did not last: %+v (was %s)\nstation:\n%s", tl, session, e2eTail(s.stderr))
		}
		if late.Frames == 0 && time.Now().After(first.Expires.Add(10*time.Second)) {
			late = tl
		}
		return late.Frames > 0 && tl.Frames > late.Frames+25
	})
	now, code := stats()
	if code != http.StatusOK || !now.Expires.After(first.Expires.Add(10*time.Second)) {
		t.Errorf("the gateway's end of the session after renewals: %d %v, first %v", code, now.Expires, first.Expires)
	}
	// Renewed every 5 s (a third of 15 s): over 40 s, about 8 times.
	if tl.Renewed < 5 {
		t.Errorf("the page renewed the session %d times in %v past the first end", tl.Renewed, time.Since(first.Expires))
	}
	t.Logf("%d frames, %d renewals; the gateway's end now %v", tl.Frames, tl.Renewed, now.Expires.Format(time.RFC3339))
	var es struct {
		Entries []audit.Entry `json:"entries"`
	}
	// closed reports whether the session is audited closed, and for why.
	closedFor := func(id string) (string, bool) {
		s.api(t, "GET", "/api/audit?action="+audit.LiveClose, "", "", &es)
		for _, e := range es.Entries {
			if e.Detail["session"] == id {
				return e.Detail["reason"], true
			}
		}
		return "", false
	}
	closed := func(id, reason string) bool {
		got, ok := closedFor(id)
		if ok && got != reason {
			t.Fatalf("session %s closed with reason %q, want %q", id, got, reason)
		}
		return ok
	}
	if why, ok := closedFor(lastSeg(session)); ok {
		t.Fatalf("the watched session is audited closed (%s)", why)
	}

	// Hidden: scrolled out of view, the tile closes its session.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 300)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.style.paddingBottom = "5000px"; window.scrollTo(0, 4000); true`)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the hidden tile stopped", func() bool { tl = read(); return tl.State == "stopped" })
	hidden := time.Now()
	devtest.WaitFor(t, 10*time.Second, "its session closed by the viewer", func() bool { return closed(lastSeg(session), "closed by the viewer") })
	if _, code := stats(); code != http.StatusNotFound {
		t.Errorf("GET the hidden tile's session: %d, want 404", code)
	}
	count := func(renews []string, path string) (n int) {
		for _, p := range renews {
			if p == path {
				n++
			}
		}
		return n
	}
	before := count(tl.Renews, session+"/renew")

	// Back in view: a new session, renewed; by then (a renewal's interval
	// after the stop) the old one would have been renewed were its timer
	// running.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0); true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 30*time.Second, "a new session, renewed", func() bool {
		tl = read()
		return tl.State == "playing" && tl.Session != session && tl.Renewed >= 2
	})
	if n, since := count(tl.Renews, session+"/renew"), time.Since(hidden); n != before || since < lifetime/3 {
		t.Errorf("the hidden tile's session: %d renewals after it was hidden %v ago (%d before; the check needs at least %v)",
			n-before, since, before, lifetime/3)
	}

	// Renewals blocked in the browser: the station closes the session at
	// its lifetime; the tile learns it from its next stats.
	blocked := tl.Session
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	var fails atomic.Int32
	paused := chromedp.Events(bctx, fetch.RequestPaused)
	go func() {
		for e, err := range paused {
			if err != nil {
				return
			}
			fails.Add(1)
			_, _ = chromedp.Call(bctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: e.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/renew"}}}); err != nil {
		t.Fatal(err)
	}
	blockedAt := time.Now()
	devtest.WaitFor(t, 2*lifetime+10*time.Second, "the unrenewed session closed by the station", func() bool { return closed(lastSeg(blocked), "not renewed") })
	if since := time.Since(blockedAt); since < lifetime-6*time.Second || fails.Load() == 0 {
		// The last renewal that got through was at most 5 s before the block.
		t.Errorf("closed %v after renewals were blocked (%d blocked), lifetime %v", since, fails.Load(), lifetime)
	}
	devtest.WaitFor(t, 30*time.Second, "the tile showing its session ended", func() bool {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".tile").dataset.state`))
		return err == nil && st == "ended"
	})
	if _, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
}

// -live-session out of its bounds is an error naming it.
func TestLiveSessionFlag(t *testing.T) {
	for _, v := range []string{"14s", "25h"} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := registerLiveFlags(fs)
		if err := fs.Parse([]string{"-turn", "", "-live-session", v}); err != nil {
			t.Fatal(err)
		}
		_, stop, err := startLive(t.Context(), f, liveEnv{}, slog.New(slog.DiscardHandler), io.Discard)
		if stop != nil {
			stop()
		}
		if err == nil || !strings.Contains(err.Error(), "-live-session "+v) {
			t.Errorf("-live-session %s: %v", v, err)
		}
	}
}
