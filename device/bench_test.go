package device_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkEdgeToSubscriber measures the whole path at 100 events/s: a
// simulated edge, its fsynced commit in the outbox, the QoS 1 publish to a
// local Mosquitto and the arrival at a subscriber. Five sim sensors each
// pulse every 100 ms (an active and an inactive edge), 100 events/s in all.
// It reports the p50 and p99 of arrival time minus the edge's timestamp.
func BenchmarkEdgeToSubscriber(b *testing.B) {
	const want = 1000 // 10 s of events
	broker := mqtttest.Start(b, mqtttest.Options{})

	var (
		mu   sync.Mutex
		lats []time.Duration
		done = make(chan struct{})
	)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("bench-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	tok := sub.Subscribe("antt/+/event", 1, func(_ mqtt.Client, m mqtt.Message) {
		now := time.Now()
		var e wire.Event
		if err := json.Unmarshal(m.Payload(), &e); err != nil || e.Kind != wire.KindMotion {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		lats = append(lats, now.Sub(e.Time))
		if len(lats) == want {
			close(done)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}

	sensors := ""
	for i := range 5 {
		sensors += fmt.Sprintf("  - {name: pir-%d, kind: motion, driver: sim, every: 100ms, debounce: 0s, hold: 0s}\n", i)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`gateway: {id: bench-gw, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
sensors:
%s`, filepath.Join(b.TempDir(), "data"), broker.Addr(), sensors)))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	gw, err := device.Open(cfg, device.Options{Listener: ln})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- gw.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
	}()

	b.ResetTimer()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("only %d events arrived in 60 s", len(lats))
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	s := slices.Clone(lats)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(s[len(s)/2]), "p50-ms")
	b.ReportMetric(ms(s[len(s)*99/100]), "p99-ms")
	b.ReportMetric(ms(s[len(s)-1]), "max-ms")
}
