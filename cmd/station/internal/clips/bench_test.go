package clips_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkClipUpload measures a clip's upload through the gateway's
// uploader (uplink session, durable offset) into the embedded broker and
// the station's clip store, against a bare paho publisher of the same
// chunks (QoS 1, one in flight) into the same store, alternating within
// one run. ratio is ours / bare (target ≥ 0.8, docs/performance.md).
func BenchmarkClipUpload(b *testing.B) {
	dir := b.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "events.db"), store.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cs, err := clips.Open(dir, clips.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	emb, err := broker.New(broker.Options{Listen: "127.0.0.1:0", Ingest: broker.ClipStoreIngester(clips.Ingest{Next: st, Clips: cs}), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); emb.Wait() }()
	addr, err := emb.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	const gw, bareGW = "bench-gw", "bench-bare"
	data := make([]byte, 16*wire.ClipChunkMax)
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
		t0 := time.Now()
		if _, err := up.Handler(ctx, json.RawMessage(fmt.Sprintf(`{"clip":%q}`, id))); err != nil {
			b.Fatal(err)
		}
		devtest.WaitFor(b, 60*time.Second, "uploaded", func() bool { return up.Stats().Pending == 0 })
		ours += time.Since(t0)
		ucancel()

		t0 = time.Now()
		tp := wire.Topics{Prefix: wire.DefaultPrefix, Gateway: bareGW}
		for off := 0; off < len(data); off += wire.ClipChunkMax {
			tok := bare.Publish(tp.ClipChunk(id, int64(off)), 1, false, data[off:off+wire.ClipChunkMax])
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				b.Fatal(tok.Error())
			}
		}
		plain += time.Since(t0)
		for _, g := range []string{gw, bareGW} {
			if s, _, _ := cs.Status(g, id); s.State != clips.Complete {
				b.Fatalf("%s/%s: %s", g, id, s.State)
			}
		}
	}
	mb := float64(len(data)) * float64(b.N) / 1e6
	b.ReportMetric(mb/ours.Seconds(), "MB/s")
	b.ReportMetric(mb/plain.Seconds(), "bare-MB/s")
	b.ReportMetric(plain.Seconds()/ours.Seconds(), "ratio")
}
