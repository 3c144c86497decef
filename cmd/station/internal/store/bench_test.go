package store

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkGroupCommit submits b.N events from 200 gateways at once (each
// its own goroutine, as each gateway has its own read loop in the broker)
// and reports events per second and the mean batch. Compare with
// BenchmarkOneCommitEach, one Add at a time, in the same run.
func BenchmarkGroupCommit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "events.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const gws = 200
	per := max(b.N/gws, 1)
	payloads := make([][][]byte, gws)
	for g := range gws {
		gw := fmt.Sprintf("gw-%03d", g)
		for seq := uint64(1); seq <= uint64(per); seq++ {
			payloads[g] = append(payloads[g], epochEv(gw, "0f3a9c2e4b5d6a7e", seq, wire.KindMotion))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU(b)
	var wg sync.WaitGroup
	for g := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := fmt.Sprintf("gw-%03d", g)
			var inner sync.WaitGroup
			inner.Add(per)
			for _, p := range payloads[g] {
				s.Submit(gw, "event", p, func(_ Result, err error) {
					if err != nil {
						b.Error(err)
					}
					inner.Done()
				})
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := processCPU(b) - cpu0
	st := s.Stats()
	b.ReportMetric(float64(gws*per)/el.Seconds(), "events/s")
	b.ReportMetric(float64(st.Requests)/float64(max(st.Commits, 1)), "events/commit")
	// CPU per event of the whole process (the 200 submitters and the
	// writer): steadier than the wall time on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(gws*per), "cpu-µs/event")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOneCommitEach stores events one Add at a time: one fsync each.
func BenchmarkOneCommitEach(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "events.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := s.Add("gw", "event", epochEv("gw", "", uint64(i+1), wire.KindMotion)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkAfterBrief reads 4,096 stored events in pages of 512, as the
// console's feed does after each commit, with AfterBrief (a new page each
// read) and AfterBriefInto (one page's memory reused, the feed's way), and
// reports the bytes allocated per record: the feed reads every event the
// station stores, so what a page costs is paid on every event.
func BenchmarkAfterBrief(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "events.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const gws, per, size = 8, 512, 512
	var wg sync.WaitGroup
	wg.Add(gws * per)
	for g := range gws {
		gw := fmt.Sprintf("gw-%03d", g)
		for seq := uint64(1); seq <= per; seq++ {
			s.Submit(gw, "event", epochEv(gw, "0f3a9c2e4b5d6a7e", seq, wire.KindMotion), func(_ Result, err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	var page Page
	for _, bc := range []struct {
		name string
		read func(n uint64) ([]Record, error)
	}{
		{"new page each", func(n uint64) ([]Record, error) { return s.AfterBrief(n, size) }},
		{"page reused", func(n uint64) ([]Record, error) {
			err := s.AfterBriefInto(&page, n, size)
			return page.Records, err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			records := 0
			for range b.N {
				for n := uint64(0); ; {
					recs, err := bc.read(n)
					if err != nil {
						b.Fatal(err)
					}
					if len(recs) == 0 {
						break
					}
					if recs[0].Line == nil || recs[len(recs)-1].Line == nil {
						b.Fatal("record without its line")
					}
					records += len(recs)
					n = recs[len(recs)-1].Arrival
				}
			}
			runtime.ReadMemStats(&ms1)
			if records != b.N*gws*per {
				b.Fatalf("read %d records, want %d", records, b.N*gws*per)
			}
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(records), "B/record")
		})
	}
}
