package mp4

import (
	"bytes"
	"testing"
	"time"
)

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

// FuzzWriterGarbage feeds the writer what a broken camera may send:
// timestamps in any order, key flags anywhere, empty and huge NAL units.
// It must never panic, keep its fragment bounded, and write a file whose
// duration is what it reports.
func FuzzWriterGarbage(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 5, 0x65, 0, 40, 0, 3, 0x41, 0xff, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 3, 0x65, 1, 0xff, 0xff, 9, 0x41, 0, 0x80, 0, 0, 1})
	_, tr := loadClip(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, tr, WriterOptions{MaxFragmentBytes: 1 << 12})
		if err != nil {
			t.Fatal(err)
		}
		pts := time.Duration(0)
		// Each record: 2 bytes of signed PTS step (ms), 1 byte key flag,
		// 1 byte NAL length (0: empty), then the NAL.
		for len(in) >= 4 {
			step := time.Duration(int16(uint16(in[0])<<8|uint16(in[1]))) * time.Millisecond * 97
			key := in[2]&1 == 1
			n := int(in[3])
			in = in[4:]
			n = min(n, len(in))
			nal := append([]byte(nil), in[:n]...)
			in = in[n:]
			pts += step
			_ = w.WriteFrame(pts, key, [][]byte{nal})
			if w.Pending() > maxFragmentSamples {
				t.Fatalf("%d samples pending", w.Pending())
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if w.Duration() < 0 || w.Duration() > time.Duration(w.Frames()+1)*5*time.Second {
			t.Fatalf("duration %v for %d frames", w.Duration(), w.Frames())
		}
	})
}
