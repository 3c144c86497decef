package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The events filters by kind, state and text (issue 11, "Events"), shared
// by the events page, GET /api/events and the live feed (docs/api.md
// "Filters by kind, state and text"). They test what an arrival record
// holds (its type and its event's line: kind, source, state, time) and
// the directory's names; an event's body is read only for the items kept,
// and for state=review an event that is an alarm only by attrs.alarm
// (see matchState).

// Kinds a filter takes besides the events' own: the store's records.
const (
	kindGap    = "gap"    // events lost (store.RecordGap)
	kindNotice = "notice" // a gateway's storage replaced (store.RecordNotice)
)

// Kind groups, as the page's kind filter shows them. Together they are
// every kind a gateway sends (uplink/wire, device/alarm, the sensors'
// configured kinds) and the store's own records.
var (
	sensorKinds  = []string{wire.KindMotion, wire.KindContact, wire.KindTamper, wire.KindPanic, "keyswitch", "walk_test"}
	alarmKindsUI = []string{"alarm", "mode", "exit_delay", "entry_delay", "silence", "bypass", "trouble", "chime", "output", "arming_refused", "test_mode"}
	cameraKinds  = []string{wire.KindCameraOffline, wire.KindCameraOnline, wire.KindSnapshot, wire.KindClip, wire.KindClipLost, wire.KindRecordingFailed}
	systemKinds  = []string{wire.KindBoot, wire.KindOutboxOverflow, wire.KindStorageReset, wire.KindCaptureFailed, kindGap, kindNotice}
	filterKinds  = slices.Concat(sensorKinds, alarmKindsUI, cameraKinds, systemKinds)
)

// States a filter takes. An officer looks for alarms by their review
// (to review, acknowledged, and by outcome) and for sensor events by
// what the sensor reported (active, inactive: a door opened, closed).
const (
	stateReview   = "review" // an alarm not acknowledged yet
	stateAcked    = "acked"  // an alarm acknowledged, whatever the outcome
	stateActive   = wire.StateActive
	stateInactive = wire.StateInactive
)

// filterStates are the states a filter takes; the outcomes mean an alarm
// acknowledged with that outcome.
var filterStates = []string{stateReview, stateAcked, store.OutcomeFalse, store.OutcomeHandled, store.OutcomeIncident, stateActive, stateInactive}

// Bounds of the text filter.
const (
	maxFilterText  = 100 // characters
	maxFilterWords = 8
)

// parseFilter reads the filters of an events query (gateway, site, since,
// until, kind, state, q); the error starts with the bad parameter's name.
// Empty values are no filter (the page's form sends them).
func parseFilter(q url.Values) (eventsFilter, error) {
	var f eventsFilter
	var err error
	f.gateway, f.site = q.Get("gateway"), q.Get("site")
	if f.gateway != "" && !wire.ValidID(f.gateway) {
		return f, fmt.Errorf("gateway %.70q: not a gateway id", f.gateway)
	}
	if f.site != "" && !wire.ValidID(f.site) {
		return f, fmt.Errorf("site %.70q: not a site id", f.site)
	}
	if f.since, err = audit.ParseTime(q.Get("since")); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.until, err = audit.ParseTime(q.Get("until")); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if !f.since.IsZero() && !f.until.IsZero() && !f.since.Before(f.until) {
		return f, errors.New("since must be before until")
	}
	for _, k := range q["kind"] {
		if k == "" || slices.Contains(f.kinds, k) {
			continue
		}
		if !slices.Contains(filterKinds, k) {
			return f, fmt.Errorf("kind %.40q: not a kind of event; want one of %s", k, strings.Join(filterKinds, ", "))
		}
		f.kinds = append(f.kinds, k)
	}
	for _, s := range q["state"] {
		if s == "" || slices.Contains(f.states, s) {
			continue
		}
		if !slices.Contains(filterStates, s) {
			return f, fmt.Errorf("state %.40q: want one of %s", s, strings.Join(filterStates, ", "))
		}
		f.states = append(f.states, s)
	}
	texts := slices.DeleteFunc(slices.Clone(q["q"]), func(s string) bool { return strings.TrimSpace(s) == "" })
	switch {
	case len(texts) > 1:
		return f, fmt.Errorf("q: given %d times; want one text", len(texts))
	case len(texts) == 0:
		return f, nil
	}
	t := strings.TrimSpace(texts[0])
	switch {
	case !utf8.ValidString(t):
		return f, errors.New("q: not UTF-8")
	case utf8.RuneCountInString(t) > maxFilterText:
		return f, fmt.Errorf("q: %d characters; at most %d", utf8.RuneCountInString(t), maxFilterText)
	case strings.ContainsFunc(t, unicode.IsControl):
		return f, errors.New("q: control characters")
	}
	f.text, f.words = t, strings.Fields(fold(t))
	if len(f.words) > maxFilterWords {
		return f, fmt.Errorf("q: %d words; at most %d", len(f.words), maxFilterWords)
	}
	return f, nil
}

// viFold maps each Vietnamese letter with a diacritic (either case) to
// its base letter, lower case: "Cổng khu" is found by "cong khu".
var viFold = func() map[rune]rune {
	m := map[rune]rune{}
	for _, g := range []string{"aàáạảãâầấậẩẫăằắặẳẵ", "eèéẹẻẽêềếệểễ", "iìíịỉĩ", "oòóọỏõôồốộổỗơờớợởỡ", "uùúụủũưừứựửữ", "yỳýỵỷỹ", "dđ"} {
		rs := []rune(g)
		for _, r := range rs[1:] {
			m[r], m[unicode.ToUpper(r)] = rs[0], rs[0]
		}
	}
	return m
}()

// fold is s as the text filter compares it: lower case, without
// Vietnamese diacritics (precomposed or combining), '_' as a space.
func fold(s string) string {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c < utf8.RuneSelf && (c < 'A' || c > 'Z') && c != '_'
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '_':
			b.WriteByte(' ')
		case r < utf8.RuneSelf:
			b.WriteRune(unicode.ToLower(r))
		case r >= 0x300 && r <= 0x36f: // combining diacritical marks
		default:
			if base, ok := viFold[r]; ok {
				b.WriteRune(base)
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
		}
	}
	return b.String()
}

// labelText is, for each kind and state, the text the filter matches
// besides its name: its labels in both languages, folded.
var labelText = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	add := func(key, name string) {
		if l, ok := catalogue[key]; ok {
			m[key] = fold(name + " " + l.vi + " " + l.en)
		}
	}
	for _, k := range filterKinds {
		add("ev."+k, k)
	}
	add("filter.gap", kindGap)
	add("filter.notice", kindNotice)
	for key := range catalogue {
		if name, ok := strings.CutPrefix(key, "state."); ok {
			add(key, name)
		} else if name, ok := strings.CutPrefix(key, "mode."); ok {
			add(key, name)
		} else if name, ok := strings.CutPrefix(key, "outcome."); ok {
			add(key, name)
		}
	}
	return m
})

// matcher tests records against an events query's filters.
type matcher struct {
	keep         func(gateway string) bool
	since, until time.Time
	kinds        []string
	states       []string
	words        []string
	// ack finds the acknowledgement of the record with an arrival number
	// (nil: none is known).
	ack func(arrival uint64) (store.Ack, bool)
	dir Directory

	gwText  map[string]string // folded: id, name, site, site name
	ackText map[uint64]string // folded: outcome, its labels, officer, note
}

func newMatcher(q Query, dir Directory) *matcher {
	m := &matcher{keep: q.Keep, since: q.Since, until: q.Until, kinds: q.Kinds, states: q.States, ack: q.Acked, dir: dir}
	if m.keep == nil {
		m.keep = func(string) bool { return true }
	}
	if q.Text != "" {
		m.words = strings.Fields(fold(q.Text))
	}
	return m
}

// match reports whether r (its line ln, nil for a gap or notice) passes
// every filter. alarm tells whether an event is an alarm to review when
// its line cannot (attrs.alarm): it is called only then.
func (m *matcher) match(r *store.Record, ln *store.Line, alarm func() (bool, error)) (bool, error) {
	if r.Type == store.RecordSnapshot || !m.keep(r.Gateway) {
		return false, nil
	}
	at := r.Time
	if ln != nil {
		at = ln.Time
	}
	if (!m.since.IsZero() && at.Before(m.since)) || (!m.until.IsZero() && !at.Before(m.until)) {
		return false, nil
	}
	if len(m.kinds) > 0 && !slices.Contains(m.kinds, recordKind(r, ln)) {
		return false, nil
	}
	if len(m.words) > 0 && !m.matchText(r, ln) {
		return false, nil
	}
	if len(m.states) == 0 {
		return true, nil
	}
	return m.matchState(r, ln, alarm)
}

// bodies reports whether most events' bodies will be read: for
// state=review, unless a kind filter leaves only alarm kinds.
func (m *matcher) bodies() bool {
	if !slices.Contains(m.states, stateReview) {
		return false
	}
	return len(m.kinds) == 0 || slices.ContainsFunc(m.kinds, func(k string) bool { return !alarmKinds[k] && k != kindGap && k != kindNotice })
}

// recordKind is what the kind filter compares: an event's kind, else the
// record's type.
func recordKind(r *store.Record, ln *store.Line) string {
	switch {
	case ln != nil:
		return ln.Kind
	case r.Type == store.RecordGap:
		return kindGap
	}
	return kindNotice
}

func (m *matcher) acked(r *store.Record) (store.Ack, bool) {
	if m.ack == nil {
		return store.Ack{}, false
	}
	return m.ack(r.Arrival)
}

// matchState: any of the states asked for. An acknowledgement exists only
// for an alarm, so acked and the outcomes need no more; review needs to
// know the record is an alarm, which its line tells for every alarm kind
// (IsAlarm), but not for an event of another kind marked attrs.alarm
// (no gateway sends one yet): alarm reads its body.
func (m *matcher) matchState(r *store.Record, ln *store.Line, alarm func() (bool, error)) (bool, error) {
	a, acked := m.acked(r)
	review := false
	for _, s := range m.states {
		switch s {
		case stateActive, stateInactive:
			if ln != nil && ln.State == s {
				return true, nil
			}
		case stateAcked:
			if acked {
				return true, nil
			}
		case stateReview:
			review = !acked
		default: // an outcome
			if acked && a.Outcome == s {
				return true, nil
			}
		}
	}
	if !review {
		return false, nil
	}
	if ln == nil {
		return IsAlarm(Item{Type: r.Type, Later: r.Later, Notice: r.Notice}), nil
	}
	switch {
	case ln.Test, ln.Kind == "alarm" && ln.State == "restored":
		return false, nil
	case alarmKinds[ln.Kind]:
		return true, nil
	case alarm == nil:
		return false, nil
	}
	return alarm()
}

// bodyAlarm reports whether a stored event's JSON marks it attrs.alarm.
func bodyAlarm(body []byte) bool {
	if !bytes.Contains(body, []byte(`"alarm"`)) {
		return false
	}
	var ev struct {
		Attrs map[string]any `json:"attrs"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return false
	}
	b, _ := ev.Attrs["alarm"].(bool)
	return b
}

// matchText: every word of the text is in one of the record's fields:
// its gateway's id, name, site and site name, its source (a sensor's or
// camera's name), its kind and state with their labels, and its
// acknowledgement (outcome, officer, note).
func (m *matcher) matchText(r *store.Record, ln *store.Line) bool {
	var fields [5]string
	fields[0] = m.gatewayText(r.Gateway)
	labels := labelText()
	switch {
	case ln != nil:
		fields[1] = fold(ln.Source)
		fields[2] = labels["ev."+ln.Kind]
		if fields[2] == "" {
			fields[2] = fold(ln.Kind)
		}
		fields[3] = labels["state."+ln.State] + " " + labels["mode."+ln.State]
		if fields[3] == " " {
			fields[3] = fold(ln.State)
		}
	case r.Type == store.RecordGap:
		fields[2] = labels["filter.gap"]
	default:
		fields[2] = labels["filter.notice"]
	}
	fields[4] = m.ackFields(r)
	for _, w := range m.words {
		found := false
		for _, f := range fields {
			if strings.Contains(f, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (m *matcher) gatewayText(gw string) string {
	if t, ok := m.gwText[gw]; ok {
		return t
	}
	if m.gwText == nil {
		m.gwText = map[string]string{}
	}
	t := gw
	if e, ok := m.dir[gw]; ok {
		t = strings.Join([]string{gw, e.Name, e.Site, e.SiteName}, " ")
	}
	t = fold(t)
	m.gwText[gw] = t
	return t
}

func (m *matcher) ackFields(r *store.Record) string {
	if t, ok := m.ackText[r.Arrival]; ok {
		return t
	}
	a, ok := m.acked(r)
	if !ok {
		return ""
	}
	if m.ackText == nil {
		m.ackText = map[uint64]string{}
	}
	t := labelText()["outcome."+a.Outcome] + " " + fold(a.User+" "+a.Note)
	m.ackText[r.Arrival] = t
	return t
}

// ackLookup is the principal's acknowledgements by arrival number, for
// the state and text filters (nil when no filter needs them).
func (v *view) ackLookup(f eventsFilter) (func(uint64) (store.Ack, bool), error) {
	if v.s.o.Reviews == nil || (len(f.states) == 0 && len(f.words) == 0) {
		return nil, nil
	}
	all, err := v.s.o.Reviews.Acks()
	if err != nil {
		return nil, err
	}
	byArrival := make(map[uint64]store.Ack, len(all))
	for k, a := range all {
		if n, err := strconv.ParseUint(strings.TrimPrefix(k, "a"), 10, 64); err == nil && strings.HasPrefix(k, "a") {
			byArrival[n] = a
		}
	}
	return func(n uint64) (store.Ack, bool) { a, ok := byArrival[n]; return a, ok }, nil
}

// query is the Query of filter f for principal v: its site limits, the
// gateway and site asked for, and the filters.
func (v *view) query(f eventsFilter, before uint64, limit int) (Query, error) {
	acked, err := v.ackLookup(f)
	if err != nil {
		return Query{}, err
	}
	return v.queryAcked(f, before, limit, acked), nil
}

// queryAcked is query with the acknowledgements read already.
func (v *view) queryAcked(f eventsFilter, before uint64, limit int, acked func(uint64) (store.Ack, bool)) Query {
	return Query{Before: before, Limit: limit, Since: f.since, Until: f.until, Kinds: f.kinds, States: f.states, Text: f.text, Acked: acked,
		Keep: func(gw string) bool {
			return (f.gateway == "" || gw == f.gateway) && (f.site == "" || v.site[gw] == f.site) && v.allows(gw)
		}}
}

// feedFilter is the live feed's test of an item against filter f: the
// same as the events page's, over the same directory (the gateways the
// principal's view lists), read again at most every feedDirEvery. The
// acknowledgements are read once, at the first item: they matter for
// the items a resumed feed sends from before it opened, while a new item
// has none (reading them all again every second cost each filtered feed
// tens of milliseconds of CPU a second on a station with a year of
// them). The caller checks the principal's limits first.
func (v *view) feedFilter(f eventsFilter) func(it Item) bool {
	if !f.any() {
		return func(Item) bool { return true }
	}
	var m *matcher
	var at time.Time
	var acked func(uint64) (store.Ack, bool)
	ackRead := false
	return func(it Item) bool {
		if m == nil || time.Since(at) >= feedDirEvery {
			if !ackRead {
				var err error
				if acked, err = v.ackLookup(f); err != nil {
					v.s.log.Error("live feed: read acknowledgements", "err", err)
					return false
				}
				ackRead = true
			}
			q := v.queryAcked(f, 0, 0, acked)
			gws, _ := v.all()
			dir := make(Directory, len(gws))
			for _, g := range gws {
				dir[g.ID] = DirEntry{ID: g.ID, Name: g.Name, Site: g.Site, SiteName: g.SiteName}
			}
			m, at = newMatcher(q, dir), time.Now()
		}
		r := store.Record{Arrival: it.Arrival, Type: it.Type, Gateway: it.Gateway, Time: it.Stored, Later: it.Later, Notice: it.Notice, Gap: it.Gap}
		var ln *store.Line
		if it.Event != nil {
			ln = store.LineOf(it.Event)
		}
		ok, _ := m.match(&r, ln, func() (bool, error) { return it.Alarm, nil })
		return ok
	}
}

// feedURL is the live feed of filter q (the page's query): the page
// opens it so that rows arriving live are the rows the filters show.
func feedURL(f eventsFilter, q url.Values) string {
	v := f.values(q)
	v.Del("until") // a live feed with an end in the past shows nothing: the page does not run it
	if len(v) == 0 {
		return "/api/feed"
	}
	return "/api/feed?" + v.Encode()
}

// optGroup is one group of a filter's select.
type optGroup struct {
	Label   string
	Options []option
}

type option struct {
	Value, Label string
	Selected     bool
}

func options(values, sel []string, label func(string) string) []option {
	out := make([]option, 0, len(values))
	for _, v := range values {
		out = append(out, option{Value: v, Label: label(v), Selected: slices.Contains(sel, v)})
	}
	return out
}

// kindLabel is a kind's name on the page.
func kindLabel(lang, k string) string {
	switch k {
	case kindGap:
		return tr(lang, "filter.gap")
	case kindNotice:
		return tr(lang, "filter.notice")
	}
	return trOr(lang, "ev."+k, k)
}

// kindGroups are the kind filter's options, grouped.
func (v *view) kindGroups(sel []string) []optGroup {
	label := func(k string) string { return kindLabel(v.lang, k) }
	return []optGroup{
		{tr(v.lang, "filter.sensors"), options(sensorKinds, sel, label)},
		{tr(v.lang, "filter.alarmsys"), options(alarmKindsUI, sel, label)},
		{tr(v.lang, "filter.cameras"), options(cameraKinds, sel, label)},
		{tr(v.lang, "filter.system"), options(systemKinds, sel, label)},
	}
}

// stateGroups are the state filter's options: an alarm's review, a
// sensor's state.
func (v *view) stateGroups(sel []string) []optGroup {
	label := func(s string) string {
		switch s {
		case stateReview:
			return tr(v.lang, "filter.review")
		case stateAcked:
			return tr(v.lang, "filter.acked")
		case stateActive:
			return tr(v.lang, "filter.active")
		case stateInactive:
			return tr(v.lang, "filter.inactive")
		}
		return tr(v.lang, "filter.outcome", tr(v.lang, "outcome."+s))
	}
	return []optGroup{
		{tr(v.lang, "filter.alarms"), options(filterStates[:5], sel, label)},
		{tr(v.lang, "filter.sensorstate"), options(filterStates[5:], sel, label)},
	}
}
