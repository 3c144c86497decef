package web

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The sites page and its API: every gateway the account may see, by site,
// shown offline only once it has been offline for the grace (a shorter
// blip is drawn on its outages timeline, never as an offline badge or an
// alarm), with the age of the oldest event waiting in its outbox.

func (s *Server) registerSites() {
	s.handle("GET /api/outages", accounts.Viewer, s.apiOutages)
}

// graced applies the offline grace to gws as read from Gateways: a
// gateway whose last status says offline is shown online (Online true)
// until it has been offline for grace at now; OfflineSince still tells
// when its link went down. Every page and API reads gateways through this
// (view.all), so the badge, GET /api/sites, GET /api/gateways/{id} and the
// offline alarm agree.
func graced(gws []Gateway, now time.Time, grace time.Duration) {
	for i := range gws {
		g := &gws[i]
		if g.Known && !g.Online && !g.OfflineSince.IsZero() && now.Sub(g.OfflineSince) < grace {
			g.Online = true
		}
	}
}

// spans are the timeline's spans (?span=), the first the default.
var spans = []struct {
	key   string
	d     time.Duration
	ticks int // tick intervals
}{{"24h", 24 * time.Hour, 4}, {"7d", 7 * 24 * time.Hour, 7}}

// spanLabel is the span switcher's label; spanWords the span in a
// sentence ("24 giờ qua" / "last 24 hours").
func spanLabel(lang, key string) string {
	if key == "7d" {
		return tr(lang, "sites.spanweek")
	}
	return tr(lang, "sites.spanday")
}

func spanWords(lang, key string) string {
	if key == "7d" {
		return tr(lang, "tl.noneweek")
	}
	return tr(lang, "tl.noneday")
}

// timelineWidth is the SVG's width in user units; bars are at least
// minBar wide so that a blip of seconds in a week still shows.
const (
	timelineWidth = 1000.0
	minBar        = 8.0
)

// timeline is one gateway's outages over the span, drawn and listed.
type timeline struct {
	Rows    []tlRow    // the gateway's own, then each camera's
	Ticks   []tlTick   // the axis
	List    []tlOutage // newest first, for the table
	Summary string     // "2 outages, 3 min in all."
	Aria    string     // the drawing's text alternative
}

type spanWindow struct {
	Key          string
	Since, Until time.Time
}

type tlRow struct {
	Label string
	Bars  []tlBar
}

type tlBar struct {
	X, W  string // in user units, formatted
	Class string // "out", "blip" (a gateway's, shorter than the grace so far), "cam"
	Title string
}

type tlTick struct {
	X     string
	Label string
}

type tlOutage struct {
	What     string
	Start    time.Time
	End      time.Time // zero: still offline
	Duration string
	Blip     bool // a gateway's, shorter than the grace: no alarm
	Restart  bool
	Unsynced bool
}

// spanOf reads ?span= (24h by default); the error names a bad one.
func spanOf(r *http.Request, now time.Time) (spanWindow, error) {
	k := r.URL.Query().Get("span")
	if k == "" {
		k = spans[0].key
	}
	for _, sp := range spans {
		if sp.key == k {
			return spanWindow{Key: k, Since: now.Add(-sp.d), Until: now}, nil
		}
	}
	return spanWindow{}, fmt.Errorf("span %.20q: want 24h or 7d", k)
}

// x is t's place on the axis of w.
func (w spanWindow) x(t time.Time) float64 {
	f := float64(t.Sub(w.Since)) / float64(w.Until.Sub(w.Since))
	return min(max(f, 0), 1) * timelineWidth
}

func fmtX(f float64) string { return fmt.Sprintf("%.1f", f) }

// dur is a duration in words: "40 giây", "12 phút", "3 giờ 5 phút".
func dur(lang string, d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return tr(lang, "dur.s", int(d/time.Second))
	case d < time.Hour:
		return tr(lang, "dur.m", int(d/time.Minute))
	case d < 24*time.Hour:
		return tr(lang, "dur.hm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return tr(lang, "dur.dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// timelineOf draws g's outages (oldest first) over w.
func (v *view) timelineOf(g Gateway, outages []store.Outage, w spanWindow) timeline {
	grace := v.s.o.OfflineGrace
	var tl timeline
	gwRow := tlRow{Label: tr(v.lang, "gw.name")}
	cams := map[string]*tlRow{}
	var camNames []string
	for name := range g.Cameras {
		camNames = append(camNames, name)
	}
	var total time.Duration
	for _, o := range outages {
		end := o.Until(w.Until)
		if end.Before(w.Since) || o.Start.After(w.Until) {
			continue
		}
		d := end.Sub(o.Start)
		what := tr(v.lang, "gw.name")
		if o.Camera != "" {
			what = tr(v.lang, "tl.camera", o.Camera)
		}
		lo := tlOutage{What: what, Start: o.Start, End: o.End, Duration: dur(v.lang, d), Restart: o.Restart, Unsynced: o.Unsynced}
		short := o.Camera == "" && d < grace // no alarm (yet, while it lasts)
		lo.Blip = short && !o.Open()
		x0, x1 := w.x(o.Start), w.x(end)
		wd := max(x1-x0, minBar)
		if x0+wd > timelineWidth {
			x0 = timelineWidth - wd
		}
		b := tlBar{X: fmtX(x0), W: fmtX(wd), Class: "out"}
		title := when(v.lang, o.Start) + " – "
		if o.Open() {
			title += tr(v.lang, "tl.ongoing")
		} else {
			title += when(v.lang, o.End)
		}
		b.Title = what + ": " + title + " (" + lo.Duration + ")"
		switch {
		case o.Camera != "":
			b.Class = "cam"
		case short:
			b.Class = "blip"
		}
		if o.Camera == "" {
			gwRow.Bars = append(gwRow.Bars, b)
			total += d
		} else {
			r := cams[o.Camera]
			if r == nil {
				r = &tlRow{Label: o.Camera}
				cams[o.Camera] = r
				if !slices.Contains(camNames, o.Camera) {
					camNames = append(camNames, o.Camera)
				}
			}
			r.Bars = append(r.Bars, b)
		}
		tl.List = append(tl.List, lo)
	}
	slices.Sort(camNames)
	tl.Rows = append(tl.Rows, gwRow)
	for _, name := range camNames {
		if r := cams[name]; r != nil {
			tl.Rows = append(tl.Rows, *r)
		} else {
			tl.Rows = append(tl.Rows, tlRow{Label: name})
		}
	}
	slices.Reverse(tl.List)
	n := len(gwRow.Bars)
	words := spanWords(v.lang, w.Key)
	switch n {
	case 0:
		tl.Summary = tr(v.lang, "tl.none", words)
	case 1:
		tl.Summary = tr(v.lang, "tl.summaryone", dur(v.lang, total))
	default:
		tl.Summary = tr(v.lang, "tl.summary", n, dur(v.lang, total))
	}
	tl.Aria = tr(v.lang, "tl.aria", v.gwName(g), words, tl.Summary)
	for _, sp := range spans {
		if sp.key != w.Key {
			continue
		}
		for i := 0; i <= sp.ticks; i++ {
			t := w.Since.Add(time.Duration(i) * sp.d / time.Duration(sp.ticks))
			label := tickLabel(v.lang, t, sp.d)
			tl.Ticks = append(tl.Ticks, tlTick{X: fmtX(w.x(t)), Label: label})
		}
	}
	return tl
}

// tickLabel is an axis label in Vietnam time: the hour over a day, the
// date over a week.
func tickLabel(lang string, t time.Time, span time.Duration) string {
	t = t.In(audit.Vietnam)
	if span <= 24*time.Hour {
		return t.Format("15:04")
	}
	if lang == LangEN {
		return t.Format("2 Jan")
	}
	return t.Format("02/01")
}

// siteCard is one gateway's card: the gateway, its timeline, the age of
// its oldest waiting event.
type siteCard struct {
	Gateway
	Timeline timeline
	// Oldest is the oldest buffered event's age and time in words, "" when
	// its outbox was empty.
	Oldest string
	// Refused is the payloads the store refused from it over the span, in
	// words (notices.go); "" for none.
	Refused string
}

func (s *Server) sitesPage(w http.ResponseWriter, r *http.Request, v *view) {
	now := s.now()
	win, err := spanOf(r, now)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	gws, err := v.gateways()
	if err != nil {
		s.internal(w, r, "list gateways", err)
		return
	}
	outages, err := s.outages(win.Since)
	if err != nil {
		s.internal(w, r, "read outages", err)
		return
	}
	refused, err := s.refused(win.Since)
	if err != nil {
		s.internal(w, r, "read refused payloads", err)
		return
	}
	type group struct {
		Site, Name string
		Gateways   []siteCard
	}
	var groups []group
	for _, g := range gws {
		if len(groups) == 0 || groups[len(groups)-1].Site != g.Site {
			groups = append(groups, group{Site: g.Site, Name: cmpOr(g.SiteName, g.Site)})
		}
		c := siteCard{Gateway: g, Timeline: v.timelineOf(g, outages[g.ID], win), Refused: v.refusedText(refused[g.ID], v.gwName(g))}
		if !g.OldestBuffered.IsZero() {
			c.Oldest = tr(v.lang, "gw.oldestval", dur(v.lang, max(0, now.Sub(g.OldestBuffered))), when(v.lang, g.OldestBuffered))
		}
		groups[len(groups)-1].Gateways = append(groups[len(groups)-1].Gateways, c)
	}
	var spanLinks []map[string]any
	for _, sp := range spans {
		spanLinks = append(spanLinks, map[string]any{"Key": sp.key, "Label": spanLabel(v.lang, sp.key), "Current": sp.key == win.Key})
	}
	s.render(w, r, v, http.StatusOK, "sites", map[string]any{"Groups": groups, "Spans": spanLinks, "Span": win.Key})
}

// outages reads every gateway's outages since since (none when the
// console's data keeps none).
func (s *Server) outages(since time.Time) (map[string][]store.Outage, error) {
	if o, ok := s.o.Gateways.(Outages); ok {
		return o.Outages(since)
	}
	return map[string][]store.Outage{}, nil
}

// apiOutage is one outage as GET /api/outages gives it.
type apiOutage struct {
	store.Outage
	// Seconds is its length so far; Alarm is whether it lasted the grace
	// (a gateway's: an offline alarm was or is raised).
	Seconds float64 `json:"seconds"`
	Alarm   bool    `json:"alarm"`
}

// apiOutages is GET /api/outages?span=24h|7d[&gateway=id]: the outages of
// the gateways the account may see that lasted into the span.
func (s *Server) apiOutages(w http.ResponseWriter, r *http.Request, v *view) {
	now := s.now()
	win, err := spanOf(r, now)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	only := r.URL.Query().Get("gateway")
	if only != "" && !wire.ValidID(only) {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("gateway %.70q: not a gateway id", only))
		return
	}
	if only != "" && !v.allows(only) {
		s.fail(w, r, http.StatusNotFound, "no such gateway")
		return
	}
	all, err := s.outages(win.Since)
	if err != nil {
		s.internal(w, r, "read outages", err)
		return
	}
	out := []apiOutage{}
	gws, err := v.gateways()
	if err != nil {
		s.internal(w, r, "list gateways", err)
		return
	}
	for _, g := range gws {
		if only != "" && g.ID != only {
			continue
		}
		for _, o := range all[g.ID] {
			d := o.Until(now).Sub(o.Start)
			out = append(out, apiOutage{Outage: o, Seconds: d.Seconds(), Alarm: o.Camera == "" && d >= s.o.OfflineGrace})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"since": win.Since, "until": win.Until,
		"grace_s": s.o.OfflineGrace.Seconds(), "outages": out})
}
