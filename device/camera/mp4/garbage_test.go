package mp4

import (
	"bytes"
	"testing"
	"time"
)

// writeWithPTS muxes n frames of the test clip with pts(i) as each
// frame's presentation time.
// With oneGOP, only the first frame is marked key (a camera whose GOP
// never ends).
func writeWithPTS(t *testing.T, n int, oneGOP bool, opt WriterOptions, pts func(i int) time.Duration) (*Writer, []byte) {
	t.Helper()
	aus, tr := loadClip(t)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, tr, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		au := aus[i%len(aus)]
		if err := w.WriteFrame(pts(i), au.Key && (i == 0 || !oneGOP), au.NALUs); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if w.Pending() > maxFragmentSamples {
			t.Fatalf("frame %d: %d samples pending, more than a fragment may hold", i, w.Pending())
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w, buf.Bytes()
}

// A camera whose clock is stuck (every frame the same PTS) must not make
// the writer hold an ever-growing fragment in memory: the fragment is cut
// by its sample count and bytes too, not only by media time.
func TestStuckPTSBoundsFragment(t *testing.T) {
	w, _ := writeWithPTS(t, 3000, true, WriterOptions{}, func(int) time.Duration { return 7 * time.Second })
	if w.Frames() != 3000 {
		t.Fatalf("frames %d, want 3000", w.Frames())
	}
	if w.Fragments() < 3000/maxFragmentSamples {
		t.Fatalf("%d fragments for 3000 frames, want at least %d", w.Fragments(), 3000/maxFragmentSamples)
	}
}

func TestMaxFragmentBytes(t *testing.T) {
	// A long GOP at a stuck clock: only the byte bound cuts.
	w, _ := writeWithPTS(t, 200, true, WriterOptions{MaxFragmentBytes: 64 << 10}, func(int) time.Duration { return 0 })
	if w.Fragments() < 2 {
		t.Fatalf("%d fragments, want the 64 KiB bound to cut", w.Fragments())
	}
}

// A PTS jumping back (camera clock reset without a new session) or far
// forward (an RTP timestamp glitch) is a discontinuity: the file goes on
// at the normal frame rhythm instead of squeezing frames into one tick,
// giving them a composition offset of minutes, or a sample hours long.
func TestPTSJumps(t *testing.T) {
	for name, jump := range map[string]time.Duration{
		"back 10s":     -10 * time.Second,
		"back 1h":      -time.Hour,
		"forward 20h":  20 * time.Hour,
		"forward 1min": time.Minute,
	} {
		t.Run(name, func(t *testing.T) {
			w, _ := writeWithPTS(t, 200, false, WriterOptions{}, func(i int) time.Duration {
				p := time.Hour + time.Duration(i)*40*time.Millisecond
				if i >= 100 {
					p += jump
				}
				return p
			})
			if d := w.Duration(); d < 7*time.Second || d > 9*time.Second {
				t.Fatalf("duration %v, want about 8s (200 frames at 25/s)", d)
			}
			if w.maxAbsCTS > Timescale {
				t.Fatalf("composition offset of %d ticks written", w.maxAbsCTS)
			}
		})
	}
}

// An access unit with nothing left once parameter sets and empty NAL
// units are dropped is not a sample.
func TestEmptyAccessUnitSkipped(t *testing.T) {
	aus, tr := loadClip(t)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, tr, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(0, true, [][]byte{tr.SPS, tr.PPS, {}}); err == nil {
		t.Fatal("a key frame without a slice started the file")
	}
	if err := w.WriteFrame(0, aus[0].Key, aus[0].NALUs); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(40*time.Millisecond, false, [][]byte{{}, {}}); err != nil {
		t.Fatal(err)
	}
	if w.Pending() != 1 {
		t.Fatalf("%d samples pending, want the empty access unit dropped", w.Pending())
	}
}
