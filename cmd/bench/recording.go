package main

import "fmt"

// addRecordingRows measures recording and clip upload (docs/performance.md
// "Recording" and "Clip upload"): the recorder's CPU against the camera's
// receive path alone, the recorder's own work without a camera
// (BenchmarkRecordPath), the bytes it writes, the uploader against a bare
// paho publisher of the same chunks into the same station clip store, 20
// gateways uploading at once, and an armed alarm's clip from its event to
// complete at the real station binary.
func addRecordingRows(add func(row)) {
	rec, err := goBench("./device/camera/record/", "^BenchmarkContinuousRecordingCPU$", "1x", 1)
	if err != nil {
		fatal(err)
	}
	r := rec["BenchmarkContinuousRecordingCPU"]
	add(row{"CPU of recording one 2 Mbit/s camera (continuous) / its receive path alone",
		fmt.Sprintf("%+.0f %% (%.1f %% vs %.1f %% of a core)", (r["record/receive"]-1)*100, r["record-cpu-%"], r["receive-cpu-%"]),
		"≤ +25 %", verdict(r["record/receive"] <= 1.25)})
	add(row{"  same, pairs of windows (lowest; highest)", fmt.Sprintf("%.2f×; %.2f×", r["pair-min"], r["pair-max"]), "", ""})
	rp, err := goBench("./device/camera/record/", "^BenchmarkRecordPath$", "5000x", 5)
	if err != nil {
		fatal(err)
	}
	p := rp["BenchmarkRecordPath"]
	add(row{"recorder's own work, 2 Mbit/s, no camera (muxer, SHA-256, writes, fsync and index per fragment; % of a core)",
		fmt.Sprintf("%.3f %% (%.0f µs a frame)", p["core-%@2M"], p["cpu-ns/frame"]/1000), "reported", ""})
	add(row{"bytes written per hour per camera, 2 Mbit/s; 512 kbit/s substream",
		fmt.Sprintf("%.0f MiB; %.0f MiB", r["MiB/h@2M"], r["MiB/h@512k"]), "reported", ""})

	// goBench's figure is the median over the runs of each run's median
	// ratio (the benchmark's own pairs, alternating who goes first).
	up, err := goBench("./cmd/station/internal/clips/", "^BenchmarkClipUpload$", "10x", 5)
	if err != nil {
		fatal(err)
	}
	u := up["BenchmarkClipUpload"]
	add(row{"clip upload over MQTT into the station's clip store (MB/s)", fmt.Sprintf("%.1f", u["MB/s"]), "", ""})
	add(row{"bare paho publisher, same chunks, one in flight (MB/s)", fmt.Sprintf("%.1f", u["bare-MB/s"]), "baseline", ""})
	add(row{"clip upload / bare publisher (median of per-run ratios)", fmt.Sprintf("%.2f×", u["ratio"]), "≥ 0.8×", verdict(u["ratio"] >= 0.8)})
	cc, err := goBench("./cmd/station/internal/clips/", "^BenchmarkConcurrentClipUploads$", "5x", 3)
	if err != nil {
		fatal(err)
	}
	c := cc["BenchmarkConcurrentClipUploads"]
	add(row{"20 gateways uploading at once into one clip store (MB/s, per gateway)", fmt.Sprintf("%.1f (%.2f)", c["MB/s"], c["per-gw-MB/s"]), "reported", ""})

	ev, err := goBench("./cmd/station/", "^BenchmarkEventToClipAtStation$", "1x", 3)
	if err != nil {
		fatal(err)
	}
	e := ev["BenchmarkEventToClipAtStation"]
	add(row{"event to clip available at the station (armed alarm, automatic upload, loopback)",
		fmt.Sprintf("%.2f s (post-roll %.0f s + %.2f s)", e["event-to-clip-s"], e["post-roll-s"], e["over-post-roll-s"]),
		"≤ post-roll + 2 s", verdict(e["over-post-roll-s"] <= 2)})
	add(row{"bytes per alarm clip (640×360 test camera, pre-roll 2 s + post-roll 3 s)", fmt.Sprintf("%.0f KiB", e["clip-bytes"]/1024), "reported", ""})
}
