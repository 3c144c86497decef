package live

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// TestPlaybackOverlappingCutRecordingsEnds: two recordings of a camera
// overlap in time (an event clip inside a continuous segment) and both
// were cut short on the card (their index still says their full length).
// At the end of one, the next is the other, which "holds" that time by
// its index; at its end the first again, and so on: the playback looped
// over the same seconds for as long as the viewer stayed, never reaching
// the recordings after them. A recording played to its end is not chosen
// again: the playback goes on to the next one and ends.
func TestPlaybackOverlappingCutRecordingsEnds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := openRecordStoreIn(t, dir)
	recordSegment(t, st, "gate", t0, 250, 0)                        // [0 s, 10 s)
	recordSegment(t, st, "gate", t0.Add(2*time.Second), 150, 1000)  // [2 s, 8 s)
	recordSegment(t, st, "gate", t0.Add(20*time.Second), 100, 2000) // [20 s, 24 s)
	list, err := st.List("gate", time.Time{}, time.Time{})
	if err != nil || len(list) != 3 {
		t.Fatalf("%d recordings, %v", len(list), err)
	}
	byStart := map[time.Time]record.Info{}
	for _, in := range list {
		byStart[in.Start] = in
	}
	for _, at := range []time.Time{t0, t0.Add(2 * time.Second)} {
		in := byStart[at]
		if err := os.Truncate(filepath.Join(dir, in.ID+".mp4"), in.Bytes/2); err != nil {
			t.Fatal(err)
		}
	}
	e := &ends{msgs: map[string]wire.LiveEndMsg{}}
	m := startManager(t, Options{Recordings: st, Publish: e.publish})
	v, _ := play(t, m, OfferRequest{Camera: "gate", From: t0, To: t0.Add(30 * time.Second), Speed: 4})
	devtest.WaitFor(t, 40*time.Second, "the playback to end", func() bool { _, ok := e.of(v.session); return ok })
	if end, _ := e.of(v.session); end.Reason != ReasonRecordingsEnd && end.Reason != ReasonRangeEnd {
		t.Errorf("end reason %q", end.Reason)
	}
	// Reached the recording after the cut ones, to its very end.
	if aus := v.waitLast(t, 2099); aus[len(aus)-1].mark != 2099 {
		t.Errorf("last frame %d, want the last of the recording after the cut ones (2099)", aus[len(aus)-1].mark)
	}
}
