package uplink_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

const benchEvents = 100_000

// BenchmarkDrain drains a 100,000-event backlog from the real outbox
// (bbolt, acks fsynced) into a local Mosquitto at QoS 1 with the default
// window (uplink.DefaultWindow);
// compare events/s with BenchmarkBarePaho, the ceiling.
func BenchmarkDrain(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	payload := newQueue()
	payload.Add(1)
	one, _ := payload.Peek(0, 1)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		ob, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{Gateway: "bench-gw"})
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]*wire.Event, 0, 1000)
		for i := 0; i < benchEvents; i++ {
			var e wire.Event
			if err := json.Unmarshal(one[0].Payload, &e); err != nil {
				b.Fatal(err)
			}
			batch = append(batch, &e)
			if len(batch) == cap(batch) {
				if _, err := ob.AppendBatch(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		cfg := config(b, br.Addr())
		cfg.Window = uplink.DefaultWindow
		cfg.TelemetryInterval = time.Hour
		s := uplink.New(cfg, device.OutboxQueue(ob), nil, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		b.StartTimer()
		start := time.Now()
		wg.Go(func() { s.Run(ctx) })
		for ob.Stats().Depth > 0 {
			time.Sleep(time.Millisecond) // polling the measured condition
		}
		total += time.Since(start)
		cancel()
		wg.Wait()
		ob.Close()
	}
	b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
}

// BenchmarkBarePaho is the ceiling: one paho client publishing the same
// payloads from memory at QoS 1 with as many tokens outstanding as the
// session's window.
func BenchmarkBarePaho(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	q := newQueue()
	q.Add(benchEvents)
	msgs, _ := q.Peek(0, benchEvents)
	c := client(b, br.Addr(), "bare", true, nil)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		window := make([]mqtt.Token, 0, uplink.DefaultWindow)
		for _, m := range msgs {
			if len(window) == uplink.DefaultWindow {
				<-window[0].Done()
				if err := window[0].Error(); err != nil {
					b.Fatal(err)
				}
				window = window[1:]
			}
			window = append(window, c.Publish(topics.Event(), 1, false, m.Payload))
		}
		for _, t := range window {
			<-t.Done()
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
}

// TestPasswordNeverLogged runs a session through failures and success with
// debug logging and looks for the password in the output.
func TestPasswordNeverLogged(t *testing.T) {
	var buf devtest.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	br := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"cong-khu-3": "right-password"}})
	cfg := config(t, br.Addr())
	cfg.Username, cfg.Password = "cong-khu-3", "hunter2-secret"
	s := uplink.New(cfg, newQueue(), nil, nil, log)
	stop := run(t, s)
	devtest.WaitFor(t, 10*time.Second, "a refused connect", func() bool { return s.State().LastError != "" })
	stop()
	cfg.Password = "right-password"
	s = uplink.New(cfg, newQueue(), nil, nil, log)
	stop = run(t, s)
	devtest.WaitFor(t, 10*time.Second, "connected", func() bool { return s.State().Connected })
	stop()
	out := buf.String()
	if !strings.Contains(out, "not authorized") && !strings.Contains(out, "uplink down") {
		t.Errorf("refused connect not logged:\n%s", out)
	}
	for _, p := range []string{"hunter2-secret", "right-password"} {
		if strings.Contains(out, p) {
			t.Errorf("password %q logged:\n%s", p, out)
		}
	}
}
