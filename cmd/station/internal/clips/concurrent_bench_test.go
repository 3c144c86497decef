package clips_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkConcurrentClipUploads measures 20 gateways (paho clients, QoS
// 1, one chunk in flight each) uploading a clip each at once into the
// embedded broker and one clip store: MB/s is the total, per-gw-MB/s one
// gateway's share. With chunk writes serialised on one store lock the
// total stays at one writer's fsync rate; with per-clip locks the fsyncs
// of different clips overlap.
func BenchmarkConcurrentClipUploads(b *testing.B) {
	const gateways, chunks = 20, 8
	log := slog.New(slog.DiscardHandler)
	cs, _, addr := clipStation(b, log)
	data := make([]byte, chunks*wire.ClipChunkMax)
	for i := range data {
		data[i] = byte(i * 13)
	}
	sum := sha256.Sum256(data)
	clients := make([]mqtt.Client, gateways)
	for g := range clients {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("gw-%02d", g)).SetMaxResumePubInFlight(1))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		defer c.Disconnect(100)
		clients[g] = c
	}
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("clip-%d", i)
		for g := range clients {
			if err := cs.Announce(clips.Info{Gateway: fmt.Sprintf("gw-%02d", g), ID: id, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
				b.Fatal(err)
			}
		}
		t0 := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, gateways)
		for g, c := range clients {
			wg.Go(func() {
				tp := wire.Topics{Prefix: wire.DefaultPrefix, Gateway: fmt.Sprintf("gw-%02d", g)}
				for off := 0; off < len(data); off += wire.ClipChunkMax {
					tok := c.Publish(tp.ClipChunk(id, int64(off)), 1, false, data[off:off+wire.ClipChunkMax])
					if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
						errs <- fmt.Errorf("gateway %d chunk %d: %v", g, off, tok.Error())
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(t0)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		for g := range clients {
			if s, _, _ := cs.Status(fmt.Sprintf("gw-%02d", g), id); s.State != clips.Complete {
				b.Fatalf("gw-%02d/%s: %s", g, id, s.State)
			}
		}
	}
	mb := float64(len(data)) * gateways * float64(b.N) / 1e6
	b.ReportMetric(mb/elapsed.Seconds(), "MB/s")
	b.ReportMetric(mb/elapsed.Seconds()/gateways, "per-gw-MB/s")
}
