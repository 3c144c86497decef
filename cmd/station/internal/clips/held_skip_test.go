package clips

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"
)

// Held lists the complete clips of one gateway's camera over a range, and
// tells whether announcements cover it: another gateway's or camera's
// clips, partial ones, ones outside the range and a gap in the
// announcements are each told apart.
func TestHeld(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	seg := func(gw, cam, id string, start time.Time, dur time.Duration, complete bool) {
		t.Helper()
		data := []byte(fmt.Sprintf("bytes of %s/%s", gw, id))
		sum := sha256.Sum256(data)
		// Durations announced in milliseconds, one frame short of the next
		// segment's start.
		if err := s.Announce(Info{Gateway: gw, ID: id, Camera: cam, Start: start.Format(time.RFC3339Nano), Duration: (dur - 40*time.Millisecond).Milliseconds(),
			Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}
		n := len(data)
		if !complete {
			n = 3
		}
		if _, err := s.Put(gw, id, 0, data[:n]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		seg("gw", "cam", fmt.Sprintf("seg-%d", i), t0.Add(time.Duration(i)*time.Minute), time.Minute, i != 3)
	}
	seg("gw", "other-cam", "o-1", t0, time.Minute, true)
	seg("gw-2", "cam", "seg-9", t0, time.Minute, true) // key "gw-2/…" sorts beside "gw/…"
	seg("gw", "cam", "later", t0.Add(2*time.Hour), time.Minute, true)

	for _, tc := range []struct {
		name      string
		from, to  time.Time
		complete  []string
		announced int
		covered   bool
		all       bool
	}{
		// Bounds are inclusive, as the gateway's: a range to 01:03 would
		// hold seg-3, starting then.
		{"first three", t0, t0.Add(3*time.Minute - time.Second), []string{"seg-0", "seg-1", "seg-2"}, 3, true, true},
		{"to a segment's start", t0, t0.Add(3 * time.Minute), []string{"seg-0", "seg-1", "seg-2"}, 4, true, false},
		{"with a partial", t0.Add(90 * time.Second), t0.Add(4 * time.Minute), []string{"seg-1", "seg-2", "seg-4"}, 4, true, false},
		{"past the announcements", t0.Add(4 * time.Minute), t0.Add(10 * time.Minute), []string{"seg-4"}, 1, false, false},
		{"before the announcements", t0.Add(-time.Minute), t0.Add(30 * time.Second), []string{"seg-0"}, 1, false, false},
		{"a gap", t0.Add(4 * time.Minute), t0.Add(2*time.Hour + 30*time.Second), []string{"seg-4", "later"}, 2, false, false},
		{"nothing", t0.Add(10 * time.Hour), t0.Add(11 * time.Hour), []string{}, 0, false, false},
	} {
		h, err := s.Held("gw", "cam", tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(h.Complete, tc.complete) || h.Announced != tc.announced || h.Covered != tc.covered || h.All() != tc.all {
			t.Errorf("%s: Held = %+v (all %v), want complete %v of %d, covered %v, all %v", tc.name, h, h.All(), tc.complete, tc.announced, tc.covered, tc.all)
		}
	}
}
