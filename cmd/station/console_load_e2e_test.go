package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// consoleLoad is what one run of the console load measured.
type consoleLoad struct {
	published int
	// latency of each event in each feed: published (appended to the
	// gateway's outbox, its Time) to read from the feed by the client.
	latency []time.Duration
	// stored: published to committed by the station (its store's clock,
	// the same machine); shown: committed to read from the feed.
	stored, shown []time.Duration
	lost          int // events a feed did not show
	dups          int // events a feed showed twice
	rssKB         int // the station's resident memory at the end, every gateway and feed connected
}

// runConsoleLoad runs the real station binary with its console, opens
// feeds live feeds (API tokens, as a district system or browsers would)
// and connects gateways simulated gateways, each its own MQTT connection
// with a real outbox and uplink session in this process; each publishes
// one motion event a second (staggered) for dur. It waits until every
// feed has shown every event, or a deadline.
func runConsoleLoad(tb testing.TB, gateways, feeds int, dur time.Duration, sample func(pid int)) consoleLoad {
	tb.Helper()
	dir := tb.TempDir()
	st := startConsoleStation(tb, filepath.Join(dir, "station"))
	perGW := int(dur / time.Second)
	want := gateways * perGW
	fs := make([]*liveFeed, feeds)
	for i := range fs {
		fs[i] = st.openLiveFeed(tb, "", st.token(tb, fmt.Sprintf("feed-%02d", i), "viewer"), want+1024)
	}
	gws := openSimGateways(tb, filepath.Join(dir, "gws"), gateways, 0, true)
	stop := runSimGateways(tb, gws, st.addr, 0)
	devtest.WaitFor(tb, 2*time.Minute, "every simulated gateway online", func() bool {
		var r struct {
			Gateways []struct {
				Online bool `json:"online"`
			} `json:"gateways"`
		}
		st.api(tb, "GET", "/api/sites", "", "", &r)
		n := 0
		for _, g := range r.Gateways {
			if g.Online {
				n++
			}
		}
		return n == gateways
	})

	// Each feed's reader: every load event, latency, duplicates.
	var mu sync.Mutex
	res := consoleLoad{published: want}
	var readers sync.WaitGroup
	deadline := time.Now().Add(dur + 2*time.Minute)
	for _, f := range fs {
		readers.Go(func() {
			seen := make(map[string]bool, want)
			var lat, sto, sho []time.Duration
			dups := 0
			timer := time.NewTimer(time.Until(deadline))
			defer timer.Stop()
			for len(seen) < want {
				select {
				case it, ok := <-f.items:
					if !ok {
						goto done
					}
					if it.Event == nil || it.Event.Source != "load" {
						continue
					}
					k := it.Gateway + "/" + fmt.Sprint(it.Event.Seq)
					if seen[k] {
						dups++
						continue
					}
					seen[k] = true
					lat = append(lat, it.at.Sub(it.Event.Time))
					sto = append(sto, it.Stored.Sub(it.Event.Time))
					sho = append(sho, it.at.Sub(it.Stored))
				case <-timer.C:
					goto done
				}
			}
		done:
			mu.Lock()
			res.latency = append(res.latency, lat...)
			res.stored = append(res.stored, sto...)
			res.shown = append(res.shown, sho...)
			res.lost += want - len(seen)
			res.dups += dups
			mu.Unlock()
		})
	}

	// Publishers: one event a second per gateway, spread over the second.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pubs sync.WaitGroup
	for i, g := range gws {
		pubs.Go(func() {
			select {
			case <-time.After(time.Duration(i) * time.Second / time.Duration(gateways)):
			case <-ctx.Done():
				return
			}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for n := 0; n < perGW; n++ {
				ev := &wire.Event{Kind: wire.KindMotion, Source: "load", State: wire.StateActive, Time: time.Now(), ClockSynced: true, Boot: "sim"}
				if _, err := g.ob.Append(ctx, ev); err != nil {
					tb.Errorf("%s: append: %v", g.id, err)
					return
				}
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	pubs.Wait()
	readers.Wait()
	res.rssKB = devtest.ProcStatusKB(tb, st.cmd.Process.Pid, "VmRSS")
	if sample != nil {
		sample(st.cmd.Process.Pid)
	}
	for _, f := range fs {
		f.cancel()
	}
	stop()
	st.stop(tb)
	slices.Sort(res.latency)
	slices.Sort(res.stored)
	slices.Sort(res.shown)
	return res
}

// quantile is the q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// TestConsoleLoad: 200 simulated gateways (40 under -short), each its own
// MQTT connection, at 1 event/s each for 60 s (10 s under -short), and 20
// live feeds: every feed shows every event, each once. The latency
// figures are BenchmarkConsoleFeed's; this test only logs them.
func TestConsoleLoad(t *testing.T) {
	t.Parallel()
	gateways, dur := 200, 60*time.Second
	if testing.Short() {
		gateways, dur = 40, 10*time.Second
	}
	r := runConsoleLoad(t, gateways, 20, dur, nil)
	if r.lost > 0 || r.dups > 0 {
		t.Errorf("%d events × 20 feeds: %d not shown, %d shown twice", r.published, r.lost, r.dups)
	}
	t.Logf("%d gateways, %d events, 20 feeds: feed latency p50 %v p99 %v max %v (published → stored p99 %v, stored → shown p99 %v); station RSS %d MiB",
		gateways, r.published, quantile(r.latency, .5), quantile(r.latency, .99), quantile(r.latency, 1),
		quantile(r.stored, .99), quantile(r.shown, .99), r.rssKB/1024)
}

// BenchmarkConsoleFeed: the console's figures of docs/performance.md
// (`go run ./cmd/bench -console`): 200 gateways at 1 event/s each and 20
// live feeds for ANTT_CONSOLE_LOAD (default 60 s): the time from an event
// published on the gateway to its arrival in a feed (p50, p99, max over
// every event in every feed), the station's RSS, and its CPU per event.
func BenchmarkConsoleFeed(b *testing.B) {
	dur := 60 * time.Second
	if s := os.Getenv("ANTT_CONSOLE_LOAD"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("ANTT_CONSOLE_LOAD %q: %v", s, err)
		}
		dur = d
	}
	var r consoleLoad
	var cpu float64
	for b.Loop() {
		r = runConsoleLoad(b, 200, 20, dur, func(pid int) { cpu = procCPUSeconds(b, pid) })
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(quantile(r.latency, .5)), "p50-ms")
	b.ReportMetric(ms(quantile(r.latency, .99)), "p99-ms")
	b.ReportMetric(ms(quantile(r.latency, 1)), "max-ms")
	b.ReportMetric(ms(quantile(r.stored, .99)), "p99-stored-ms")
	b.ReportMetric(ms(quantile(r.shown, .99)), "p99-shown-ms")
	b.ReportMetric(float64(r.lost), "lost")
	b.ReportMetric(float64(r.rssKB)/1024, "rss-MiB")
	// The station's CPU (ingest, store, 20 feeds) per event published:
	// steadier than the latencies on a shared machine.
	b.ReportMetric(cpu*1e6/float64(r.published), "station-cpu-µs/event")
}
