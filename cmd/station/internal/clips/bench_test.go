package clips_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkClipUpload measures a clip's upload through the gateway's
// uploader (uplink session, durable offset) into the embedded broker and
// the station's clip store, against a bare paho publisher of the same
// chunks (QoS 1, one in flight) into the same store, alternating within
// one run. ratio is the median over the iterations of bare time / our
// time for the same clip (target ≥ 0.8, docs/performance.md). The
// uploader keeps clipupload's default window of chunks in flight.
func BenchmarkClipUpload(b *testing.B) {
	log := slog.New(slog.DiscardHandler)
	cs, _, addr := clipStation(b, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const gw, bareGW = "bench-gw", "bench-bare"
	data := make([]byte, 32*wire.ClipChunkMax)
	for i := range data {
		data[i] = byte(i * 7)
	}

	u, _ := url.Parse("mqtt://" + addr)
	cfg := uplink.Config{Broker: u, Gateway: gw, KeepAlive: 10 * time.Second, TelemetryInterval: time.Hour,
		ConnectTimeout: 5 * time.Second, Version: "bench", Boot: "b1", Started: time.Now()}
	sess := uplink.New(cfg, emptyQueue{make(chan struct{})}, nil, nil, log)
	go func() { _ = sess.Run(ctx) }()
	bare := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(bareGW).SetMaxResumePubInFlight(1))
	if tok := bare.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer bare.Disconnect(100)
	devtest.WaitFor(b, 20*time.Second, "connected", func() bool { return sess.State().Connected })

	var ours, plain time.Duration
	var ratios []float64
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("clip-%d", i)
		src := oneClip{id: id, data: data}
		info, _ := src.Info(id)
		for _, g := range []string{gw, bareGW} {
			if err := cs.Announce(clips.Info{Gateway: g, ID: id, Bytes: info.Bytes, SHA256: info.SHA256}); err != nil {
				b.Fatal(err)
			}
		}
		up, err := clipupload.New(src, sess, clipupload.Options{Dir: b.TempDir(), Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		uctx, ucancel := context.WithCancel(ctx)
		go func() { _ = up.Run(uctx) }()
		runOurs := func() time.Duration {
			t0 := time.Now()
			if _, err := up.Handler(ctx, json.RawMessage(fmt.Sprintf(`{"clip":%q}`, id))); err != nil {
				b.Fatal(err)
			}
			// Polled every 0.5 ms, not devtest.WaitFor's 10 ms: the clip
			// takes ~100 ms and the wait must not weigh in the figure.
			for deadline := time.Now().Add(60 * time.Second); up.Stats().Pending != 0; time.Sleep(500 * time.Microsecond) {
				if time.Now().After(deadline) {
					b.Fatal("upload not done in 60 s")
				}
			}
			return time.Since(t0)
		}
		runBare := func() time.Duration {
			t0 := time.Now()
			tp := wire.Topics{Prefix: wire.DefaultPrefix, Gateway: bareGW}
			for off := 0; off < len(data); off += wire.ClipChunkMax {
				tok := bare.Publish(tp.ClipChunk(id, int64(off)), 1, false, data[off:off+wire.ClipChunkMax])
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					b.Fatal(tok.Error())
				}
			}
			return time.Since(t0)
		}
		// Which goes first alternates, so neither always meets a cache
		// the other warmed or a disk the other filled.
		var o, p time.Duration
		if i%2 == 0 {
			o, p = runOurs(), runBare()
		} else {
			p, o = runBare(), runOurs()
		}
		ucancel()
		ours, plain = ours+o, plain+p
		ratios = append(ratios, p.Seconds()/o.Seconds())
		for _, g := range []string{gw, bareGW} {
			if s, _, _ := cs.Status(g, id); s.State != clips.Complete {
				b.Fatalf("%s/%s: %s", g, id, s.State)
			}
		}
	}
	mb := float64(len(data)) * float64(b.N) / 1e6
	b.ReportMetric(mb/ours.Seconds(), "MB/s")
	b.ReportMetric(mb/plain.Seconds(), "bare-MB/s")
	// The median of the pairs' ratios: on a shared machine one slow pair
	// (another process's fsync burst) moves a mean, not a median.
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}
