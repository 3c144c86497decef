package main

import "fmt"

// addConsoleRows measures the station's web console (docs/performance.md
// "Console"): a feed's latency and the station's memory with 200
// simulated gateways at 1 event/s and 20 live feeds (the real station
// binary, ANTT_CONSOLE_LOAD sets the run's length, default 60 s), the
// first page load's weight and time, and one day's events of one site
// from a store of 1,000,000. `go run ./cmd/bench -console` runs these rows
// alone.
func addConsoleRows(add func(row)) {
	feed, err := goBench("./cmd/station/", "^BenchmarkConsoleFeed$", "1x", 1)
	if err != nil {
		fatal(err)
	}
	f := feed["BenchmarkConsoleFeed"]
	add(row{"console: event published → shown in a feed, 200 gateways at 1 event/s, 20 feeds, p50 / p99", fmt.Sprintf("%.1f / %.1f ms", f["p50-ms"], f["p99-ms"]), "p99 ≤ 300 ms", verdict(f["p99-ms"] <= 300 && f["lost"] == 0)})
	add(row{"console: events not shown in a feed (of every event × 20 feeds)", fmt.Sprintf("%.0f", f["lost"]), "0", verdict(f["lost"] == 0)})
	add(row{"console: the same, published → stored p99 / stored → shown p99", fmt.Sprintf("%.1f / %.1f ms", f["p99-stored-ms"], f["p99-shown-ms"]), "reported", ""})
	add(row{"console: station RSS with 200 gateways and 20 feeds", fmt.Sprintf("%.1f MiB", f["rss-MiB"]), "reported", ""})
	add(row{"console: station CPU per event (ingest, store, 20 feeds; whole run)", fmt.Sprintf("%.0f µs", f["station-cpu-µs/event"]), "reported", ""})

	page, err := goBench("./cmd/station/internal/web/", "^BenchmarkFirstPageLoad$", "50x", 3)
	if err != nil {
		fatal(err)
	}
	p := page["BenchmarkFirstPageLoad"]
	add(row{"console: first page load, login and sites page with every asset, gzip (KB on the wire)", fmt.Sprintf("%.1f KB", p["first-load-KB"]), "≤ 300 KB", verdict(p["first-load-KB"] <= 300)})
	add(row{"console: the same, time over loopback", fmt.Sprintf("%.1f ms", p["ms/load"]), "reported", ""})

	query, err := goBench("./cmd/station/internal/web/", "^BenchmarkQueryDay$", "20x", 3)
	if err != nil {
		fatal(err)
	}
	q := query["BenchmarkQueryDay"]
	add(row{fmt.Sprintf("console: one day's events of one site (%.0f) from a store of 1,000,000", q["found-events"]), fmt.Sprintf("%.1f ms", q["ms/query"]), "≤ 50 ms", verdict(q["ms/query"] <= 50)})
}
