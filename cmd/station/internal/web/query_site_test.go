package web

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// plainStore is the store without AfterBriefOf: Query then reads every
// record of the span in full, as it did before the kept read.
type plainStore struct {
	StoreReader
	b briefReader
}

func (p plainStore) AfterBrief(n uint64, limit int) ([]store.Record, error) {
	return p.b.AfterBrief(n, limit)
}

// A query read with the store's kept read (AfterBriefOf, which passes
// over other gateways' records undecoded) gives the same pages, items
// and next, as the full read: for one gateway, one site, every gateway,
// with a time span, the kind, state and text filters, gaps among the
// events, and a scan budget that ends pages early.
func TestQueryKeptReadSame(t *testing.T) {
	f := newFixture(t)
	day0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	for h := range 96 {
		at := day0.Add(time.Duration(h) * 45 * time.Minute)
		kind, source, state := "motion", "pir", "active"
		if h%7 == 0 {
			kind, source, state = "door", "gate", "open"
		}
		if h%11 == 0 {
			f.seq[gwGate] += 2 // a gap of two seqs: a gap record of gwGate
		}
		f.storeEvent(gwGate, wire.Event{Kind: kind, Source: source, State: state, Time: at, ClockSynced: true})
		for range 3 { // the other site's records outnumber the asked one's
			f.storeEvent(gwSchool, wire.Event{Kind: "motion", Source: "pir", State: "active", Time: at, ClockSynced: true})
		}
	}
	if _, ok := any(f.st).(keptReader); !ok {
		t.Fatal("*store.Store has no AfterBriefOf: the test compares nothing")
	}
	since := day0.AddDate(0, 0, 1)
	queries := map[string]Query{
		"gateway":    {Keep: func(gw string) bool { return gw == gwGate }},
		"site-day":   {Keep: func(gw string) bool { return testDir[gw].Site == "khu-3" }, Since: since, Until: since.AddDate(0, 0, 1)},
		"all":        {Keep: func(string) bool { return true }},
		"none":       {Keep: func(string) bool { return false }},
		"kinds":      {Keep: func(gw string) bool { return gw == gwGate }, Kinds: []string{"door", kindGap}},
		"state":      {Keep: func(gw string) bool { return gw == gwGate }, States: []string{"open"}},
		"text":       {Keep: func(gw string) bool { return gw == gwGate }, Text: "cong gate"},
		"since-only": {Keep: func(gw string) bool { return gw == gwGate }, Since: since},
	}
	var kept int
	for name, q := range queries {
		for _, budget := range []int{0, 17, 100} {
			for _, limit := range []int{1, 7, 50} {
				t.Run(fmt.Sprintf("%s/budget-%d/limit-%d", name, budget, limit), func(t *testing.T) {
					fast := &StoreData{Store: f.st, Dir: testDir, MaxScan: budget}
					full := &StoreData{Store: plainStore{f.st, f.st}, Dir: testDir, MaxScan: budget}
					q := q
					q.Limit = limit
					for page := 0; ; page++ {
						if page > 500 {
							t.Fatal("paging does not end")
						}
						got, gotNext, err := fast.Query(q)
						if err != nil {
							t.Fatal(err)
						}
						want, wantNext, err := full.Query(q)
						if err != nil {
							t.Fatal(err)
						}
						if !reflect.DeepEqual(got, want) || gotNext != wantNext {
							t.Fatalf("page %d before %d: kept read %d items next %d, full read %d items next %d",
								page, q.Before, len(got), gotNext, len(want), wantNext)
						}
						kept += len(got)
						if gotNext == 0 {
							return
						}
						q.Before = gotNext
					}
				})
			}
		}
	}
	if kept == 0 {
		t.Fatal("no query found anything: the comparison is empty")
	}
}
