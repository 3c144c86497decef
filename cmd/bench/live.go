package main

import "fmt"

// addLiveRows measures live view (docs/live.md, docs/performance.md "Live
// view"): Chromium's first frame through WHEP, warm and cold, and how far
// behind live it plays; the CPU and memory of each viewer; the hub's
// hand-off to the live feed; an idle gateway's 4G data per day; and what
// a minute of live view costs. `go run ./cmd/bench -live` runs these rows
// alone; ANTT_IDLE_WINDOW=10m gives the idle row the window
// (default 60 s).
func addLiveRows(add func(row)) {
	ff, err := goBench("./uplink/live/", "^BenchmarkChromiumFirstFrame$", "20x", 1)
	if err != nil {
		fatal(err)
	}
	f := ff["BenchmarkChromiumFirstFrame"]
	gop := fmt.Sprintf("GOP %.0f s", f["ms-gop"]/1000)
	add(row{"live: offer → first decoded frame in Chromium, warm camera, " + gop + ", median of 20", fmt.Sprintf("%.1f ms", f["ms-first-frame-p50"]), "≤ 250 ms", verdict(f["ms-first-frame-p50"] <= 250)})
	add(row{"live: the same, p95 of 20", fmt.Sprintf("%.1f ms", f["ms-first-frame-p95"]), "≤ 400 ms", verdict(f["ms-first-frame-p95"] <= 400)})
	add(row{"live: behind live after 3 s (jitter buffer delay per frame)", fmt.Sprintf("%.1f ms", f["ms-behind-live-3s"]), "≤ 150 ms", verdict(f["ms-behind-live-3s"] <= 150)})

	cold, err := goBench("./uplink/live/", "^BenchmarkChromiumFirstFrameCold$", "10x", 1)
	if err != nil {
		fatal(err)
	}
	c := cold["BenchmarkChromiumFirstFrameCold"]
	add(row{fmt.Sprintf("live: the same, cold camera, median / p95 of 10 (the camera's GOP: %.0f s)", c["ms-gop"]/1000),
		fmt.Sprintf("%.0f / %.0f ms", c["ms-first-frame-p50"], c["ms-first-frame-p95"]), "reported", ""})

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
		add(row{"live: CPU of the first viewer, its feed included (" + label + ")", fmt.Sprintf("%.2f %% of a core", v["%core-first-viewer"]), "reported", ""})
		add(row{"live: RSS per viewer (" + label + ")", fmt.Sprintf("%.2f MiB", v["MiB-rss-per-viewer"]), "≤ 2 MiB", verdict(v["MiB-rss-per-viewer"] <= 2)})
	}

	ho, err := goBench("./uplink/live/", "^BenchmarkFeedHandOff$", "5x", 1)
	if err != nil {
		fatal(err)
	}
	h := ho["BenchmarkFeedHandOff"]
	add(row{"live: the hub's hand-off to its first consumer (a trivial one) / the first live viewer, % of a core",
		fmt.Sprintf("%.3f / %.2f %% (the hand-off: %.0f %% of the viewer)", h["%core-trivial-consumer"], h["%core-first-viewer"], h["%handoff-of-viewer"]), "reported", ""})

	// The real gateway over mqtts through a counting proxy, nobody
	// watching (ANTT_IDLE_WINDOW sets the window).
	idle, err := goBench("./uplink/live/", "^BenchmarkIdleUplink4G$", "1x", 1)
	if err != nil {
		fatal(err)
	}
	i := idle["BenchmarkIdleUplink4G"]
	add(row{fmt.Sprintf("idle gateway's 4G data, mqtts, keepalive 30 s, telemetry 60 s (%.0f s window, extrapolated)", i["window-s"]),
		fmt.Sprintf("%.2f MiB/day (%.0f B up, %.0f B down)", i["MiB/day"], i["up-B"], i["down-B"]), "≤ 1 MiB/day", verdict(i["MiB/day"] <= 1)})

	lm, err := goBench("./uplink/live/", "^BenchmarkLiveMinute$", "1x", 1)
	if err != nil {
		fatal(err)
	}
	l := lm["BenchmarkLiveMinute"]
	for _, q := range []struct{ name, what string }{{"low", "320×180, 300 kbit/s"}, {"high", "640×360, 2 Mbit/s"}} {
		add(row{"live: one minute of live view, " + q.name + " quality (" + q.what + "), RTP / with SRTP",
			fmt.Sprintf("%.1f / %.1f MiB", l["MiB/min-"+q.name], l["MiB/min-srtp-"+q.name]), "reported", ""})
	}
}

// addLiveSizeRows reports the stripped gateway (pion included) against
// live view's size target.
func addLiveSizeRows(add func(row)) {
	for _, t := range []struct{ name, arch, arm string }{{"armv7", "arm", "7"}, {"arm64", "arm64", ""}} {
		size, err := binarySize(t.arch, t.arm)
		if err != nil {
			fatal(err)
		}
		mib := float64(size) / (1 << 20)
		add(row{"live: stripped gateway with pion, linux/" + t.name, fmt.Sprintf("%.2f MiB", mib), "≤ 14 MiB", verdict(mib <= 14)})
	}
}
