package web

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Query selects a page of items: the filters of the events page and of
// GET /api/events.
type Query struct {
	// Before is an arrival number: items stored before it (0: from the
	// newest); the next page's is the page's next.
	Before uint64
	Limit  int
	// Keep accepts a gateway (the account's limits, a site, one gateway).
	Keep func(gateway string) bool
	// Since and Until bound the event's own time (the gateway's clock, as
	// the page shows it; a gap's or notice's is when it was stored):
	// Since ≤ time < Until; zero is open.
	Since, Until time.Time
	// Kinds keeps the events of these kinds, and gaps ("gap") and notices
	// ("notice"); States the records in one of these states (filters.go:
	// an alarm's review or outcome, a sensor's active or inactive); Text
	// the records whose every word is in their gateway's or site's name,
	// source, kind, state or acknowledgement, case and Vietnamese
	// diacritics aside. Empty: no filter.
	Kinds, States []string
	Text          string
	// Acked finds the acknowledgement of an arrival (for States and Text);
	// nil: none.
	Acked func(arrival uint64) (store.Ack, bool)
}

// briefReader is the store's cheaper read of the arrival index: an event's
// body is left out when its record carries the line (kind, source, state,
// time). *store.Store has it; a store without it is read with After.
type briefReader interface {
	AfterBrief(n uint64, limit int) ([]store.Record, error)
}

// keptReader is the store's read of the arrival index that passes over,
// undecoded, the records of the gateways a query does not keep
// (store.AfterBriefOf): a site's day is a twentieth of the station's.
type keptReader interface {
	AfterBriefOf(n uint64, limit int, f *store.GatewayFilter) ([]store.Record, error)
}

// brief reads up to limit records after arrival n, bodies left out where
// the store can.
func (d *StoreData) brief(n uint64, limit int) ([]store.Record, error) {
	if b, ok := d.Store.(briefReader); ok {
		return b.AfterBrief(n, limit)
	}
	return d.Store.After(n, limit)
}

// body reads an event's stored JSON into r.Event when the brief read
// left it out.
func (d *StoreData) body(r *store.Record) error {
	if r.Type != store.RecordEvent || r.Event != nil {
		return nil
	}
	var err error
	if r.Event, _, err = d.Store.Event(r.Gateway, r.Epoch, r.Seq); err != nil {
		return fmt.Errorf("read event %s/%d: %w", r.Gateway, r.Seq, err)
	}
	return nil
}

// recordLine is an event's line: kept in its record, or, in a record
// stored before lines were, decoded from its body (which the brief read
// then holds); nil for a gap or notice.
func recordLine(r store.Record) *store.Line {
	if r.Type != store.RecordEvent {
		return nil
	}
	if r.Line != nil {
		return r.Line
	}
	var ev wire.Event
	if json.Unmarshal(r.Event, &ev) != nil {
		return &store.Line{Kind: "?", Time: r.Time}
	}
	if ev.Time.IsZero() {
		ev.Time = r.Time
	}
	return store.LineOf(&ev)
}

// recordTime is the time a query compares: an event's own, else when
// the record was stored.
func recordTime(r store.Record) time.Time {
	if r.Type != store.RecordEvent {
		return r.Time
	}
	if r.Line != nil {
		return r.Line.Time
	}
	var ev struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(r.Event, &ev) == nil && !ev.Time.IsZero() {
		return ev.Time
	}
	return r.Time
}

// firstAt is the first arrival number (1..last) whose time is not before
// t, last+1 when none, found by binary search over the arrival index. The
// index is in order of arrival, which is the order of the events' times
// except for a backlog delivered late or a gateway whose clock is wrong:
// the search then lands near, not exactly on, the boundary
// (docs/api.md "Time filters").
func (d *StoreData) firstAt(t time.Time, last uint64) (uint64, error) {
	lo, hi := uint64(1), last+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		recs, err := d.brief(mid-1, 1)
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 || recordTime(recs[0]).Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// Query implements Events: the arrival index read backwards in chunks
// from Before (bounded by the time span, found by binary search), up to
// MaxScan records, each tested by what its record holds (matcher); an
// event's body is read only for the items kept (and for state=review,
// see matcher.matchState).
func (d *StoreData) Query(q Query) ([]Item, uint64, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	maxScan := d.MaxScan
	if maxScan <= 0 {
		maxScan = 20000
	}
	m := newMatcher(q, d.Dir)
	last, err := d.Store.LastArrival()
	if err != nil {
		return nil, 0, err
	}
	hi := last // the newest arrival still to look at
	if q.Before > 0 && q.Before-1 < hi {
		hi = q.Before - 1
	}
	var floor uint64 // arrivals at or below it are not looked at
	if !q.Since.IsZero() {
		first, err := d.firstAt(q.Since, last)
		if err != nil {
			return nil, 0, err
		}
		floor = first - 1
	}
	if !q.Until.IsZero() {
		end, err := d.firstAt(q.Until, last)
		if err != nil {
			return nil, 0, err
		}
		hi = min(hi, end-1)
	}
	kept := store.NewGatewayFilter(m.keep) // for keptReader, over every chunk
	// The page's records, made items at its end (items: one read for all).
	var out []store.Record
	page := func(next uint64) ([]Item, uint64, error) {
		items, err := d.items(out)
		if err != nil {
			return nil, 0, err
		}
		return items, next, nil
	}
	for scanned := 0; hi > floor && scanned < maxScan; {
		chunk := min(uint64(256), hi-floor)
		lo := hi - chunk
		read := d.brief
		if kr, ok := d.Store.(keptReader); ok {
			read = func(n uint64, limit int) ([]store.Record, error) { return kr.AfterBriefOf(n, limit, kept) }
		}
		if m.bodies() {
			read = d.Store.After // in the chunk's one transaction, not one each
		}
		recs, err := read(lo, int(chunk))
		if err != nil {
			return nil, 0, err
		}
		for i := len(recs) - 1; i >= 0; i-- {
			r := recs[i]
			if r.Arrival > hi {
				continue
			}
			if scanned == maxScan { // the budget is spent: the next page starts at r
				return page(r.Arrival + 1)
			}
			scanned++
			if r.Type == "" { // passed over by AfterBriefOf: a gateway m.keep refuses
				continue
			}
			ok, err := m.match(&r, recordLine(r), func() (bool, error) {
				if err := d.body(&r); err != nil {
					return false, err
				}
				return bodyAlarm(r.Event), nil
			})
			if err != nil {
				return nil, 0, err
			}
			if !ok {
				continue
			}
			out = append(out, r)
			if len(out) == limit {
				return page(r.Arrival)
			}
		}
		hi = lo
	}
	if hi <= floor {
		return page(0)
	}
	return page(hi + 1)
}
