package main

// Helpers of the end-to-end tests that run the real binaries: `station`
// and `gateway` are built once with `go build` (see binaries) and started
// as child processes that a test can kill with SIGKILL, stop with SIGTERM
// and start again on the same port and data directory. `station dump`
// reads what the station stored.
//
// Under qemu-user (make test-arm) the go command still runs natively and
// inherits GOARCH, so the binaries are built for the emulated machine and
// started through ANTT_TEST_EXEC, as device/reexec starts test children.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/reexec"
	"github.com/antt-gateway/antt/uplink/wire"
)

// bins holds the binaries built for this test process (see binaries).
var bins struct {
	once             sync.Once
	dir              string
	station, gateway string
	err              error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// binaries builds `station` (this package) and `gateway` (../gateway) once
// per test process, as `make build` does but unstripped and without
// -trimpath (so the build reuses the packages `go test` compiled, instead
// of compiling every package again), and returns their paths.
func binaries(t testing.TB) (station, gateway string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "antt-e2e-bin-")
		if err != nil {
			bins.err = err
			return
		}
		bins.dir = dir
		bins.station, bins.gateway = filepath.Join(dir, "station"), filepath.Join(dir, "gateway")
		for _, b := range []struct{ out, pkg string }{{bins.station, "."}, {bins.gateway, "../gateway"}} {
			cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.station, bins.gateway
}

// binCommand runs bin with args, through the emulator named by
// ANTT_TEST_EXEC when there is one.
func binCommand(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if w := strings.Fields(os.Getenv(reexec.EnvExec)); len(w) > 0 {
		return exec.CommandContext(ctx, w[0], append(append(w[1:], bin), args...)...)
	}
	return exec.CommandContext(ctx, bin, args...)
}

// proc is one child process: stderr kept in a Buffer to wait on, stdout in
// a file (the station prints every event there).
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *devtest.Buffer
	stdout string
	done   chan struct{}
}

func startProc(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), name+"-*.stdout")
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, stderr: &devtest.Buffer{}, stdout: out.Name(), done: make(chan struct{})}
	p.cmd = binCommand(context.Background(), bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = out, p.stderr
	if err := p.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, e2eTail(p.stderr))
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL, as a power cut or the OOM killer would, and waits.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and waits for the process to exit 0.
func (p *proc) term(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30 s of SIGTERM", p.name)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s exit code %d after SIGTERM:\n%s", p.name, code, e2eTail(p.stderr))
	}
}

// binStation is one run of the station binary.
type binStation struct {
	*proc
	addr, data string
}

var stationListening = regexp.MustCompile(`station: broker listening on (\S+)`)

// startStation runs `station run -data data -listen listen` with the
// embedded, open (loopback) broker, plus env (ANTT_STATION_COMMIT_DELAY),
// and waits until it says its store is open and its broker accepts
// gateways.
func startStation(t testing.TB, data, listen string, env ...string) *binStation {
	t.Helper()
	bin, _ := binaries(t)
	p := startProc(t, "station", env, bin, "run", "-data", data, "-listen", listen)
	s := &binStation{proc: p, data: data}
	devtest.WaitFor(t, 30*time.Second, "station: store open, broker listening", func() bool {
		if p.exited() {
			t.Fatalf("station exited during start (code %d):\n%s", p.cmd.ProcessState.ExitCode(), e2eTail(p.stderr))
		}
		out := p.stderr.String()
		m := stationListening.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "station: store open") {
			return false
		}
		s.addr = m[1]
		return true
	})
	return s
}

// stopStation sends SIGTERM, waits, and checks the broker's counters it
// prints at shutdown: nothing dropped.
func (s *binStation) stop(t testing.TB) {
	t.Helper()
	s.term(t)
	checkBrokerStats(t, s.stderr.String())
}

var (
	brokerStatsLine = regexp.MustCompile(`station: broker stats[^\n]*`)
	// droppedCounter finds mochi's drop counters in that line, however the
	// station spells them (InflightDropped=0, inflight_dropped: 0, ...).
	// invalid counts publishes acknowledged without being stored: none of
	// the tests' gateways sends one.
	droppedCounter = regexp.MustCompile(`(?i)"?(inflight_?dropped|messages_?dropped|invalid)"?\s*[=:]\s*(\d+)`)
)

// checkBrokerStats finds the `station: broker stats` line in a stopped
// station's stderr and fails the test unless it holds InflightDropped and
// every drop counter in it (and the count of publishes acknowledged as
// invalid, unstored) is 0.
func checkBrokerStats(t testing.TB, stderr string) {
	t.Helper()
	line := brokerStatsLine.FindString(stderr)
	if line == "" {
		t.Errorf("no `station: broker stats` line at shutdown")
		return
	}
	ms := droppedCounter.FindAllStringSubmatch(line, -1)
	inflight := false
	for _, m := range ms {
		if strings.Contains(strings.ToLower(m[1]), "inflight") {
			inflight = true
		}
		if m[2] != "0" {
			t.Errorf("broker dropped messages: %s=%s (%s)", m[1], m[2], line)
		}
	}
	if !inflight {
		t.Errorf("the broker stats line has no InflightDropped counter: %s", line)
	}
}

// dumpSnapshot is the snapshot part of an event line of `station dump`.
type dumpSnapshot struct {
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// dumpLine is one line of `station dump`; which fields are set depends on
// Type: event, notice, gap or counters.
type dumpLine struct {
	Type     string          `json:"type"`
	Gateway  string          `json:"gateway"`
	Epoch    string          `json:"epoch"`
	Seq      uint64          `json:"seq"`
	Arrival  json.RawMessage `json:"arrival"`
	Event    json.RawMessage `json:"event"`
	Snapshot *dumpSnapshot   `json:"snapshot"`
	// storage_replaced notices
	Kind       string `json:"kind"`
	OldEpoch   string `json:"old_epoch"`
	OldLastSeq uint64 `json:"old_last_seq"`
	NewEpoch   string `json:"new_epoch"`

	raw string
}

// stored is what `station dump` says the station holds.
type stored struct {
	lines  []dumpLine
	events map[string]map[string]map[uint64]dumpLine // gateway → epoch → seq
	dups   int                                       // event lines of a (gateway, epoch, seq) seen before
}

// epochs returns the epochs stored for gw, in the order of their first
// event's arrival.
func (s *stored) epochs(gw string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range s.lines {
		if l.Type == "event" && l.Gateway == gw && !seen[l.Epoch] {
			seen[l.Epoch] = true
			out = append(out, l.Epoch)
		}
	}
	return out
}

// missing returns up to 20 seqs of 1..last that gw's epoch does not hold,
// and how many are missing in all.
func (s *stored) missing(gw, epoch string, last uint64) (first []uint64, n int) {
	have := s.events[gw][epoch]
	for q := uint64(1); q <= last; q++ {
		if _, ok := have[q]; !ok {
			n++
			if len(first) < 20 {
				first = append(first, q)
			}
		}
	}
	return first, n
}

// maxSeq is the highest seq stored for gw's epoch.
func (s *stored) maxSeq(gw, epoch string) uint64 {
	var m uint64
	for q := range s.events[gw][epoch] {
		m = max(m, q)
	}
	return m
}

// dump runs `station dump -data data` (the station must be stopped) and
// parses its output.
func dump(t testing.TB, data string) *stored {
	t.Helper()
	bin, _ := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := binCommand(ctx, bin, "dump", "-data", data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("station dump -data %s: %v\n%s", data, err, stderr.String())
	}
	s := &stored{events: map[string]map[string]map[uint64]dumpLine{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var l dumpLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("station dump line %d: %v: %.300s", n, err, sc.Text())
		}
		l.raw = sc.Text()
		s.lines = append(s.lines, l)
		if l.Type != "event" {
			continue
		}
		if l.Seq == 0 || l.Gateway == "" || len(l.Event) == 0 {
			t.Fatalf("station dump line %d: an event line without gateway, seq or event: %.300s", n, l.raw)
		}
		if s.events[l.Gateway] == nil {
			s.events[l.Gateway] = map[string]map[uint64]dumpLine{}
		}
		if s.events[l.Gateway][l.Epoch] == nil {
			s.events[l.Gateway][l.Epoch] = map[uint64]dumpLine{}
		}
		if _, dup := s.events[l.Gateway][l.Epoch][l.Seq]; dup {
			s.dups++
		}
		s.events[l.Gateway][l.Epoch][l.Seq] = l
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read station dump: %v", err)
	}
	return s
}

// dumpSnapshotBytes runs `station dump -data data -snapshot gw/epoch/seq`.
func dumpSnapshotBytes(t testing.TB, data, gw, epoch string, seq uint64) []byte {
	t.Helper()
	bin, _ := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref := gw + "/" + epoch + "/" + strconv.FormatUint(seq, 10)
	cmd := binCommand(ctx, bin, "dump", "-data", data, "-snapshot", ref)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("station dump -snapshot %s: %v\n%s", ref, err, stderr.String())
	}
	return out
}

// binGateway is one run of the gateway binary.
type binGateway struct {
	*proc
	api string
}

// gatewayMaxBytes is outbox.max_bytes of the test gateways (64MiB in
// writeGatewayConfig).
const gatewayMaxBytes = 64 << 20

// writeGatewayConfig writes a gateway config for the binary: id, data
// directory, the station's address, the local API, and extra YAML (more
// uplink keys go in uplinkExtra, indented by two spaces; sensors and
// cameras in extra).
func writeGatewayConfig(t testing.TB, dir, id, data, station, api, uplinkExtra, extra string) string {
	t.Helper()
	if extra == "" {
		extra = "sensors:\n  - {name: pir, kind: motion, driver: sim, every: 1h}\n"
	}
	y := fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink:
  broker: mqtt://%s
  client_id: %s
  keepalive: 5s
  telemetry_interval: 1h
%soutbox: {max_bytes: 64MiB}
api: {listen: "%s"}
%s`, id, data, station, id, uplinkExtra, api, extra)
	path := filepath.Join(dir, id+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startBinGateway runs `gateway run -config cfg` and waits until its local
// API answers.
func startBinGateway(t testing.TB, cfg, api string) *binGateway {
	t.Helper()
	_, bin := binaries(t)
	g := &binGateway{proc: startProc(t, "gateway", nil, bin, "run", "-config", cfg), api: api}
	devtest.WaitFor(t, 30*time.Second, "gateway API "+api, func() bool {
		if g.exited() {
			t.Fatalf("gateway exited during start (code %d):\n%s", g.cmd.ProcessState.ExitCode(), e2eTail(g.stderr))
		}
		_, err := g.tryStatus()
		return err == nil
	})
	return g
}

var apiClient = &http.Client{Timeout: 5 * time.Second}

func (g *binGateway) tryStatus() (device.Status, error) {
	var st device.Status
	resp, err := apiClient.Get("http://" + g.api + "/api/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, errors.New(resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (g *binGateway) status(t testing.TB) device.Status {
	t.Helper()
	st, err := g.tryStatus()
	if err != nil {
		t.Fatalf("gateway /api/status: %v", err)
	}
	return st
}

// walk posts one walk test and returns the seq the gateway made durable.
func (g *binGateway) walk(t testing.TB, sensor string) uint64 {
	t.Helper()
	resp, err := apiClient.Post("http://"+g.api+"/api/walktest", "application/json", strings.NewReader(`{"sensor":"`+sensor+`"}`))
	if err != nil {
		t.Fatalf("walk test: %v", err)
	}
	defer resp.Body.Close()
	var r device.WalkTestReply
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&r) != nil || r.Seq == 0 {
		t.Fatalf("walk test: %s", resp.Status)
	}
	return r.Seq
}

// outboxStats runs `gateway outbox stats` on a stopped gateway's config,
// which reads the outbox file itself.
func outboxStats(t testing.TB, cfg string) wire.OutboxStats {
	t.Helper()
	_, bin := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := binCommand(ctx, bin, "outbox", "stats", "-config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gateway outbox stats: %v\n%s", err, stderr.String())
	}
	var st wire.OutboxStats
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("gateway outbox stats: %v: %s", err, out)
	}
	return st
}
