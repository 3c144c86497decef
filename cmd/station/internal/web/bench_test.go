package web

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkEventsPage reads the newest page of 50 events from a store of
// 40 gateways at 40 sites: for an unlimited account, and for an officer
// limited to one site (who reads up to 20,000 records to fill it).
func BenchmarkEventsPage(b *testing.B) {
	const gateways, perGateway = 40, 500
	st, err := store.Open(filepath.Join(b.TempDir(), "events.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dir := Directory{}
	var wg sync.WaitGroup
	for g := range gateways {
		id := fmt.Sprintf("gw-%02d", g)
		dir[id] = DirEntry{ID: id, Name: id, Site: fmt.Sprintf("site-%02d", g)}
		wg.Go(func() {
			for seq := uint64(1); seq <= perGateway; seq++ {
				p, _ := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(id, seq), Kind: "motion", Source: "pir",
					State: "active", Time: time.Now(), Boot: "b"})
				if _, err := st.Add(id, wire.TopicEvent, p); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	db, _ := accounts.Open(filepath.Join(b.TempDir(), accounts.FileName), accounts.Options{Params: fastParams})
	data := &StoreData{Store: st, Dir: dir}
	for _, c := range []struct {
		name string
		lim  accounts.Limits
	}{{"all", accounts.Limits{}}, {"one-site", accounts.Limits{Sites: []string{"site-07"}}}} {
		b.Run(c.name, func(b *testing.B) {
			s := &Server{o: Options{Gateways: data, Events: data, Accounts: db}, now: time.Now}
			for b.Loop() {
				v := &view{s: s, p: &principal{role: accounts.Viewer, limits: c.lim}}
				items, _, err := v.events(0, 50, "")
				if err != nil || len(items) != 50 {
					b.Fatalf("%d items, %v", len(items), err)
				}
			}
		})
	}
}

// cpuTime is the CPU time the process has used: on a machine shared with
// other load, a query's wall time says more about the others than about
// the query.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkQueryDay: one day's events of one site from a store of
// 1,000,000 events (ANTT_QUERY_EVENTS changes the count): 100 gateways
// at 20 sites, the events 2.6 s apart over 30 days in arrival order, the
// store built once with the store's writer (Submit, committed in batches
// of up to 4,096). Each query reads every page (500 events) of site-07's
// day 15 as GET /api/events would, following next; ms/query is the
// whole day, cpu-ms/query the CPU time the process spent on it (the
// writer is idle by then), found-events how many it held.
func BenchmarkQueryDay(b *testing.B) {
	total := 1_000_000
	if s := os.Getenv("ANTT_QUERY_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10000 {
			b.Fatalf("ANTT_QUERY_EVENTS %q: want a count of at least 10000", s)
		}
		total = n
	}
	const gateways, sites = 100, 20
	st, err := store.Open(filepath.Join(b.TempDir(), "events.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dir := Directory{}
	for g := range gateways {
		id := fmt.Sprintf("gw-%03d", g)
		dir[id] = DirEntry{ID: id, Name: id, Site: fmt.Sprintf("site-%02d", g%sites)}
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, audit.Vietnam)
	step := 30 * 24 * time.Hour / time.Duration(total)
	built := time.Now()
	var wg sync.WaitGroup
	seqs := make([]uint64, gateways)
	for i := range total {
		g := i % gateways
		id := fmt.Sprintf("gw-%03d", g)
		seqs[g]++
		p, _ := json.Marshal(wire.Event{Seq: seqs[g], ID: wire.EventID(id, seqs[g]), Epoch: "e1", Kind: "motion", Source: "pir",
			State: "active", Time: start.Add(time.Duration(i) * step), ClockSynced: true, Boot: "b"})
		wg.Add(1)
		st.Submit(id, wire.TopicEvent, p, func(_ store.Result, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	b.Logf("store of %d events built in %v", total, time.Since(built).Round(time.Millisecond))
	data := &StoreData{Store: st, Dir: dir}
	since := start.AddDate(0, 0, 14)
	q := Query{Limit: 500, Since: since, Until: since.AddDate(0, 0, 1),
		Keep: func(gw string) bool { return dir[gw].Site == "site-07" }}
	found := 0
	cpu0 := cpuTime(b)
	for b.Loop() {
		found = 0
		q.Before = 0
		for {
			items, next, err := data.Query(q)
			if err != nil {
				b.Fatal(err)
			}
			found += len(items)
			if next == 0 {
				break
			}
			q.Before = next
		}
	}
	if want := total / 30 / sites; found < want*9/10 || found > want*11/10 {
		b.Fatalf("found %d events of the day, want about %d", found, want)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/query")
	b.ReportMetric(float64(found), "found-events")
}
