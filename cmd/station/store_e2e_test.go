package main

// End-to-end tests of the promise "delivered means stored" (issue 8),
// through the real `station` and `gateway` binaries (binaries_e2e_test.go):
// whatever the gateway was PUBACKed for is in the station's store, as
// `station dump` shows it, across SIGKILL and restarts of the station,
// with 200 gateways draining at once, with a slow store, for snapshots and
// after a gateway's storage was replaced.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// quiet is the logger of the outboxes the tests open themselves.
var quiet = slog.New(slog.DiscardHandler)

// prefill writes n events into the outbox at path, bounded by maxBytes
// (outbox.max_bytes), as a gateway whose station was unreachable would
// have: real outbox records (seqs from its counter, its epoch), written
// without fsync to save the test's time.
func prefill(t testing.TB, path, gw string, n int, maxBytes int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.Open(path, outbox.Options{Gateway: gw, NoSync: true, MaxBytes: maxBytes, Logger: quiet})
	if err != nil {
		t.Fatalf("open outbox %s: %v", path, err)
	}
	batch := make([]*wire.Event, 0, 1000)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := ob.AppendBatch(context.Background(), batch); err != nil {
			t.Fatalf("prefill %s: %v", path, err)
		}
		batch = batch[:0]
	}
	start := time.Now()
	for i := range n {
		batch = append(batch, &wire.Event{Kind: wire.KindMotion, Source: "pir", State: wire.StateActive,
			Time: start.Add(time.Duration(i) * time.Millisecond), ClockSynced: true, Boot: "prefill"})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	if got := ob.Stats().Depth; got != n {
		t.Fatalf("prefilled outbox holds %d events, want %d", got, n)
	}
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkAllStored fails the test unless gw's epoch in s holds every seq of
// 1..last, and nothing above last.
func checkAllStored(t testing.TB, s *stored, gw, epoch string, last uint64) {
	t.Helper()
	if first, n := s.missing(gw, epoch, last); n > 0 {
		t.Errorf("%s epoch %q: %d of seqs 1..%d not in the station's store, first: %v", gw, epoch, n, last, first)
	}
	if m := s.maxSeq(gw, epoch); m > last {
		t.Errorf("%s epoch %q: the store holds seq %d, above the gateway's last %d", gw, epoch, m, last)
	}
}

// oneEpoch returns gw's only epoch in s, failing the test when there are
// none or several.
func oneEpoch(t testing.TB, s *stored, gw string) string {
	t.Helper()
	eps := s.epochs(gw)
	if len(eps) != 1 {
		t.Fatalf("%s: want events under one epoch, the store has %q", gw, eps)
	}
	return eps[0]
}

// TestBacklogThroughStationKill: a gateway comes back with a 20,000-event
// backlog (4,000 under -short). While it drains, the station is killed with
// SIGKILL once and restarted, later stopped with SIGTERM and started again.
// Every seq the gateway captured is in the station's store, and the
// gateway's outbox ends empty.
func TestBacklogThroughStationKill(t *testing.T) {
	backlog := 20000
	if testing.Short() {
		backlog = 4000
	}
	const gw = "cong-khu-3"
	dir := t.TempDir()
	gwData, stData := filepath.Join(dir, "gw"), filepath.Join(dir, "station")
	prefill(t, filepath.Join(gwData, device.OutboxFile), gw, backlog, gatewayMaxBytes)

	listen := devtest.FreeAddr(t)
	st := startStation(t, stData, listen)
	api := devtest.FreeAddr(t)
	cfg := writeGatewayConfig(t, dir, gw, gwData, listen, api, "", "")
	g := startBinGateway(t, cfg, api)
	start := time.Now()

	// delivered is how many events have left the outbox (PUBACKed and
	// removed); the boot event of each gateway start comes on top.
	total := backlog + 1
	delivered := func() int { return total - g.status(t).Outbox.Depth }
	waitDelivered := func(n int) {
		devtest.WaitFor(t, 3*time.Minute, fmt.Sprintf("%d events delivered", n), func() bool { return delivered() >= n })
	}

	waitDelivered(total / 4)
	st.kill()
	atKill := delivered()
	t.Logf("%v: station killed (SIGKILL) with %d of %d delivered", time.Since(start).Round(time.Millisecond), atKill, total)
	if atKill >= total {
		t.Fatalf("the backlog had drained before the kill: nothing was tested")
	}
	st = startStation(t, stData, listen)

	waitDelivered(atKill + (total-atKill)/3)
	at := delivered()
	st.stop(t)
	t.Logf("%v: station stopped (SIGTERM) with %d of %d delivered", time.Since(start).Round(time.Millisecond), at, total)
	if at >= total {
		t.Fatalf("the backlog had drained before the SIGTERM: nothing was tested")
	}
	st = startStation(t, stData, listen)

	var last uint64
	devtest.WaitFor(t, 3*time.Minute, "the gateway's outbox to drain", func() bool {
		s := g.status(t).Outbox
		last = s.NextSeq - 1
		return s.Depth == 0
	})
	t.Logf("%v: the gateway's outbox is empty", time.Since(start).Round(time.Millisecond))
	g.term(t)
	st.stop(t)
	if ob := outboxStats(t, cfg); ob.Depth != 0 {
		t.Errorf("gateway outbox stats after the drain: depth %d, want 0", ob.Depth)
	}
	if last < uint64(total) {
		t.Fatalf("gateway's last seq %d, below the %d events it captured", last, total)
	}

	s := dump(t, stData)
	ep := oneEpoch(t, s, gw)
	checkAllStored(t, s, gw, ep, last)
	if s.dups > 0 {
		t.Errorf("the store holds %d duplicate (gateway, epoch, seq) events", s.dups)
	}
	t.Logf("%d events stored for %s, seqs 1..%d", len(s.events[gw][ep]), gw, last)
}

// simGateway is a gateway simulated in the test process: a real outbox
// and a real uplink.Session with its own MQTT connection.
type simGateway struct {
	id string
	ob *outbox.Outbox
	s  *uplink.Session
}

// simMaxBytes is the outbox bound of a simulated gateway: ample for its
// backlog, and small, because each outbox holds a disk reserve of a
// sixteenth of it (256 KiB here; 4 MiB for the default 256 MiB), written
// at every open.
const simMaxBytes = 4 << 20

// openSimGateways opens n gateways named gw-000, ..., each with a backlog
// of per events in its own outbox under dir; the outboxes are closed when
// the test ends. noSync turns their fsyncs off (the benchmarks: on one
// machine, 200 outboxes fsyncing their acks would measure this machine's
// disk rather than the station, whose gateways each have their own).
func openSimGateways(t testing.TB, dir string, n, per int, noSync bool) []*simGateway {
	t.Helper()
	var gws []*simGateway
	for i := range n {
		id := fmt.Sprintf("gw-%03d", i)
		path := filepath.Join(dir, id, device.OutboxFile)
		prefill(t, path, id, per, simMaxBytes)
		ob, err := outbox.Open(path, outbox.Options{Gateway: id, MaxBytes: simMaxBytes, Logger: quiet, NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ob.Close() })
		gws = append(gws, &simGateway{id: id, ob: ob})
	}
	return gws
}

// runSimGateways runs a session for each gateway against broker
// (host:port), all at once, until stop (or the end of the test).
func runSimGateways(t testing.TB, gws []*simGateway, broker string, window int) (stop func()) {
	t.Helper()
	u, err := url.Parse("mqtt://" + broker)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, g := range gws {
		cfg := uplink.Config{Broker: u, Gateway: g.id, ClientID: g.id, KeepAlive: 30 * time.Second,
			TelemetryInterval: time.Hour, Window: window, Version: "e2e", Boot: "sim", Started: time.Now(),
			ConnectTimeout: 30 * time.Second}
		cfg.Backoff.Min, cfg.Backoff.Max = 100*time.Millisecond, 2*time.Second
		g.s = uplink.New(cfg, device.OutboxQueue(g.ob), nil, nil, nil)
		wg.Go(func() {
			if err := g.s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: session: %v", g.id, err)
			}
		})
	}
	stop = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
	})
	t.Cleanup(stop)
	return stop
}

// depths returns the sum of the gateways' outbox depths.
func depths(gws []*simGateway) int {
	n := 0
	for _, g := range gws {
		n += g.ob.Stats().Depth
	}
	return n
}

// TestManyGatewaysDrainAtOnce: 200 gateways (40 under -short), each with a
// 200-event backlog (100) in its own real outbox, connect at once to one
// station, as after a commune-wide 4G outage. Every event is stored, and
// the broker's drop counters stay zero.
func TestManyGatewaysDrainAtOnce(t *testing.T) {
	n, per := 200, 200
	if testing.Short() {
		n, per = 40, 100
	}
	dir := t.TempDir()
	stData := filepath.Join(dir, "station")
	st := startStation(t, stData, devtest.FreeAddr(t))
	gws := openSimGateways(t, filepath.Join(dir, "gws"), n, per, false)
	start := time.Now()
	stop := runSimGateways(t, gws, st.addr, 0)
	devtest.WaitFor(t, 5*time.Minute, "every gateway's outbox to drain", func() bool { return depths(gws) == 0 })
	t.Logf("%d gateways × %d events drained in %v", n, per, time.Since(start).Round(time.Millisecond))
	stop()
	st.stop(t)

	s := dump(t, stData)
	storedN := 0
	for _, g := range gws {
		ep := oneEpoch(t, s, g.id)
		checkAllStored(t, s, g.id, ep, uint64(per))
		storedN += len(s.events[g.id][ep])
	}
	if s.dups > 0 {
		t.Errorf("the store holds %d duplicate events", s.dups)
	}
	if want := n * per; storedN != want {
		t.Errorf("%d events stored, want %d", storedN, want)
	}
}

// TestSlowStoreSlowsGateways: with every store commit made 50 ms slower
// (ANTT_STATION_COMMIT_DELAY), the station must slow the gateway down
// rather than queue or drop: it PUBACKs an event only after its commit,
// and the gateway has at most its window (8 here) of events in flight, so
// draining N events takes at least (N/8 - 1) commits. Nothing is dropped.
func TestSlowStoreSlowsGateways(t *testing.T) {
	const (
		delay  = 50 * time.Millisecond
		window = 8
		gw     = "truong-thcs-chi-dam"
	)
	backlog := 400
	if testing.Short() {
		backlog = 200
	}
	dir := t.TempDir()
	gwData, stData := filepath.Join(dir, "gw"), filepath.Join(dir, "station")
	prefill(t, filepath.Join(gwData, device.OutboxFile), gw, backlog, gatewayMaxBytes)
	listen := devtest.FreeAddr(t)
	st := startStation(t, stData, listen, "ANTT_STATION_COMMIT_DELAY="+delay.String())
	api := devtest.FreeAddr(t)
	cfg := writeGatewayConfig(t, dir, gw, gwData, listen, api, fmt.Sprintf("  window: %d\n", window), "")
	start := time.Now()
	g := startBinGateway(t, cfg, api)

	total := backlog + 1 // and the boot event
	var (
		last    uint64
		samples []int // outbox depth, sampled evenly in time while draining
	)
	devtest.WaitFor(t, 3*time.Minute, "the outbox to drain into the slow station", func() bool {
		s := g.status(t).Outbox
		last = s.NextSeq - 1
		samples = append(samples, s.Depth)
		return s.Depth == 0
	})
	took := time.Since(start)
	minimum := time.Duration(total/window-1) * delay
	t.Logf("%d events drained in %v through a store with a %v commit delay (at least %v with window %d); %d depth samples",
		total, took.Round(time.Millisecond), delay, minimum, window, len(samples))
	if took < minimum {
		t.Errorf("drained in %v, faster than %d commits of %v allow: the gateway was PUBACKed before the store committed", took, total/window-1, delay)
	}
	// The depth fell step by step as commits landed: show a few samples.
	var steps []int
	for i := range 5 {
		steps = append(steps, samples[i*(len(samples)-1)/4])
	}
	t.Logf("outbox depth at 0, ¼, ½, ¾ and all of the drain: %v", steps)
	g.term(t)
	st.stop(t)

	s := dump(t, stData)
	checkAllStored(t, s, gw, oneEpoch(t, s, gw), last)
}

// jpegServer serves one JPEG as a camera's snapshot URL does and counts the
// requests.
func jpegServer(t testing.TB) (url string, jpeg []byte, hits *atomic.Int64) {
	t.Helper()
	jpeg = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, make([]byte, 40000)...)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	for i := 4; i < len(jpeg); i++ {
		jpeg[i] = byte(rng.Uint32())
	}
	jpeg = append(jpeg, 0xFF, 0xD9)
	hits = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpeg)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/ISAPI/Streaming/channels/101/picture", jpeg, hits
}

// TestSnapshotSurvivesStationKill: a gateway's motion sensor takes a
// camera snapshot; the gateway publishes the JPEG after its event. The
// moment the gateway has both PUBACKs (its outbox is empty again), the
// station is killed with SIGKILL and started again: the snapshot is in the
// store, with the served JPEG's size and SHA-256, and `station dump
// -snapshot` gives back exactly those bytes.
func TestSnapshotSurvivesStationKill(t *testing.T) {
	const gw = "cong-truong-mn"
	dir := t.TempDir()
	gwData, stData := filepath.Join(dir, "gw"), filepath.Join(dir, "station")
	snapURL, jpeg, hits := jpegServer(t)
	listen := devtest.FreeAddr(t)
	st := startStation(t, stData, listen)
	api := devtest.FreeAddr(t)
	cfg := writeGatewayConfig(t, dir, gw, gwData, listen, api, "", fmt.Sprintf(`sensors:
  - {name: gate-pir, kind: motion, driver: sim, script: [{at: 1s, level: high}, {at: 2s, level: low}]}
cameras:
  - {name: cam-cong, url: "rtsp://127.0.0.1:1/never", snapshot_url: %q, snapshot_on: [gate-pir]}
`, snapURL))
	g := startBinGateway(t, cfg, api)

	// The boot event is stored at start; the motion event only once its
	// snapshot was fetched, so a next seq past both and an empty outbox
	// mean both were PUBACKed, the JPEG too.
	devtest.WaitFor(t, time.Minute, "the motion event and its snapshot PUBACKed", func() bool {
		s := g.status(t).Outbox
		return hits.Load() > 0 && s.NextSeq >= 3 && s.Depth == 0
	})
	st.kill()
	g.term(t)
	st = startStation(t, stData, listen)
	st.stop(t)

	s := dump(t, stData)
	ep := oneEpoch(t, s, gw)
	var found *dumpLine
	for _, l := range s.events[gw][ep] {
		var e wire.Event
		if err := json.Unmarshal(l.Event, &e); err != nil {
			t.Fatalf("stored event: %v: %s", err, l.Event)
		}
		if e.Kind == wire.KindMotion && e.State == wire.StateActive {
			if e.Attrs["snapshot"] != true {
				t.Fatalf("the motion event has no snapshot: attrs %v", e.Attrs)
			}
			found = &l
		}
	}
	if found == nil {
		t.Fatalf("no active motion event stored for %s", gw)
	}
	sum := sha256.Sum256(jpeg)
	switch {
	case found.Snapshot == nil:
		t.Fatalf("event %d is stored without its snapshot: %s", found.Seq, found.raw)
	case found.Snapshot.Bytes != int64(len(jpeg)) || found.Snapshot.SHA256 != hex.EncodeToString(sum[:]):
		t.Fatalf("event %d's snapshot is %d bytes sha256 %s; the camera served %d bytes sha256 %x",
			found.Seq, found.Snapshot.Bytes, found.Snapshot.SHA256, len(jpeg), sum)
	}
	if got := dumpSnapshotBytes(t, stData, gw, ep, found.Seq); !bytes.Equal(got, jpeg) {
		t.Fatalf("station dump -snapshot %s/%s/%d gave %d bytes, not the served JPEG (%d bytes)", gw, ep, found.Seq, len(got), len(jpeg))
	}
	t.Logf("event %s/%s/%d stored with its %d-byte snapshot, sha256 %s", gw, ep, found.Seq, found.Snapshot.Bytes, found.Snapshot.SHA256)
}

// TestNewSDCard: a gateway's storage is replaced (its outbox and the .seq
// sidecar are gone, as with a new SD card), so its seqs start again at 1.
// Its next events are stored under a new epoch, not dropped as duplicates,
// and the station records a storage_replaced notice naming the old epoch
// and its last seq.
func TestNewSDCard(t *testing.T) {
	const gw = "nha-van-hoa-to-5"
	dir := t.TempDir()
	gwData, stData := filepath.Join(dir, "gw"), filepath.Join(dir, "station")
	listen := devtest.FreeAddr(t)
	st := startStation(t, stData, listen)
	api := devtest.FreeAddr(t)
	cfg := writeGatewayConfig(t, dir, gw, gwData, listen, api, "", "")

	// run starts the gateway, captures walk tests, waits until they are
	// delivered, stops it and returns its last seq.
	run := func(walks int) uint64 {
		g := startBinGateway(t, cfg, api)
		for range walks {
			g.walk(t, "pir")
		}
		var last uint64
		devtest.WaitFor(t, time.Minute, "the walk tests delivered", func() bool {
			s := g.status(t).Outbox
			last = s.NextSeq - 1
			return s.Depth == 0
		})
		g.term(t)
		return last
	}
	oldLast := run(5)
	for _, f := range []string{device.OutboxFile, device.OutboxFile + ".seq"} {
		if err := os.Remove(filepath.Join(gwData, f)); err != nil {
			t.Fatalf("remove %s (the new SD card): %v", f, err)
		}
	}
	newLast := run(3)
	if newLast >= oldLast {
		t.Fatalf("after the new SD card the gateway's last seq is %d, not below the old %d: the storage was not replaced", newLast, oldLast)
	}
	st.stop(t)

	s := dump(t, stData)
	eps := s.epochs(gw)
	if len(eps) != 2 || eps[0] == eps[1] {
		t.Fatalf("want events under two epochs (old card, new card), the store has %q", eps)
	}
	for _, ep := range eps {
		if !wire.ValidEpoch(ep) {
			t.Errorf("epoch %q is not a valid epoch", ep)
		}
	}
	checkAllStored(t, s, gw, eps[0], oldLast)
	checkAllStored(t, s, gw, eps[1], newLast)
	var notices []dumpLine
	for _, l := range s.lines {
		if l.Type == "notice" && l.Kind == "storage_replaced" {
			notices = append(notices, l)
		}
	}
	if len(notices) != 1 {
		t.Fatalf("want one storage_replaced notice, the store has %d: %v", len(notices), notices)
	}
	n := notices[0]
	t.Logf("old card: epoch %s seqs 1..%d; new card: epoch %s seqs 1..%d; notice %s", eps[0], oldLast, eps[1], newLast, n.raw)
	if n.Gateway != gw || n.Kind != "storage_replaced" || n.OldEpoch != eps[0] || n.OldLastSeq != oldLast || n.NewEpoch != eps[1] {
		t.Errorf("notice %s: want gateway %s, storage_replaced, old_epoch %s, old_last_seq %d, new_epoch %s",
			n.raw, gw, eps[0], oldLast, eps[1])
	}
}
