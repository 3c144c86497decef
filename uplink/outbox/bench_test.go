package outbox

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
)

const benchWorkers = 64

// runWorkers shares b.N appends among benchWorkers goroutines and reports
// throughput and append latency.
func runWorkers(b *testing.B, appendOne func(i int) error) {
	var next atomic.Int64
	lat := make([][]time.Duration, benchWorkers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range benchWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := appendOne(i); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAppendGroup measures Append from 64 concurrent goroutines with
// fsync on: the group commit path.
func BenchmarkAppendGroup(b *testing.B) {
	o := open(b, filepath.Join(b.TempDir(), "outbox.db"), testOptions())
	ctx := context.Background()
	c0 := o.Commits()
	runWorkers(b, func(i int) error {
		_, err := o.Append(ctx, motion(i))
		return err
	})
	b.ReportMetric(float64(b.N)/float64(max(1, o.Commits()-c0)), "events/commit")
}

// BenchmarkAppendPerEvent is the baseline: the same records, one bbolt
// Update (one fsync) per event, from the same 64 goroutines.
func BenchmarkAppendPerEvent(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "base.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := initDB(db, 1, "0123456789abcdef"); err != nil {
		b.Fatal(err)
	}
	runWorkers(b, func(i int) error {
		return db.Update(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			seq, _ := u64(m.Get(keyNextSeq))
			e := motion(i)
			e.Seq, e.ID = seq, wire.EventID(gw, seq)
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketRecords).Put(seqKey(seq), v); err != nil {
				return err
			}
			return m.Put(keyNextSeq, seqKey(seq+1))
		})
	})
}
