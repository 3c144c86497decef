package main

import "fmt"

// addLiveRows measures live view (docs/live.md, docs/performance.md "Live
// view"): Chromium's first frame through WHEP, the CPU and memory of each
// viewer, and an idle gateway's 4G data per day.
func addLiveRows(add func(row)) {
	ff, err := goBench("./uplink/live/", "^BenchmarkChromiumFirstFrame$", "20x", 1)
	if err != nil {
		fatal(err)
	}
	f := ff["BenchmarkChromiumFirstFrame"]
	add(row{"live: offer → first decoded frame in Chromium, warm camera, GOP 2 s, median of 20", fmt.Sprintf("%.1f ms", f["ms-first-frame-p50"]), "≤ 250 ms", verdict(f["ms-first-frame-p50"] <= 250)})
	add(row{"live: the same, p95 of 20", fmt.Sprintf("%.1f ms", f["ms-first-frame-p95"]), "≤ 400 ms", verdict(f["ms-first-frame-p95"] <= 400)})
	add(row{"live: behind live after 3 s (jitter buffer delay per frame)", fmt.Sprintf("%.1f ms", f["ms-behind-live-3s"]), "≤ 150 ms", verdict(f["ms-behind-live-3s"] <= 150)})

	cold, err := goBench("./uplink/live/", "^BenchmarkChromiumFirstFrameCold$", "10x", 1)
	if err != nil {
		fatal(err)
	}
	c := cold["BenchmarkChromiumFirstFrameCold"]
	add(row{"live: the same, cold camera, median / p95 of 10 (GOP 2 s)", fmt.Sprintf("%.0f / %.0f ms", c["ms-first-frame-p50"], c["ms-first-frame-p95"]), "reported", ""})

	for _, procs := range []string{"", "1"} {
		var env []string
		label := "2 cores"
		if procs != "" {
			env, label = []string{"GOMAXPROCS=" + procs}, "GOMAXPROCS=1"
		}
		cpu, err := goBenchEnv(env, "./uplink/live/", "^BenchmarkViewerCPU$", "3x", 1)
		if err != nil {
			fatal(err)
		}
		v := cpu["BenchmarkViewerCPU"]
		add(row{"live: CPU per viewer at 2 Mbit/s, 1 → 8 viewers (" + label + ")", fmt.Sprintf("%.2f %% of a core", v["%core-per-viewer"]), "≤ 1 %", verdict(v["%core-per-viewer"] <= 1)})
		add(row{"live: RSS per viewer (" + label + ")", fmt.Sprintf("%.2f MiB", v["MiB-rss-per-viewer"]), "≤ 2 MiB", verdict(v["MiB-rss-per-viewer"] <= 2)})
	}

	// The real gateway over mqtts through a counting proxy, nobody
	// watching, for ~60 s (ANTT_IDLE_WINDOW=10m for the window).
	idle, err := goBench("./uplink/live/", "^BenchmarkIdleUplink4G$", "1x", 1)
	if err != nil {
		fatal(err)
	}
	i := idle["BenchmarkIdleUplink4G"]
	add(row{fmt.Sprintf("idle gateway's 4G data, mqtts, keepalive 30 s, telemetry 60 s (%.0f s window, extrapolated)", i["window-s"]),
		fmt.Sprintf("%.2f MiB/day (%.0f B up, %.0f B down)", i["MiB/day"], i["up-B"], i["down-B"]), "≤ 1 MiB/day", verdict(i["MiB/day"] <= 1)})
}
