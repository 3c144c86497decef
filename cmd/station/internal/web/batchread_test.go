package web

import (
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// oneByOne is the store without ReadEvents: Query then reads each
// item's body and snapshot info in a transaction of its own, as it did
// before the page's one read.
type oneByOne struct {
	StoreReader
	briefReader
	keptReader
}

// lineless is the store as one of records stored before Lines were: the
// brief read gives every event's body with its record and no Line (as
// the store does for such a record), the kept read is not offered.
type lineless struct{ StoreReader }

func (l lineless) AfterBrief(n uint64, limit int) ([]store.Record, error) {
	recs, err := l.After(n, limit)
	for i := range recs {
		recs[i].Line = nil
	}
	return recs, err
}

// linelessBatched is lineless with the store's ReadEvents.
type linelessBatched struct {
	lineless
	eventsReader
}

// A page's items built from one read of the store (store.ReadEvents:
// the bodies the records lack and every snapshot info in one
// transaction) are the items built one read per event: every field, for
// events with and without a kept snapshot, gaps, notices of a new epoch
// and of replaced storage, records stored before Lines were (their bodies
// read with the record), alarms, and the filters, spans, budgets and page
// sizes of TestQueryKeptReadSame. (store's TestReadEventsSame covers the
// previous layout's events.)
func TestQueryItemsOneReadSame(t *testing.T) {
	f := newFixture(t)
	st := f.st
	day0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.FixedZone("ICT", 7*3600))
	snap := func(gw string, seq uint64) {
		t.Helper()
		if _, err := st.Add(gw, wire.TopicSnapshot+"/"+strconv.FormatUint(seq, 10), []byte("\xff\xd8jpeg "+gw)); err != nil {
			t.Fatal(err)
		}
	}
	for h := range 96 {
		at := day0.Add(time.Duration(h) * 45 * time.Minute)
		kind, source, state := "motion", "pir", "active"
		if h%7 == 0 {
			kind, source, state = "door", "gate", "open"
		}
		if h%5 == 0 {
			kind, source, state = wire.KindTamper, "hop-dien", "active" // an alarm to review
		}
		if h%11 == 0 {
			f.seq[gwGate] += 2 // a gap of two seqs: a gap record of gwGate
		}
		seq := f.storeEvent(gwGate, wire.Event{Kind: kind, Source: source, State: state, Time: at, ClockSynced: true})
		if h%3 == 0 {
			snap(gwGate, seq)
		}
		epoch := "s1"
		if h >= 48 {
			epoch = "s2" // a new epoch: a notice
		}
		if h == 48 {
			f.seq[gwSchool] = 0
		}
		for i := range 3 { // the other site's records outnumber the asked one's
			f.seq[gwSchool]++
			f.put(gwSchool, epoch, f.seq[gwSchool], "motion", map[string]any{"zone": i}, at, true)
			if (h+i)%4 == 0 {
				snap(gwSchool, f.seq[gwSchool])
			}
		}
	}
	since := day0.AddDate(0, 0, 1)
	queries := map[string]Query{
		"gateway":    {Keep: func(gw string) bool { return gw == gwGate }},
		"site-day":   {Keep: func(gw string) bool { return testDir[gw].Site == "khu-3" }, Since: since, Until: since.AddDate(0, 0, 1)},
		"all":        {Keep: func(string) bool { return true }},
		"none":       {Keep: func(string) bool { return false }},
		"kinds":      {Keep: func(gw string) bool { return gw == gwGate }, Kinds: []string{"door", kindGap, kindNotice}},
		"state":      {Keep: func(gw string) bool { return gw == gwGate }, States: []string{"open"}},
		"review":     {Keep: func(string) bool { return true }, States: []string{stateReview}},
		"text":       {Keep: func(gw string) bool { return gw == gwGate }, Text: "cong gate"},
		"since-only": {Keep: func(gw string) bool { return gw == gwGate }, Since: since},
	}
	seen := map[string]int{}
	compareOneRead(t, "store", st, oneByOne{st, st, st}, queries, seen)
	compareOneRead(t, "lineless", linelessBatched{lineless{st}, st}, lineless{st}, queries, seen)
	for _, what := range []string{ItemEvent, ItemGap, ItemNotice, "snapshot", "alarm", "store/event", "lineless/event"} {
		if seen[what] == 0 {
			t.Errorf("no query found an item of %s: the comparison leaves it out", what)
		}
	}

}

// compareOneRead runs every query with every budget and page size over
// batched (with ReadEvents) and single (without), following next, and
// fails at the first item, next or page that differs; seen counts the
// items found by type and trait.
func compareOneRead(t *testing.T, name string, batched, single StoreReader, queries map[string]Query, seen map[string]int) {
	t.Helper()
	if _, ok := batched.(eventsReader); !ok {
		t.Fatalf("%s: the batched store has no ReadEvents", name)
	}
	if _, ok := single.(eventsReader); ok {
		t.Fatalf("%s: the single store has ReadEvents", name)
	}
	for qname, q := range queries {
		for _, budget := range []int{0, 17, 100} {
			for _, limit := range []int{1, 7, 50, 500} {
				t.Run(fmt.Sprintf("%s/%s/budget-%d/limit-%d", name, qname, budget, limit), func(t *testing.T) {
					one := &StoreData{Store: batched, Dir: testDir, MaxScan: budget}
					each := &StoreData{Store: single, Dir: testDir, MaxScan: budget}
					q := q
					q.Limit = limit
					for page := 0; ; page++ {
						if page > 1000 {
							t.Fatal("paging does not end")
						}
						got, gotNext, err := one.Query(q)
						if err != nil {
							t.Fatal(err)
						}
						want, wantNext, err := each.Query(q)
						if err != nil {
							t.Fatal(err)
						}
						if gotNext != wantNext || len(got) != len(want) || (got == nil) != (want == nil) {
							t.Fatalf("page %d before %d: one read %d items (nil %v) next %d, one read each %d items (nil %v) next %d",
								page, q.Before, len(got), got == nil, gotNext, len(want), want == nil, wantNext)
						}
						for i := range got {
							if !reflect.DeepEqual(got[i], want[i]) {
								t.Fatalf("page %d before %d, item %d:\n one read  %s\n each read %s",
									page, q.Before, i, mustJSON(t, got[i]), mustJSON(t, want[i]))
							}
						}
						for _, it := range got {
							seen[it.Type]++
							seen[name+"/"+it.Type]++
							if it.Snapshot {
								seen["snapshot"]++
							}
							if it.Alarm {
								seen["alarm"]++
							}
						}
						if gotNext == 0 {
							return
						}
						q.Before = gotNext
					}
				})
			}
		}
	}
}
