package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

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
