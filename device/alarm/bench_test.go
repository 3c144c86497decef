package alarm_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/sensors"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// timedPin is a gpiotest pin that notes when it went high.
type timedPin struct {
	gpiotest.Pin
	high atomic.Int64 // UnixNano of the latest low→high
}

func (p *timedPin) Out(l gpio.Level) error {
	if l == gpio.High {
		p.high.Store(time.Now().UnixNano())
	}
	return p.Pin.Out(l)
}

// BenchmarkEdgeToSiren measures a sensor edge to the siren line high
// through the alarm logic and the output (armed, instant sensor, no delay
// configured), with the real clock. "durable" keeps the output's record
// and the alarm's state on disk (an fsync before the line goes on, as on
// the board); "memory" does not, to show what the fsync costs. Reported:
// edge→line p50/p99 in µs; ns/op also covers switching off again.
func BenchmarkEdgeToSiren(b *testing.B) {
	for _, durable := range []bool{true, false} {
		name := "memory"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			clock := sensors.NewSystemClock()
			pin := &timedPin{Pin: gpiotest.Pin{N: "GPIO27"}}
			opt := output.Options{Clock: clock, Logger: quiet}
			var store alarm.Store = &alarm.MemStore{}
			if durable {
				opt.Dir = dir
				store = alarm.FileStore{Path: filepath.Join(dir, "alarm.json")}
			}
			siren, err := output.New(output.Config{Name: "siren"}, output.NewGPIO(pin, false), opt)
			if err != nil {
				b.Fatal(err)
			}
			cfg := alarm.Config{
				Sensors: []alarm.Sensor{{Name: "hall-pir", Kind: "motion", Modes: []string{alarm.Night}}},
				Trigger: []alarm.Use{{Output: "siren"}},
				// Swinger shutdown bypasses a sensor after this many alarms in
				// one arming period; the loop re-arms before it is reached.
				SwingerLimit: alarm.MaxSwingerLimit,
			}
			bank := output.Bank{"siren": siren}
			a, err := alarm.New(cfg, alarm.Options{Clock: clock, Store: store, Outputs: bank, Known: bank.Has, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{}, 2)
			go func() { siren.Run(ctx); done <- struct{}{} }()
			go func() { a.Run(ctx); done <- struct{}{} }()
			defer func() { cancel(); <-done; <-done }()
			if err := a.Arm(ctx, alarm.Night, alarm.Origin{By: alarm.ByInstaller}); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if err := a.Input(ctx, sensors.Edge{Sensor: "hall-pir", Active: true}); err != nil {
					b.Fatal(err)
				}
				if pin.Read() != gpio.High {
					b.Fatal("siren line not high")
				}
				lat = append(lat, time.Duration(pin.high.Load()-start.UnixNano()))
				if err := a.Silence(ctx, alarm.Origin{By: alarm.ByInstaller}); err != nil {
					b.Fatal(err)
				}
				if err := a.Input(ctx, sensors.Edge{Sensor: "hall-pir", Active: false}); err != nil {
					b.Fatal(err)
				}
				if i%alarm.MaxSwingerLimit < alarm.MaxSwingerLimit-1 {
					continue
				}
				// A new arming period before swinger shutdown would bypass
				// the sensor.
				if err := a.Arm(ctx, alarm.Disarmed, alarm.Origin{By: alarm.ByInstaller}); err != nil {
					b.Fatal(err)
				}
				if err := a.Arm(ctx, alarm.Night, alarm.Origin{By: alarm.ByInstaller}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "edge-to-line-p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "edge-to-line-p99-µs")
		})
	}
}
