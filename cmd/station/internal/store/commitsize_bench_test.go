package store

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkCommitSize stores one gateway's events in rounds of k submitted
// at once, each round waited for, as a draining gateway's window does, and
// reports the process's CPU per event against the events per commit: what
// a commit costs whatever it holds (its bucket path's pages, bbolt's two
// fdatasyncs) against what each event adds. Run it with -benchtime 1x.
func BenchmarkCommitSize(b *testing.B) {
	const gw, epoch, n = "cong-khu-3", "0f3a9c2e4b5d6a7e", 50_000
	ps := make([][]byte, n)
	for i := range ps {
		ps[i] = epochEv(gw, epoch, uint64(i+1), wire.KindMotion)
	}
	for _, k := range []int{32, 128, 512, 2048} {
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			var cpu, wall time.Duration
			var commits, requests, pages uint64
			for b.Loop() {
				b.StopTimer()
				// No gather: a round's first event commits alone, the rest
				// together, as they do when the writer is idle.
				s, err := Open(filepath.Join(b.TempDir(), "events.db"), Options{Gather: -1})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				cpu0, t0 := processCPU(b), time.Now()
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
				cpu += processCPU(b) - cpu0
				wall += time.Since(t0)
				b.StopTimer()
				st := s.Stats()
				commits, requests = commits+st.Commits, requests+st.Requests
				ts := s.db.Stats().TxStats
				pages += uint64(ts.GetPageCount())
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			events := float64(b.N * n)
			b.ReportMetric(float64(requests)/float64(commits), "events/commit")
			b.ReportMetric(float64(pages)/float64(commits), "pages/commit")
			b.ReportMetric(float64(cpu.Microseconds())/events, "cpu-µs/event")
			b.ReportMetric(float64(wall.Microseconds())/float64(commits), "µs/commit")
		})
	}
}
