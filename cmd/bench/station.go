package main

import "fmt"

// addStationRows measures the station's figures (docs/performance.md,
// "Station"): the real station binary, whose embedded broker PUBACKs an
// event only after its store committed it, against Mosquitto storing
// nothing, each pair back to back in one `go test` run.
func addStationRows(add func(row)) {
	// 200 gateways (real outboxes and sessions) draining at once.
	in, iratio, err := pairedBench("./cmd/station/", "^BenchmarkIngest(Station|Mosquitto)$", "1x", 3,
		"BenchmarkIngestStation", "BenchmarkIngestMosquitto", "events/s")
	if err != nil {
		fatal(err)
	}
	st, mq := in["BenchmarkIngestStation"], in["BenchmarkIngestMosquitto"]
	add(row{"station ingest, store before PUBACK, 200 gateways draining at once (events/s)", fmt.Sprintf("%.0f", st["events/s"]), "≥ 20,000", verdict(st["events/s"] >= 20000)})
	add(row{"same drain into Mosquitto, persistence off, no store (events/s)", fmt.Sprintf("%.0f", mq["events/s"]), "baseline", ""})
	add(row{"station / Mosquitto (median of per-run ratios)", fmt.Sprintf("%.2f×", iratio), "≥ 0.8×", verdict(iratio >= 0.8)})
	add(row{"station RSS with 200 gateways connected (peak)", fmt.Sprintf("%.1f MiB (%.1f)", st["rss-MiB"], st["peak-MiB"]), "reported", ""})
	add(row{"station RSS idle, before any gateway; store after 100,000 events", fmt.Sprintf("%.1f MiB; %.1f MiB", st["idle-rss-MiB"], st["store-MiB"]), "reported", ""})
	add(row{"station CPU per stored event", fmt.Sprintf("%.1f µs", st["station-cpu-µs/event"]), "reported", ""})

	// One gateway's backlog of 100,000 from the real outbox.
	dr, dratio, err := pairedBench("./uplink/", "^BenchmarkDrain(Station)?$", "1x", 5,
		"BenchmarkDrainStation", "BenchmarkDrain", "events/s")
	if err != nil {
		fatal(err)
	}
	add(row{"drain 100,000 into the station, store before PUBACK (events/s)", fmt.Sprintf("%.0f", dr["BenchmarkDrainStation"]["events/s"]), "", ""})
	add(row{"same drain into Mosquitto (events/s)", fmt.Sprintf("%.0f", dr["BenchmarkDrain"]["events/s"]), "baseline", ""})
	add(row{"station / Mosquitto (median of per-run ratios)", fmt.Sprintf("%.2f×", dratio), "≥ 0.8×", verdict(dratio >= 0.8)})
	// On 2 shared cores both processes are CPU bound, so the CPU each
	// event costs the gateway and the broker is the steadier figure.
	ds, dm := dr["BenchmarkDrainStation"], dr["BenchmarkDrain"]
	add(row{"CPU per event, gateway + broker: station; Mosquitto (µs)",
		fmt.Sprintf("%.1f + %.1f; %.1f + %.1f", ds["gateway-cpu-µs/event"], ds["broker-cpu-µs/event"], dm["gateway-cpu-µs/event"], dm["broker-cpu-µs/event"]), "reported", ""})
}
