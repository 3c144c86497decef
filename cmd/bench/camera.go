package main

import "fmt"

// addCameraRows measures the camera figures: the receive path's cost and
// allocations per RTP packet, the CPU a real 2 Mbit/s RTSP camera costs per
// second with 0, 1 and 8 consumers (on every core and on one, as on a
// single-core board), the GOP cache against the GOP, and memory per camera.
func addCameraRows(add func(row)) {
	path, err := goBench("./device/camera/...", "^Benchmark(InterleavedRead|Depacketize|PacketPath)$", "1s", 3)
	if err != nil {
		fatal(err)
	}
	allocs := 0.0
	for _, m := range path {
		allocs = max(allocs, m["allocs/op"])
	}
	add(row{"camera receive path, allocations per RTP packet after warm-up", fmt.Sprintf("%.0f", allocs), "0", verdict(allocs == 0)})
	add(row{"RTSP interleaved read / H.264 depacketising / whole path, per packet",
		fmt.Sprintf("%.0f / %.0f / %.0f ns", path["BenchmarkInterleavedRead"]["ns/op"], path["BenchmarkDepacketize"]["ns/op"], path["BenchmarkPacketPath"]["ns/op"]), "reported", ""})

	for _, run := range []struct {
		label string
		env   []string
		re, n string
	}{
		{"", nil, "^BenchmarkCameraCPU$", "7x"},
		{", GOMAXPROCS=1 (single-core board)", []string{"GOMAXPROCS=1"}, "^BenchmarkCameraCPU$/^cameras=2$", "5x"},
	} {
		cpu, err := goBenchEnv(run.env, "./device/camera/", run.re, run.n, 1)
		if err != nil {
			fatal(err)
		}
		for _, cams := range []string{"2", "8"} {
			c, ok := cpu["BenchmarkCameraCPU/cameras="+cams]
			if !ok {
				continue
			}
			for _, unit := range []string{"cpu-ms/cam-s-0", "cpu-ms/cam-s-1", "cpu-ms/cam-s-8"} {
				if c[unit] <= 0 {
					fatal(fmt.Errorf("BenchmarkCameraCPU/cameras=%s reported no %s", cams, unit))
				}
			}
			label := ", " + cams + " cameras" + run.label
			add(row{"CPU per camera-second, real RTSP camera at 2 Mbit/s, 0 / 1 / 8 consumers" + label,
				fmt.Sprintf("%.2f / %.2f / %.2f ms", c["cpu-ms/cam-s-0"], c["cpu-ms/cam-s-1"], c["cpu-ms/cam-s-8"]), "reported", ""})
			add(row{"each extra consumer, with 8 consumers" + label, fmt.Sprintf("%+.1f %%", c["extra-%/consumer-8"]), "< 5 %", verdict(c["extra-%/consumer-8"] < 5)})
			add(row{"the first consumer alone" + label, fmt.Sprintf("%+.1f %% (%.1f µs per picture)", c["extra-%-first"], c["first-µs/frame"]), "< 5 %", verdict(c["extra-%-first"] < 5)})
		}
	}

	gop, err := goBench("./device/camera/", "^BenchmarkGOPCache$", "3x", 1)
	if err != nil {
		fatal(err)
	}
	worst, capped := 0.0, false
	for name, m := range gop {
		if m["gop-bytes"] == 0 {
			continue
		}
		if name == "BenchmarkGOPCache/gop=4s/cap=512KiB" {
			capped = m["cache-peak-bytes"] <= 512<<10
			continue
		}
		worst = max(worst, m["cache-peak-bytes"]/m["gop-bytes"], m["heap/gop"])
	}
	add(row{"GOP cache: peak and heap against the GOP (1, 2, 4 s GOPs)", fmt.Sprintf("≤ %.2f×", worst), "≤ 2×", verdict(worst > 0 && worst <= 2)})
	add(row{"GOP cache over its cap (4 s GOP, 512 KiB cap)", map[bool]string{true: "held", false: "exceeded"}[capped], "capped", verdict(capped)})

	mem, err := goBench("./device/camera/", "^BenchmarkHubMemory$", "3x", 1)
	if err != nil {
		fatal(err)
	}
	m := mem["BenchmarkHubMemory"]
	add(row{"heap / RSS per camera (receive path + hub + 1 s GOP of 2 Mbit/s)", fmt.Sprintf("%.0f kB / %.2f MB", m["heap-B/camera"]/1e3, m["rss-B/camera"]/1e6), "reported", ""})
}
