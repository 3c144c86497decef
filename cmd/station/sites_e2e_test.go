package main

// End to end with the real station and gateway binaries: the offline
// grace and the outages timeline of the sites page.

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
)

// siteOutage is what the test reads of GET /api/outages.
type siteOutage struct {
	Gateway string    `json:"gateway"`
	Camera  string    `json:"camera"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Seconds float64   `json:"seconds"`
	Alarm   bool      `json:"alarm"`
}

// get fetches path with an's session; ok is false on any failure (the
// watcher below runs outside the test's goroutine).
func (s *consoleStation) get(path string, out any) bool {
	rq, _ := http.NewRequest("GET", "http://"+s.http+path, nil)
	rq.Header.Set("Cookie", s.cookie)
	r, err := s.client.Do(rq)
	if err != nil {
		return false
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		return false
	}
	if s, ok := out.(*string); ok {
		*s = string(b)
		return true
	}
	return json.Unmarshal(b, out) == nil
}

func (s *consoleStation) gatewayOutages(t *testing.T, gw string) []siteOutage {
	t.Helper()
	var r struct{ Outages []siteOutage }
	s.api(t, "GET", "/api/outages?gateway="+gw, "", "", &r)
	var out []siteOutage
	for _, o := range r.Outages {
		if o.Camera == "" {
			out = append(out, o)
		}
	}
	return out
}

// TestSitesGraceAndOutagesEndToEnd: a real gateway killed and back within
// the grace is never shown offline, in the API or on the sites page, and
// raises no alarm, but its outage is on the timeline, short; killed for
// longer than the grace it is shown offline only once the grace has
// passed, with an alarm to review, and that outage is on the timeline too.
// Both outages are still there after the station restarts.
func TestSitesGraceAndOutagesEndToEnd(t *testing.T) {
	const grace = 8 * time.Second
	dir := t.TempDir()
	data := filepath.Join(dir, "station")
	st := startConsoleStation(t, data, "-offline-grace", grace.String())
	const gw = "cong-khu-3"
	api := devtest.FreeAddr(t)
	cfg := writeGatewayConfig(t, dir, gw, filepath.Join(dir, "gw"), st.addr, api, "", "")
	g := startBinGateway(t, cfg, api)

	type gwState struct {
		Known        bool      `json:"known"`
		Online       bool      `json:"online"`
		OfflineSince time.Time `json:"offline_since"`
	}
	state := func() gwState {
		var s gwState
		st.tryAPI(t, "GET", "/api/gateways/"+gw, &s)
		return s
	}
	offlineAlarm := func(s *consoleStation) bool {
		var r struct{ Alarms []apiAlarm }
		if !s.get("/api/alarms", &r) {
			return false
		}
		for _, a := range r.Alarms {
			if strings.HasPrefix(a.Key, "offline/"+gw+"/") {
				return true
			}
		}
		return false
	}
	devtest.WaitFor(t, 30*time.Second, "gateway online in the console", func() bool { return state().Online })

	// Killed and started again at once: a blip. A watcher reads the API
	// and the page until well past the grace.
	var (
		mu                      sync.Mutex
		shownOffline, alarmed   []string
		polls                   int
		stopWatch, watcherEnded = make(chan struct{}), make(chan struct{})
	)
	go func() {
		defer close(watcherEnded)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(100 * time.Millisecond):
			}
			var s gwState
			var sites struct {
				Gateways []struct {
					ID     string `json:"id"`
					Online bool   `json:"online"`
				}
			}
			var page string
			okG, okS, okP := st.get("/api/gateways/"+gw, &s), st.get("/api/sites", &sites), st.get("/sites", &page)
			al := offlineAlarm(st)
			mu.Lock()
			polls++
			now := time.Now().Format("15:04:05.000")
			if okG && s.Known && !s.Online {
				shownOffline = append(shownOffline, now+" /api/gateways")
			}
			for _, x := range sites.Gateways {
				if okS && x.ID == gw && !x.Online {
					shownOffline = append(shownOffline, now+" /api/sites")
				}
			}
			if okP && strings.Contains(page, `class="card gw offline" id="gw-`+gw+`"`) {
				shownOffline = append(shownOffline, now+" /sites")
			}
			if al {
				alarmed = append(alarmed, now)
			}
			mu.Unlock()
		}
	}()
	killed := time.Now()
	g.kill()
	// The station knows it is down (its outage is open) yet shows it
	// online: the grace holds the badge back.
	devtest.WaitFor(t, 10*time.Second, "the blip's outage open on /api/outages", func() bool {
		os := st.gatewayOutages(t, gw)
		return len(os) == 1 && os[0].End.IsZero()
	})
	if s := state(); !s.Online || s.OfflineSince.IsZero() {
		t.Errorf("down %v (grace %v): /api/gateways online=%v offline_since=%v, want online with offline_since", time.Since(killed), grace, s.Online, s.OfflineSince)
	}
	var downPage string
	if !st.get("/sites", &downPage) || !strings.Contains(downPage, `class="card gw online" id="gw-`+gw+`"`) {
		t.Errorf("down %v (grace %v): the sites page does not show it online", time.Since(killed), grace)
	}
	g = startBinGateway(t, cfg, api)
	var blip siteOutage
	devtest.WaitFor(t, 30*time.Second, "the blip's outage closed on /api/outages", func() bool {
		os := st.gatewayOutages(t, gw)
		if len(os) == 1 && !os[0].End.IsZero() {
			blip = os[0]
			return true
		}
		return false
	})
	t.Logf("the blip lasted %.2f s (will to birth): %+v; killed at %v", blip.Seconds, blip, killed)
	if blip.Seconds >= grace.Seconds() || blip.Alarm || blip.Start.Before(killed.Add(-time.Second)) {
		t.Fatalf("the blip: %+v, want shorter than the grace %v, no alarm, from the kill at %v", blip, grace, killed)
	}
	devtest.WaitFor(t, 3*grace, "the grace passed since the kill, the gateway watched", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(killed) > grace+2*time.Second && polls > 10
	})
	close(stopWatch)
	<-watcherEnded
	if len(shownOffline) > 0 || len(alarmed) > 0 {
		t.Errorf("a blip of %.1f s (grace %v) was shown offline at %v and alarmed at %v", blip.Seconds, grace, shownOffline, alarmed)
	}
	var page string
	if !st.get("/sites", &page) {
		t.Fatal("GET /sites failed")
	}
	card := page[strings.Index(page, `id="gw-`+gw+`"`):]
	if !strings.Contains(card, `<rect class="tl-blip"`) || !strings.Contains(card, "(ngắn, không báo động)") {
		t.Errorf("the blip is not on the sites page's timeline:\n%.3000s", card)
	}

	// Killed for longer than the grace.
	killed = time.Now()
	g.kill()
	var since time.Time
	devtest.WaitFor(t, 30*time.Second, "gateway shown offline", func() bool {
		s := state()
		since = s.OfflineSince
		return s.Known && !s.Online
	})
	if shown := time.Since(killed); shown < grace {
		t.Errorf("shown offline %v after the kill, before the grace %v", shown, grace)
	}
	if since.Before(killed.Add(-time.Second)) || since.After(killed.Add(5*time.Second)) {
		t.Errorf("offline since %v, the kill was at %v", since, killed)
	}
	devtest.WaitFor(t, 15*time.Second, "offline alarm to review", func() bool { return offlineAlarm(st) })
	if os := st.gatewayOutages(t, gw); len(os) != 2 || !os[1].End.IsZero() || !os[1].Alarm {
		t.Errorf("outages while offline: %+v, want the blip and an open one, an alarm", os)
	}
	g = startBinGateway(t, cfg, api)
	devtest.WaitFor(t, 30*time.Second, "gateway online again", func() bool { return state().Online })
	var long siteOutage
	devtest.WaitFor(t, 10*time.Second, "the long outage closed", func() bool {
		os := st.gatewayOutages(t, gw)
		if len(os) == 2 && !os[1].End.IsZero() {
			long = os[1]
			return true
		}
		return false
	})
	if long.Seconds < grace.Seconds() || !long.Alarm {
		t.Errorf("the long outage: %+v, want at least the grace %v, an alarm", long, grace)
	}
	if !st.get("/sites", &page) {
		t.Fatal("GET /sites failed")
	}
	card = page[strings.Index(page, `id="gw-`+gw+`"`):]
	if !strings.Contains(card, `<rect class="tl-out"`) || !strings.Contains(card, `<rect class="tl-blip"`) || !strings.Contains(card, "Ngoại tuyến 2 lần") {
		t.Errorf("the sites page's timeline lacks the outages:\n%.3000s", card)
	}

	// The station restarts: the outages are still there.
	g.term(t)
	st.stop(t)
	st = restartConsoleStation(t, data, "-offline-grace", grace.String())
	after := st.gatewayOutages(t, gw)
	if len(after) < 2 || !after[0].Start.Equal(blip.Start) || !after[1].Start.Equal(long.Start) || !after[1].End.Equal(long.End) {
		t.Errorf("after a station restart the outages are %+v, want the blip %+v and the outage %+v first", after, blip, long)
	}
}

// restartConsoleStation runs the station of startConsoleStation again on
// its data (the admin already exists) and logs in.
func restartConsoleStation(t *testing.T, data string, args ...string) *consoleStation {
	t.Helper()
	bin, _ := binaries(t)
	return runConsoleStation(t, bin, data, args...)
}
