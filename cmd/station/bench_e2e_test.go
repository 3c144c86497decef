package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
)

// The station's ingest figures of docs/performance.md (`make bench` runs
// both benchmarks in one `go test` and takes their ratio): 200 gateways,
// each a real outbox and uplink.Session in this process with a backlog,
// drain at once, as after a commune-wide 4G outage. The simulated
// gateways' outboxes do not fsync (see openSimGateways); the station does.
const (
	benchGateways   = 200
	benchPerGateway = 500 // 100,000 events in all
)

// ingest drains benchGateways prefilled outboxes into broker once and
// returns how long the drain took; sample, when set, is called once the
// outboxes are empty, with every session still connected.
func ingest(b *testing.B, broker string, sample func()) (took, gatewayCPU time.Duration) {
	b.Helper()
	b.StopTimer()
	gws := openSimGateways(b, b.TempDir(), benchGateways, benchPerGateway, true)
	// The outboxes' files are written without fsync: flush them now, so
	// their write-back does not slow the station's fsyncs while measured.
	syscall.Sync()
	b.StartTimer()
	start, cpu0 := time.Now(), selfCPU(b)
	stop := runSimGateways(b, gws, broker, 0)
	devtest.WaitFor(b, 10*time.Minute, "every outbox drained", func() bool { return depths(gws) == 0 })
	took, gatewayCPU = time.Since(start), selfCPU(b)-cpu0
	b.StopTimer()
	if sample != nil {
		sample()
	}
	stop()
	b.StartTimer()
	return took, gatewayCPU
}

// selfCPU is this process's user and system CPU so far: the simulated
// gateways' cost, to compare with the broker's.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngestStation: the drain into the real station binary, whose
// embedded broker PUBACKs each event only after the store committed it.
// Reports events/s and the station's resident memory with the 200
// gateways connected (rss-MiB; peak-MiB is its high-water mark; idle-rss-MiB
// before any gateway connected; store-MiB the size of its data directory
// afterwards, whose file is memory-mapped).
func BenchmarkIngestStation(b *testing.B) {
	var total time.Duration
	var rss, peak int
	var cpu float64
	var idle int
	var storeBytes int64
	var commits, requests int
	var gwCPU time.Duration
	for b.Loop() {
		b.StopTimer()
		data := filepath.Join(b.TempDir(), "station")
		st := startStation(b, data, "127.0.0.1:0")
		idle = max(idle, devtest.ProcStatusKB(b, st.cmd.Process.Pid, "VmRSS"))
		b.StartTimer()
		took, g := ingest(b, st.addr, func() {
			pid := st.cmd.Process.Pid
			rss = max(rss, devtest.ProcStatusKB(b, pid, "VmRSS"))
			peak = max(peak, devtest.ProcStatusKB(b, pid, "VmHWM"))
			cpu += procCPUSeconds(b, pid)
		})
		total, gwCPU = total+took, gwCPU+g
		b.StopTimer()
		st.stop(b)
		c, r := storeCommits(b, st.stderr.String())
		commits, requests = commits+c, requests+r
		storeBytes = max(storeBytes, dirBytes(b, data))
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*benchGateways*benchPerGateway)/total.Seconds(), "events/s")
	b.ReportMetric(float64(rss)/1024, "rss-MiB")
	b.ReportMetric(float64(peak)/1024, "peak-MiB")
	b.ReportMetric(float64(idle)/1024, "idle-rss-MiB")
	b.ReportMetric(float64(storeBytes)/(1<<20), "store-MiB")
	b.ReportMetric(cpu*1e6/float64(b.N*benchGateways*benchPerGateway), "station-cpu-µs/event")
	b.ReportMetric(float64(requests)/float64(max(commits, 1)), "events/commit")
	b.ReportMetric(float64(gwCPU.Microseconds())/float64(b.N*benchGateways*benchPerGateway), "gateway-cpu-µs/event")
}

var storeStatsLine = regexp.MustCompile(`store_commits=(\d+) store_requests=(\d+)`)

// storeCommits reads the store's commits and the requests they held from
// a stopped station's stderr ("station: broker stats ... store_commits=").
func storeCommits(b *testing.B, stderr string) (commits, requests int) {
	b.Helper()
	m := storeStatsLine.FindStringSubmatch(stderr)
	if m == nil {
		b.Fatalf("no store_commits in the station's stderr:\n%s", stderr)
	}
	commits, _ = strconv.Atoi(m[1])
	requests, _ = strconv.Atoi(m[2])
	return commits, requests
}

// BenchmarkIngestMosquitto: the same drain into Mosquitto with
// persistence off and nobody subscribed, so nothing is stored: the
// ceiling the station is measured against.
func BenchmarkIngestMosquitto(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	var total, gwCPU time.Duration
	var cpu float64
	for b.Loop() {
		cpu0 := procCPUSeconds(b, br.Pid())
		took, g := ingest(b, br.Addr(), nil)
		cpu += procCPUSeconds(b, br.Pid()) - cpu0
		total, gwCPU = total+took, gwCPU+g
	}
	events := float64(b.N * benchGateways * benchPerGateway)
	b.ReportMetric(events/total.Seconds(), "events/s")
	b.ReportMetric(cpu*1e6/events, "broker-cpu-µs/event")
	b.ReportMetric(float64(gwCPU.Microseconds())/events, "gateway-cpu-µs/event")
}

// procCPUSeconds is the user and system CPU time process pid has used so
// far (/proc/PID/stat, in clock ticks of 1/100 s on Linux).
func procCPUSeconds(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count from after it.
	_, rest, ok := strings.Cut(string(raw), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	return (utime + stime) / 100
}

// dirBytes is the total size of the files under dir.
func dirBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
