package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
)

const (
	// storeFile is the store's file in the data directory.
	storeFile = "events.db"
	// commitDelayEnv, a Go duration, delays every store commit: end-to-end
	// tests use it to make the store slow. Never set it in production.
	commitDelayEnv = "ANTT_STATION_COMMIT_DELAY"
)

// byteSize is a flag holding a size in bytes, written as a number with an
// optional unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB.
type byteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return fmt.Errorf("size %q: want a number of bytes, optionally with KiB, MiB, GiB, TiB (or KB, MB, GB, TB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// storeStats is the store's writer counters, for the same line: the
// events a commit held is the first thing to look at when ingest slows.
func storeStats(st *store.Store) string {
	w := st.Stats()
	return fmt.Sprintf("store_commits=%d store_requests=%d", w.Commits, w.Requests)
}

// brokerStats is the embedded broker's counters in one line, for the log
// at shutdown: tests check that nothing was dropped.
func brokerStats(b *broker.Broker) string {
	i := b.Info()
	stored, invalid, failed := b.Ingested()
	return fmt.Sprintf("messages_received=%d messages_sent=%d messages_dropped=%d inflight=%d inflight_dropped=%d clients_maximum=%d stored=%d invalid=%d store_failed=%d",
		i.MessagesReceived, i.MessagesSent, i.MessagesDropped, i.Inflight, i.InflightDropped, i.ClientsMaximum, stored, invalid, failed)
}
