// Command bench measures the figures of docs/performance.md and prints them
// as a table: `make bench`. Each ratio is measured within one run (ours and
// its baseline on the same machine, back to back), because these machines
// are noisy and absolute numbers drift between runs.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// metrics holds one benchmark's reported values by unit ("events/s", ...).
type metrics map[string]float64

// row is one line of the printed table.
type row struct {
	figure, value, target, verdict string
}

func main() {
	skipSize := flag.Bool("skip-size", false, "do not cross-compile to report binary sizes")
	stationOnly := flag.Bool("station", false, "measure only the station's figures")
	consoleOnly := flag.Bool("console", false, "measure only the web console's figures")
	liveOnly := flag.Bool("live", false, "measure only live view's figures (docs/live.md)")
	recordingOnly := flag.Bool("recording", false, "measure only recording's and clip upload's figures (docs/recording.md)")
	flag.Parse()

	var rows []row
	fail := false
	add := func(r row) {
		rows = append(rows, r)
		if r.verdict == "FAIL" {
			fail = true
		}
	}

	if *recordingOnly {
		addRecordingRows(add)
		printTable(rows)
		if fail {
			os.Exit(1)
		}
		return
	}
	if *liveOnly {
		addLiveRows(add)
		if !*skipSize {
			addLiveSizeRows(add)
		}
		printTable(rows)
		if fail {
			os.Exit(1)
		}
		return
	}
	if *consoleOnly {
		addConsoleRows(add)
		printTable(rows)
		if fail {
			os.Exit(1)
		}
		return
	}
	if *stationOnly {
		addStationRows(add)
		printTable(rows)
		if fail {
			os.Exit(1)
		}
		return
	}

	// Durable ingest: group commit against one transaction per event.
	ing, ratio, err := pairedBench("./uplink/outbox/", "^BenchmarkAppend(Group|PerEvent)$", "2s", 3,
		"BenchmarkAppendGroup", "BenchmarkAppendPerEvent", "events/s")
	if err != nil {
		fatal(err)
	}
	g, p := ing["BenchmarkAppendGroup"], ing["BenchmarkAppendPerEvent"]
	add(row{"durable ingest, group commit (events/s)", fmt.Sprintf("%.0f", g["events/s"]), "≥ 20,000", verdict(g["events/s"] >= 20000)})
	add(row{"durable ingest, one tx per event (events/s)", fmt.Sprintf("%.0f", p["events/s"]), "baseline", ""})
	add(row{"group commit / per-event (median of per-run ratios)", fmt.Sprintf("%.1f×", ratio), "≥ 20×", verdict(ratio >= 20)})
	add(row{"Append latency p50 / p99 (group)", fmt.Sprintf("%.2f / %.2f ms", g["p50-µs"]/1000, g["p99-µs"]/1000), "reported", ""})
	add(row{"events per commit (group)", fmt.Sprintf("%.0f", g["events/commit"]), "reported", ""})

	// Drain of a backlog into Mosquitto against a bare paho publisher.
	dr, dratio, err := pairedBench("./uplink/", "^Benchmark(Drain|BarePaho)$", "1x", 5,
		"BenchmarkDrain", "BenchmarkBarePaho", "events/s")
	if err != nil {
		fatal(err)
	}
	d, bare := dr["BenchmarkDrain"], dr["BenchmarkBarePaho"]
	add(row{"drain 100,000 into Mosquitto QoS 1 (events/s)", fmt.Sprintf("%.0f", d["events/s"]), "", ""})
	add(row{"bare paho QoS 1, same window, from memory (events/s)", fmt.Sprintf("%.0f", bare["events/s"]), "ceiling", ""})
	add(row{"drain / ceiling (median of per-run ratios)", fmt.Sprintf("%.2f×", dratio), "≥ 0.8×", verdict(dratio >= 0.8)})

	addStationRows(add)
	addConsoleRows(add)

	// Edge to subscriber, and the gateway's memory: a real gateway process.
	lat, err := goBench("./device/", "^BenchmarkEdgeToSubscriber$", "1x", 1)
	if err != nil {
		fatal(err)
	}
	l := lat["BenchmarkEdgeToSubscriber"]
	add(row{"edge (sim) → subscriber at 100 events/s, p50 / p99", fmt.Sprintf("%.2f / %.2f ms", l["p50-ms"], l["p99-ms"]), "p99 ≤ 10 ms", verdict(l["p99-ms"] <= 10)})
	rss, err := goBench("./cmd/gateway/", "^BenchmarkRSS$", "1x", 1)
	if err != nil {
		fatal(err)
	}
	r := rss["BenchmarkRSS"]
	add(row{"RSS of gateway run, idle", fmt.Sprintf("%.1f MiB", r["idle-MiB"]), "≤ 20 MiB", verdict(r["idle-MiB"] <= 20)})
	add(row{"RSS after draining 100,000", fmt.Sprintf("%.1f MiB", r["drained-MiB"]), "≤ 40 MiB", verdict(r["drained-MiB"] <= 40)})

	addCameraRows(add)
	addLiveRows(add)
	addRecordingRows(add)

	// The alarm: input edge → siren line high through the logic and a
	// gpiotest pin, no delay configured (docs/alarm.md).
	siren, err := goBench("./device/alarm/", "^BenchmarkEdgeToSiren$", "300x", 1)
	if err != nil {
		fatal(err)
	}
	for _, name := range []string{"durable", "memory"} {
		for full, m := range siren {
			if strings.HasSuffix(full, "/"+name) {
				add(row{"alarm edge → siren line high (" + name + "), p50 / p99", fmt.Sprintf("%.2f / %.2f ms", m["edge-to-line-p50-µs"]/1000, m["edge-to-line-p99-µs"]/1000), "≤ 50 ms", verdict(m["edge-to-line-p99-µs"] <= 50000)})
			}
		}
	}

	board, err := goBench("./device/boardtest/", "^BenchmarkBoard$", "1x", 1, "board")
	if err != nil {
		fatal(err)
	}
	for name, m := range board {
		for unit, v := range m {
			if strings.HasPrefix(unit, "s-") {
				add(row{strings.TrimSpace("emulated board "+strings.TrimPrefix(name, "BenchmarkBoard")) + ": " + strings.ReplaceAll(strings.TrimPrefix(unit, "s-"), "-", " "), fmt.Sprintf("%.1f s", v), "reported", ""})
			}
			if strings.HasPrefix(unit, "ms-") {
				// /proc/uptime on the board has 10 ms steps: this is the resolution.
				add(row{"emulated board: " + strings.ReplaceAll(strings.TrimPrefix(unit, "ms-"), "-", " ") + " (10 ms resolution)", fmt.Sprintf("%.0f ms", v), "reported", ""})
			}
		}
	}

	if !*skipSize {
		for _, t := range []struct{ name, arch, arm string }{
			{"armv6", "arm", "6"}, {"armv7", "arm", "7"}, {"arm64", "arm64", ""},
		} {
			size, err := binarySize(t.arch, t.arm)
			if err != nil {
				fatal(err)
			}
			add(row{"stripped gateway, linux/" + t.name, fmt.Sprintf("%.2f MiB", float64(size)/(1<<20)), "reported", ""})
		}
	}

	printTable(rows)
	if fail {
		os.Exit(1)
	}
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func printTable(rows []row) {
	host, _ := os.Hostname()
	fmt.Printf("\n%s, %s/%s, %d CPUs, %s, %s\n\n", host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), time.Now().UTC().Format("2006-01-02"))
	fmt.Println("| figure | measured | target | |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r.figure, r.value, r.target, r.verdict)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// pairedBench measures a ratio the way these noisy machines allow: n
// separate runs of the pair (ours, then its baseline right after, in one
// go test), the ratio taken within each run, and the median of the ratios
// returned with the median of each benchmark's metrics.
func pairedBench(pkg, re, benchtime string, n int, ours, base, unit string) (map[string]metrics, float64, error) {
	all := map[string]map[string][]float64{}
	var ratios []float64
	for range n {
		res, err := goBench(pkg, re, benchtime, 1)
		if err != nil {
			return nil, 0, err
		}
		o, b := res[ours][unit], res[base][unit]
		if o == 0 || b == 0 {
			return nil, 0, fmt.Errorf("%s: %s or %s reported no %s", pkg, ours, base, unit)
		}
		ratios = append(ratios, o/b)
		for name, m := range res {
			if all[name] == nil {
				all[name] = map[string][]float64{}
			}
			for u, v := range m {
				all[name][u] = append(all[name][u], v)
			}
		}
	}
	med := map[string]metrics{}
	for name, units := range all {
		med[name] = metrics{}
		for u, vs := range units {
			med[name][u] = median(vs)
		}
	}
	return med, median(ratios), nil
}

func median(vs []float64) float64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// goBench runs the benchmarks matching re in pkg count times each and
// returns, by benchmark name (without the -N suffix), the median of each
// reported metric: one noisy run does not decide a figure.
func goBench(pkg, re, benchtime string, count int, tags ...string) (map[string]metrics, error) {
	return goBenchEnv(nil, pkg, re, benchtime, count, tags...)
}

// goBenchEnv is goBench with extra environment variables (GOMAXPROCS=1).
func goBenchEnv(env []string, pkg, re, benchtime string, count int, tags ...string) (map[string]metrics, error) {
	fmt.Fprintf(os.Stderr, "bench: %s go test -bench %s -count %d %s\n", strings.Join(env, " "), re, count, pkg)
	args := []string{"test", "-run", "^$", "-bench", re, "-benchtime", benchtime, "-count", strconv.Itoa(count)}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	os.Stderr.Write(out)
	if err != nil {
		return nil, fmt.Errorf("go test -bench %s %s: %w", re, pkg, err)
	}
	res := parseBench(out)
	if len(res) == 0 {
		return nil, fmt.Errorf("go test -bench %s %s: no benchmark ran", re, pkg)
	}
	return res, nil
}

// parseBench reads `go test -bench` output ("BenchmarkX-2  N  v unit  v
// unit ...", possibly several runs of each) into per-unit medians.
func parseBench(out []byte) map[string]metrics {
	runs := map[string]map[string][]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		if runs[name] == nil {
			runs[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			runs[name][f[i+1]] = append(runs[name][f[i+1]], v)
		}
	}
	res := map[string]metrics{}
	for name, units := range runs {
		m := metrics{}
		for unit, vs := range units {
			m[unit] = median(vs)
		}
		res[name] = m
	}
	return res
}

// binarySize cross-compiles the gateway as `make cross` does and returns
// the stripped binary's size.
func binarySize(goarch, goarm string) (int64, error) {
	dir, err := os.MkdirTemp("", "antt-size")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "gateway")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=", "-o", out, "./cmd/gateway")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOARM="+goarm)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("cross-build %s%s: %w", goarch, goarm, err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
