package alarm_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/sensors"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdle runs an armed site (two outputs, durable state) on the real
// clock and counts the wake-ups of the alarm's and the outputs' goroutines
// (their Loops counters) over one second per op: an idle alarm must have
// none (no polling; it sleeps until its next deadline, and armed with no
// schedule it has none). Reported: wake-ups per second (must be 0) and the
// whole test process's CPU per second of idle, which includes the Go
// runtime and is only an upper bound. Run: -bench BenchmarkIdle -benchtime 3x.
func BenchmarkIdle(b *testing.B) {
	dir := b.TempDir()
	clock := sensors.NewSystemClock()
	bank := output.Bank{}
	for _, n := range []string{"siren", "strobe"} {
		o, err := output.New(output.Config{Name: n}, output.NewGPIO(&gpiotest.Pin{N: n}, false), output.Options{Clock: clock, Dir: dir, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		bank[n] = o
	}
	a, err := alarm.New(gateCfg(), alarm.Options{Clock: clock, Store: alarm.FileStore{Path: filepath.Join(dir, "alarm.json")}, Outputs: bank, Known: bank.Has, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	for _, o := range bank {
		go func() { o.Run(ctx); done <- struct{}{} }()
	}
	go func() { a.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done; <-done }()
	if err := a.Arm(ctx, alarm.Night, alarm.Origin{By: alarm.ByInstaller}); err != nil {
		b.Fatal(err)
	}
	loops := func() uint64 { return a.Loops() + bank["siren"].State().Loops + bank["strobe"].State().Loops }
	var wakeups uint64
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		l0, c0 := loops(), cpuTime()
		time.Sleep(time.Second) // the window measured; nothing here waits on it
		wakeups += loops() - l0
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	b.ReportMetric(float64(wakeups)/float64(b.N), "wakeups/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "process-cpu-µs/s")
	if wakeups != 0 {
		b.Fatalf("%d wake-ups of an idle armed alarm in %d s", wakeups, b.N)
	}
}

// TestNoPolling reads the sources of the alarm and output packages: no
// time.Sleep, time.Tick, time.NewTicker or time.After; every wait is the
// one timer of sensors.Clock, which TestIdleWakeUps and BenchmarkIdle
// count.
func TestNoPolling(t *testing.T) {
	for _, dir := range []string{".", "../output"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, f, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" {
					switch sel.Sel.Name {
					case "Sleep", "Tick", "NewTicker", "After", "AfterFunc", "NewTimer":
						t.Errorf("%s: time.%s: waits must use the clock's one timer", fset.Position(sel.Pos()), sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
}
