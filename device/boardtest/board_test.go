//go:build board

package boardtest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// gatewayPkg is the binary put on the board.
const gatewayPkg = "github.com/antt-gateway/antt/cmd/gateway"

// targets are the gateway builds run on the board, by run name: arm64
// natively, armv7 as 32-bit code on the arm64 kernel (CONFIG_COMPAT), the
// way a Pi 3 image's userland would run.
var targets = map[string][]string{
	"arm64": {"GOARCH=arm64"},
	"armv7": {"GOARCH=arm", "GOARM=7"},
}

// bootTimeout bounds one boot with both gateway runs; a healthy one takes
// about 25 s here.
const bootTimeout = 120 * time.Second

// TestBoard runs both gateway builds on the emulated board and checks that
// every edge driven through gpio-sim became exactly one event of the right
// sensor, with debounce and hold-off.
func TestBoard(t *testing.T) {
	b := prepare(t)
	rep, con := b.boot(t)
	t.Logf("kernel %s; /init at %.2f s", b.assets.Release, initAt(rep))
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		t.Run(name, func(t *testing.T) {
			run, ok := rep.Run(name)
			if !ok {
				t.Fatalf("no outbox dump of %s on the console:\n%s", name, tail(con, 80))
			}
			checkRun(t, run)
			checkAlarmEvents(t, run)
			lat := alarmTimes(t, rep, name)
			t.Logf("%s: hall PIR edge to siren line high %v (no delay configured, no debounce)", name, lat.Round(100*time.Microsecond))
			start, _ := rep.Mark("start " + name)
			ready, _ := rep.Mark("ready " + name)
			first, _ := rep.Mark("first-edge " + name)
			t.Logf("%s: gateway start to ready %.2f s; kernel start to first event %.2f s", name, ready-start, first)
		})
	}
	if len(rep.Failures) > 0 {
		t.Errorf("board failures: %q\n%s", rep.Failures, tail(con, 80))
	}
}

// BenchmarkBoard reports the emulated board's timings: kernel start to
// /init, to the first gateway ready, and to its first event.
func BenchmarkBoard(b *testing.B) {
	bd := prepare(b)
	for b.Loop() {
		rep, _ := bd.boot(b)
		name := slices.Sorted(maps.Keys(targets))[0]
		ready, _ := rep.Mark("ready " + name)
		first, _ := rep.Mark("first-edge " + name)
		for _, name := range slices.Sorted(maps.Keys(targets)) {
			run, ok := rep.Run(name)
			if !ok {
				b.Fatalf("no outbox dump of %s", name)
			}
			checkRun(b, run)
			checkAlarmEvents(b, run)
			b.ReportMetric(float64(alarmTimes(b, rep, name).Microseconds())/1000, "ms-edge-to-siren-line-"+name)
		}
		b.ReportMetric(initAt(rep), "s-kernel-to-init")
		b.ReportMetric(ready, "s-kernel-to-ready")
		b.ReportMetric(first, "s-kernel-to-first-event")
	}
}

// initAt is when /init started: the kernel's own line when it printed it
// (not under "quiet"), else /init's first mark.
func initAt(rep *Report) float64 {
	if rep.InitAt > 0 {
		return rep.InitAt
	}
	up, _ := rep.Mark("init")
	return up
}

// board is what one boot needs: the Debian assets and the initramfs.
type board struct {
	assets Assets
	initrd string
}

// prepare fetches the assets, builds the gateways and writes the initramfs.
func prepare(tb testing.TB) *board {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cache := os.Getenv("ANTT_BOARD_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir() // no $HOME: still cached for this machine's life
		}
		cache = filepath.Join(dir, "antt-board")
	}
	start := time.Now()
	assets, err := Fetch(ctx, "../../testdata/board/fetch.sh", cache)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("assets from %s in %v", cache, time.Since(start).Round(time.Millisecond))

	dir := tb.TempDir()
	start = time.Now()
	bins, err := buildGateways(ctx, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("gateways built in %v", time.Since(start).Round(time.Millisecond))

	var idleScript strings.Builder
	for _, s := range idle {
		fmt.Fprintf(&idleScript, "level %s %d\n", s.Pin, s.Level)
	}
	cfg, err := os.ReadFile(boardConfig)
	if err != nil {
		tb.Fatal(err)
	}
	b := &board{assets: assets, initrd: filepath.Join(dir, "initrd.cpio")}
	err = WriteInitramfs(b.initrd, assets, Image{
		Init:     "../../testdata/board/init",
		Gateways: bins,
		Files: map[string][]byte{
			"board/gateway.yaml": cfg,
			"board/lines":        fmt.Appendf(nil, "%d\n", len(idle)+outputLines),
			"board/idle.sh":      []byte(idleScript.String()),
			"board/scenario.sh":  []byte(script(append(Scenario(), AlarmScenario()...))),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// boot runs the board once and parses its console.
func (b *board) boot(tb testing.TB) (*Report, *Console) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	start := time.Now()
	// ANTT_BOARD_CONSOLE=FILE keeps the whole console for a closer look.
	var log io.Writer
	if path := os.Getenv("ANTT_BOARD_CONSOLE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			tb.Fatal(err)
		}
		defer f.Close()
		log = f
	}
	con, err := Boot(ctx, Machine{Kernel: b.assets.Kernel, Initrd: b.initrd, Append: "quiet"}, log)
	if err != nil {
		tb.Fatalf("%v\n%s", err, tail(con, 80))
	}
	tb.Logf("board ran for %v", time.Since(start).Round(time.Millisecond))
	rep, err := ParseConsole(con.Lines)
	if err != nil {
		tb.Fatalf("%v\n%s", err, tail(con, 80))
	}
	if !rep.Done {
		tb.Fatalf("%v\n%s", ErrNoDone, tail(con, 80))
	}
	return rep, con
}

// buildGateways cross-builds the gateway for every target, at once.
func buildGateways(ctx context.Context, dir string) (map[string]string, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	bins := map[string]string{}
	errs := make([]error, 0, len(targets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, env := range targets {
		out := filepath.Join(dir, "gateway-"+name)
		bins[name] = out
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
				"-ldflags=-s -w", "-o", out, gatewayPkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux"}, env...)...)
			if msg, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("build gateway for %s: %w\n%s", name, err, msg))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return bins, nil
}

// checkRun checks one gateway's outbox against Scenario.
func checkRun(t testing.TB, run *Run) {
	t.Helper()
	if run.RC != 0 || len(run.Other) > 0 {
		t.Errorf("outbox dump exit %d, other lines %q", run.RC, run.Other)
	}
	got := map[string][]wire.Event{}
	var prev uint64
	for _, e := range run.Events {
		if e.Seq <= prev {
			t.Errorf("seq %d after %d: not strictly increasing", e.Seq, prev)
		}
		prev = e.Seq
		if _, ours := wantKinds[e.Source]; !ours || !slices.Contains(slices.Collect(maps.Values(wantKinds)), e.Kind) {
			t.Logf("other event: %s %s %s", e.Kind, e.Source, e.State)
			continue
		}
		got[e.Source] = append(got[e.Source], e)
	}
	for _, sensor := range slices.Sorted(maps.Keys(wantStates)) {
		want, evs := wantStates[sensor], got[sensor]
		var states []string
		for _, e := range evs {
			states = append(states, e.State)
			if e.Kind != wantKinds[sensor] {
				t.Errorf("%s event seq %d has kind %q, want %q", sensor, e.Seq, e.Kind, wantKinds[sensor])
			}
		}
		if !slices.Equal(states, want) {
			t.Errorf("%s: events %q, want %q (one per edge; none for the glitch or inside the hold)", sensor, states, want)
		}
	}
	// Hold-off: the pir's inactive events come when its hold expires, not
	// at the falling edge. The first hold may count from the activation
	// (2 s) or from the retrigger 1 s later (3 s); the second has no
	// retrigger. Emulation makes timers late, never early.
	if pir := got["pir"]; len(pir) == 4 {
		slack := 800 * time.Millisecond
		checkGap(t, "first hold", pir[0], pir[1], pirHold, pirHold+time.Second+slack)
		checkGap(t, "second hold", pir[2], pir[3], pirHold, pirHold+slack)
	}
}

func checkGap(t testing.TB, what string, a, b wire.Event, lo, hi time.Duration) {
	t.Helper()
	gap := b.Time.Sub(a.Time)
	if gap < lo-10*time.Millisecond || gap > hi {
		t.Errorf("pir %s: inactive %v after active, want %v..%v", what, gap, lo, hi)
	} else {
		t.Logf("pir %s: inactive %v after active", what, gap.Round(time.Millisecond))
	}
}

func tail(c *Console, n int) string {
	if c == nil {
		return ""
	}
	lines := c.Lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
