package store

import (
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkReviewCameraFlap: one gateway's events in rounds of 256
// submitted at once, all motion, or all camera_offline/camera_online
// alternating (a broken or malicious gateway's camera flapping). Each
// camera event that opens or closes an outage commits its own
// transaction after the batch's commit, on the writer's goroutine, before
// any PUBACK of the batch (before the fix): compare the wall time per
// event. On a disk whose fdatasync costs (an SD card, an SSD: 0.1 to 10
// ms) that commit is the cost; on a VM whose disk ignores it, little.
func BenchmarkReviewCameraFlap(b *testing.B) {
	const gw, n, k = "cong-khu-3", 4096, 256
	t0 := time.Now().Add(-time.Hour)
	for _, flap := range []bool{false, true} {
		name := "motion"
		if flap {
			name = "camera-flap"
		}
		ps := make([][]byte, n)
		for i := range ps {
			kind := wire.KindMotion
			if flap {
				kind = wire.KindCameraOffline
				if i%2 == 1 {
					kind = wire.KindCameraOnline
				}
			}
			p, err := json.Marshal(wire.Event{Seq: uint64(i + 1), ID: wire.EventID(gw, uint64(i+1)), Kind: kind, Source: "gate-cam",
				State: wire.StateActive, Time: t0.Add(time.Duration(i) * time.Millisecond), ClockSynced: true, Boot: "b1"})
			if err != nil {
				b.Fatal(err)
			}
			ps[i] = p
		}
		b.Run(name, func(b *testing.B) {
			var wall time.Duration
			for b.Loop() {
				b.StopTimer()
				s, err := Open(filepath.Join(b.TempDir(), "events.db"), Options{Gather: -1})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				for i := 0; i < n; i += k {
					var wg sync.WaitGroup
					for _, p := range ps[i:min(i+k, n)] {
						wg.Add(1)
						s.Submit(gw, "event", p, func(_ Result, err error) {
							if err != nil {
								b.Error(err)
							}
							wg.Done()
						})
					}
					wg.Wait()
				}
				wall += time.Since(start)
				b.StopTimer()
				s.settleOutages()
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(wall.Microseconds())/float64(b.N*n), "µs/event")
		})
	}
}
