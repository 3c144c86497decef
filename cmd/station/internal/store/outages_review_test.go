package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// A gateway that reports a camera_offline for ever new camera names (a
// malicious or broken one) opens outages that never close: they too
// count against MaxOutages, the oldest open camera outage going first;
// the gateway's own open outage stays.
func TestReviewOpenCameraOutagesBounded(t *testing.T) {
	s := openLog(t, filepath.Join(t.TempDir(), "events.db"))
	const gw = "cong-khu-3"
	now := s.now()
	s.SetStatus(gw, wire.Status{Online: false, Boot: "b1"}, now.Add(-time.Hour))
	start := now.Add(-50 * time.Minute)
	n := MaxOutages + 20
	for i := range n {
		cam := fmt.Sprintf("cam-%d", i)
		if _, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, uint64(i+1), wire.KindCameraOffline, cam, start.Add(time.Duration(i)*time.Second), true)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Outages(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	os := all[gw]
	if len(os) > MaxOutages {
		t.Fatalf("%d outages kept for %d camera names, want at most %d", len(os), n, MaxOutages)
	}
	if os[0].Camera != "" || !os[0].Open() {
		t.Errorf("the gateway's own open outage was not kept: first %+v", os[0])
	}
	if last := os[len(os)-1]; last.Camera != fmt.Sprintf("cam-%d", n-1) {
		t.Errorf("newest outage kept is %+v, want cam-%d's", last, n-1)
	}
}

// A status message returns without waiting for a commit: the console
// handles every gateway's statuses, telemetry and command replies on one
// goroutine, and a gateway flapping its status (or its connection) must
// not hold it on the disk, nor on bbolt's one write lock the event
// writer holds. Here another write transaction holds that lock; the
// outages are recorded once it is released.
func TestReviewSetStatusDoesNotWaitForTheDisk(t *testing.T) {
	s := openLog(t, filepath.Join(t.TempDir(), "events.db"))
	const gw = "cong-khu-3"
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	release, held := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- s.db.Update(func(*bolt.Tx) error { close(held); <-release; return nil })
	}()
	<-held
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for i := range 100 {
			at := t0.Add(time.Duration(i) * time.Minute)
			s.SetStatus(gw, wire.Status{Online: false, Boot: "b1"}, at)
			s.SetStatus(gw, wire.Status{Online: true, Boot: "b1"}, at.Add(time.Second))
		}
	}()
	select {
	case <-returned:
	case <-time.After(20 * time.Second):
		t.Error("SetStatus waited for the write lock held by another transaction")
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Fatal(err)
	}
	<-returned
	all, err := s.Outages(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(all[gw]); n != 100 {
		t.Fatalf("%d outages recorded after the flaps, want 100", n)
	}
}

// A gateway that boots without a clock (a board with no RTC, before NTP)
// stamps its first events in 1970, ClockSynced false: a camera that is
// not up yet at boot then reports camera_offline from 1970, and
// camera_online minutes later, once the clock is set. The outage is not
// 56 years long on the sites page: an unsynced time that cannot be right
// (older than the outages kept, or after the event reached the station)
// is replaced by when the event reached the station; it stays marked
// unsynced.
func TestReviewUnsyncedCameraOutageTime(t *testing.T) {
	s := openLog(t, filepath.Join(t.TempDir(), "events.db"))
	const gw = "cong-khu-3"
	arrived := s.now() // the store's clock: when both events reach it
	if _, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, 1, wire.KindCameraOffline, "gate-cam", time.Unix(42, 0), false)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, 2, wire.KindCameraOnline, "gate-cam", arrived.Add(5*time.Second), true)); err != nil {
		t.Fatal(err)
	}
	// A plausible unsynced time is the gateway's still (TestCameraOutages).
	if _, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, 3, wire.KindCameraOffline, "yard-cam", arrived.Add(-time.Hour), false)); err != nil {
		t.Fatal(err)
	}
	wantOutages(t, s, time.Time{}, gw, "yard-cam 12:00:00-? gate-cam 13:00:00-13:00:05?")
}

// A camera event whose source is not a camera name (a gateway's cameras
// are named as ids are, device/config; the live view opens only those)
// records no outage: no row for markup or a 40 KB "name" on the sites
// page, no key bbolt refuses. The event itself is stored.
func TestReviewCameraOutageNeedsACameraName(t *testing.T) {
	s := openLog(t, filepath.Join(t.TempDir(), "events.db"))
	const gw = "cong-khu-3"
	for i, src := range []string{strings.Repeat("x", 40<<10), `<b>cam</b>`, "Cổng"} {
		if r, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, uint64(i+1), wire.KindCameraOffline, src, s.now(), true)); err != nil || r.Status != New {
			t.Fatalf("event %d: %+v %v", i+1, r, err)
		}
	}
	wantOutages(t, s, time.Time{}, gw, "")
}
