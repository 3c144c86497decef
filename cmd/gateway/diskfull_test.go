package main

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// fillDisk appends to path until its file system is full.
func fillDisk(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	for {
		if _, err := f.Write(buf); errors.Is(err, unix.ENOSPC) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// lostIn returns the seqs the delivered outbox_overflow events report lost.
func lostIn(r *received) map[uint64]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	lost := map[uint64]bool{}
	for _, e := range r.seen {
		if e.Kind != wire.KindOutboxOverflow {
			continue
		}
		first, _ := e.Attrs["first_seq"].(float64)
		last, _ := e.Attrs["last_seq"].(float64)
		runs := [][2]uint64{{uint64(first), uint64(last)}}
		if rs, ok := e.Attrs["ranges"].([]any); ok {
			runs = runs[:0]
			for _, r := range rs {
				p, _ := r.([]any)
				if len(p) == 2 {
					a, _ := p[0].(float64)
					b, _ := p[1].(float64)
					runs = append(runs, [2]uint64{uint64(a), uint64(b)})
				}
			}
		}
		for _, run := range runs {
			for s := run[0]; s <= run[1] && s > 0; s++ {
				lost[s] = true
			}
		}
	}
	return lost
}

// TestDiskFullKeepsDelivering is the measured failure of issue 8 with the
// real gateway process and Mosquitto: the data directory on a 4 MiB file
// system, outbox.max_bytes below and above its size, walk tests
// acknowledged while the station is unreachable, then other files fill the
// disk and keep it full. Once the station is back the gateway drains its
// whole outbox with the disk still full, every acknowledged walk test is
// delivered or inside a reported overflow range, and new walk tests are
// still stored and delivered.
func TestDiskFullKeepsDelivering(t *testing.T) {
	before, after := 4000, 2000
	if testing.Short() {
		before, after = 1500, 800 // under qemu-user
	}
	for _, maxBytes := range []string{"2MiB", "16MiB"} {
		t.Run("max_bytes "+maxBytes, func(t *testing.T) {
			disk := devtest.MountTmpfs(t, 4<<20)
			broker := mqtttest.Start(t, mqtttest.Options{Extra: []string{"max_queued_messages 0"}})
			proxy := mqtttest.NewProxy(t, broker.Addr())
			r := newReceived()
			subscribe(t, broker.Addr(), "diskfull-station", r)
			proxy.SetDown(true) // the station is unreachable: a backlog builds

			dir := t.TempDir()
			api := devtest.FreeAddr(t)
			cfg := gwConfig{ID: "cong-khu-3", DataDir: filepath.Join(disk, "gateway"), Broker: "mqtt://" + proxy.Addr(),
				API: api, MaxBytes: maxBytes}.write(t, dir)
			gw := startGateway(t, cfg, api)

			var mu sync.Mutex
			var acked []uint64
			walk := func(n int) (refused int) {
				var wg sync.WaitGroup
				var left, no atomic.Int64
				left.Store(int64(n))
				client := newHTTPClient()
				for range 4 {
					wg.Go(func() {
						for left.Add(-1) >= 0 {
							if seq := walktest(client, api, "pir"); seq != 0 {
								mu.Lock()
								acked = append(acked, seq)
								mu.Unlock()
							} else {
								no.Add(1)
							}
						}
					})
				}
				wg.Wait()
				return int(no.Load())
			}
			if n := walk(before); n > 0 {
				t.Fatalf("%d walk tests refused before the disk was full", n)
			}
			if err := fillDisk(filepath.Join(disk, "other-files")); err != nil {
				t.Fatal(err)
			}
			refused := walk(after)
			st := gw.status(t).Outbox
			t.Logf("disk full: %d walk tests acknowledged, %d refused; outbox %+v", len(acked), refused, st)
			if st.Bound > 4<<20 || st.Bound <= 0 {
				t.Fatalf("bound %d on a 4 MiB disk", st.Bound)
			}

			// The station comes back; the disk stays full (whatever the
			// outbox frees goes to the other files at once).
			proxy.SetDown(false)
			stopFill := make(chan struct{})
			fillDone := make(chan struct{})
			go func() {
				defer close(fillDone)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stopFill:
						return
					case <-tick.C:
						if err := fillDisk(filepath.Join(disk, "other-files")); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
			defer func() {
				// Also when a wait below fails the test.
				select {
				case <-stopFill:
				default:
					close(stopFill)
				}
				<-fillDone
			}()
			devtest.WaitFor(t, 120*time.Second, "the outbox drained with the disk full", func() bool {
				return gw.status(t).Outbox.Depth == 0
			})
			// New walk tests are still stored and delivered.
			if n := walk(200); n > 20 {
				t.Fatalf("%d of 200 walk tests refused on the drained outbox with the disk full", n)
			}
			last := gw.status(t).Outbox.NextSeq - 1
			devtest.WaitFor(t, 60*time.Second, "the last walk tests delivered", func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				_, ok := r.seen[last]
				return ok
			})
			lost := lostIn(r)
			r.mu.Lock()
			defer r.mu.Unlock()
			delivered := 0
			for _, seq := range acked {
				_, got := r.seen[seq]
				switch {
				case got:
					delivered++
				case !lost[seq]:
					t.Errorf("walk test seq %d acknowledged but neither delivered nor in a reported overflow range", seq)
				}
			}
			if len(lost) == 0 {
				t.Errorf("no overflow reported: the test did not fill the outbox")
			}
			// No unexplained gap: every seq given out arrived or is reported.
			for s := uint64(1); s <= last; s++ {
				if _, got := r.seen[s]; !got && !lost[s] {
					t.Fatalf("seq %d neither delivered nor in a reported overflow range", s)
				}
			}
			st = gw.status(t).Outbox
			t.Logf("%d acknowledged: %d delivered, %d in reported overflow ranges; final outbox %+v", len(acked), delivered, len(acked)-delivered, st)
			gw.stop(t)
		})
	}
}
