package web

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// Stats are the statistics page's figures for the principal's gateways.
type Stats struct {
	// Hours are the last 24 hours and Days the last 14 days (Vietnam
	// time, oldest first); Sites lists each site's counts in those slots.
	Hours []time.Time `json:"hours"`
	Days  []time.Time `json:"days"`
	Sites []SiteStats `json:"sites"`
	Ack   AckStats    `json:"ack"`
	// Scanned is the number of records read; Partial says the scan bound
	// was reached before the oldest day.
	Scanned int  `json:"scanned"`
	Partial bool `json:"partial,omitempty"`
}

// SiteStats counts one site's events (gaps and notices not included).
type SiteStats struct {
	Site    string `json:"site"`
	Name    string `json:"name"`
	PerHour []int  `json:"per_hour"`
	PerDay  []int  `json:"per_day"`
	Alarms  int    `json:"alarms"` // in the 14 days
}

// AckStats is the time from an alarm to its acknowledgement.
type AckStats struct {
	Count    int            `json:"count"`
	MedianS  float64        `json:"median_s"`
	P90S     float64        `json:"p90_s"`
	MaxS     float64        `json:"max_s"`
	Outcomes map[string]int `json:"outcomes"`
}

// maxStatsScan bounds the records one statistics request reads.
const maxStatsScan = 200000

func (v *view) stats() (Stats, error) {
	now := v.s.now().In(audit.Vietnam)
	hour0 := now.Truncate(time.Hour).Add(-23 * time.Hour)
	y, m, d := now.Date()
	day0 := time.Date(y, m, d, 0, 0, 0, 0, audit.Vietnam).AddDate(0, 0, -13)
	st := Stats{Ack: AckStats{Outcomes: map[string]int{}}}
	for i := range 24 {
		st.Hours = append(st.Hours, hour0.Add(time.Duration(i)*time.Hour))
	}
	for i := range 14 {
		st.Days = append(st.Days, day0.AddDate(0, 0, i))
	}
	gws, err := v.gateways()
	if err != nil {
		return st, err
	}
	siteOf := map[string]int{}
	bySite := map[string]int{}
	for _, g := range gws {
		key := cmpOr(g.Site, "-"+g.ID)
		i, ok := bySite[key]
		if !ok {
			i = len(st.Sites)
			bySite[key] = i
			st.Sites = append(st.Sites, SiteStats{Site: g.Site, Name: cmpOr(g.SiteName, cmpOr(g.Site, g.Name)), PerHour: make([]int, 24), PerDay: make([]int, 14)})
		}
		siteOf[g.ID] = i
	}
	var before uint64
	for {
		items, next, err := v.events(before, 500, "")
		if err != nil {
			return st, err
		}
		done := false
		for _, it := range items {
			st.Scanned++
			t := it.Stored.In(audit.Vietnam)
			if t.Before(day0) {
				done = true
				break
			}
			i, ok := siteOf[it.Gateway]
			if !ok || it.Type != ItemEvent {
				continue
			}
			s := &st.Sites[i]
			if it.Alarm {
				s.Alarms++
			}
			y, m, d := t.Date()
			if di := int(time.Date(y, m, d, 0, 0, 0, 0, audit.Vietnam).Sub(day0).Hours()/24 + 0.5); di >= 0 && di < 14 {
				s.PerDay[di]++
			}
			if hi := int(t.Sub(hour0) / time.Hour); !t.Before(hour0) && hi < 24 {
				s.PerHour[hi]++
			}
		}
		if done || next == 0 {
			break
		}
		if st.Scanned >= maxStatsScan {
			st.Partial = true
			break
		}
		before = next
	}
	if v.s.o.Reviews != nil {
		acks, err := v.s.o.Reviews.Acks()
		if err != nil {
			return st, err
		}
		var ds []float64
		for _, a := range acks {
			if (a.Gateway != "" && !v.allows(a.Gateway)) || a.Raised.IsZero() || a.At.Before(day0) {
				continue
			}
			ds = append(ds, a.At.Sub(a.Raised).Seconds())
			st.Ack.Outcomes[a.Outcome]++
		}
		slices.Sort(ds)
		if n := len(ds); n > 0 {
			st.Ack.Count, st.Ack.MedianS, st.Ack.P90S, st.Ack.MaxS = n, ds[n/2], ds[min(n-1, n*9/10)], ds[n-1]
		}
	}
	return st, nil
}

func (s *Server) apiStats(w http.ResponseWriter, r *http.Request, v *view) {
	st, err := v.stats()
	if err != nil {
		s.internal(w, r, "statistics", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// bar is one bar of a chart drawn as SVG by the template.
type bar struct {
	X, Y, W, H float64
	Label      string
	N          int
}

// bars lays out counts as bars in a 600×120 box.
func bars(counts []int, labels []string) []bar {
	mx := 1
	for _, c := range counts {
		mx = max(mx, c)
	}
	w := 600.0 / float64(max(1, len(counts)))
	out := make([]bar, len(counts))
	for i, c := range counts {
		h := 100 * float64(c) / float64(mx)
		out[i] = bar{X: float64(i)*w + 1, Y: 110 - h, W: w - 2, H: h, Label: labels[i], N: c}
	}
	return out
}

func (s *Server) statsPage(w http.ResponseWriter, r *http.Request, v *view) {
	st, err := v.stats()
	if err != nil {
		s.internal(w, r, "statistics", err)
		return
	}
	hl := make([]string, len(st.Hours))
	for i, h := range st.Hours {
		hl[i] = strconv.Itoa(h.Hour()) + "h"
	}
	dl := make([]string, len(st.Days))
	for i, d := range st.Days {
		dl[i] = d.Format("02/01")
	}
	type chart struct {
		Site          SiteStats
		Hourly, Daily []bar
	}
	var charts []chart
	for _, ss := range st.Sites {
		charts = append(charts, chart{Site: ss, Hourly: bars(ss.PerHour, hl), Daily: bars(ss.PerDay, dl)})
	}
	s.render(w, r, v, http.StatusOK, "stats", map[string]any{"Stats": st, "Charts": charts})
}
