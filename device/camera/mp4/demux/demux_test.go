package demux

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/mp4"
)

// clip muxes frames of the repository's test clip (looped, 25 frames/s)
// and returns the file with the access units written.
func clip(t testing.TB, frames int) ([]byte, []h264.AccessUnit, *mp4.Writer) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	aus, err := h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		t.Fatal(err)
	}
	var tr mp4.Track
	for _, au := range aus {
		for _, n := range au.NALUs {
			switch n[0] & 0x1f {
			case h264.NALSPS:
				tr.SPS = n
			case h264.NALPPS:
				tr.PPS = n
			}
		}
	}
	var buf bytes.Buffer
	w, err := mp4.NewWriter(&buf, tr, mp4.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []h264.AccessUnit
	for i := range frames {
		au := aus[i%len(aus)]
		if err := w.WriteFrame(time.Duration(i)*40*time.Millisecond, au.Key, au.NALUs); err != nil {
			t.Fatal(err)
		}
		out = append(out, au)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), out, w
}

func TestRoundTrip(t *testing.T) {
	b, aus, w := clip(t, 200)
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Truncated {
		t.Error("a whole file is reported truncated")
	}
	if len(f.Samples) != w.Frames() || len(f.Samples) != len(aus) {
		t.Fatalf("%d samples, the writer wrote %d of %d", len(f.Samples), w.Frames(), len(aus))
	}
	if f.Width != 320 || f.Height != 180 || f.Timescale != mp4.Timescale || f.LengthSize != 4 {
		t.Errorf("track %dx%d timescale %d length size %d", f.Width, f.Height, f.Timescale, f.LengthSize)
	}
	if got := f.Duration(); got != w.Duration() {
		t.Errorf("duration %v, writer says %v", got, w.Duration())
	}
	var buf []byte
	for i, s := range f.Samples {
		if want := time.Duration(i) * 40 * time.Millisecond; s.PTS != want || s.DTS != want {
			t.Fatalf("sample %d: pts %v dts %v, want %v", i, s.PTS, s.DTS, want)
		}
		if s.Key != aus[i].Key {
			t.Fatalf("sample %d: key %v, written %v", i, s.Key, aus[i].Key)
		}
		if buf, err = f.ReadSample(i, buf); err != nil {
			t.Fatal(err)
		}
		if want := mp4.AppendAVCC(nil, aus[i].NALUs); !bytes.Equal(buf, want) {
			t.Fatalf("sample %d: %d bytes differ from the %d written", i, len(buf), len(want))
		}
		if _, err := NALUs(buf, f.LengthSize); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	if !bytes.Equal(f.SPS[:4], b[bytes.Index(b, []byte("avcC"))+12:][:4]) {
		t.Error("SPS does not come from avcC")
	}
}

func TestKeyAt(t *testing.T) {
	b, _, _ := clip(t, 200)
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var keys []int
	for i, s := range f.Samples {
		if s.Key {
			keys = append(keys, i)
		}
	}
	if len(keys) < 2 {
		t.Fatalf("the test clip has %d key frames; want several", len(keys))
	}
	k := keys[1]
	at := f.Samples[k].PTS
	for _, c := range []struct {
		t    time.Duration
		want int
	}{{at, k}, {at + 40*time.Millisecond, k}, {at - time.Millisecond, keys[0]}, {-time.Second, keys[0]}, {time.Hour, keys[len(keys)-1]}} {
		if got := f.KeyAt(c.t); got != c.want {
			t.Errorf("KeyAt(%v) = %d, want %d", c.t, got, c.want)
		}
	}
}

// TestCutMidFragment cuts the file at every length inside its last
// fragments: the whole fragments before the cut come back, nothing after.
func TestCutMidFragment(t *testing.T) {
	b, _, _ := clip(t, 200)
	whole, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	moofs := allIndex(b, "moof")
	if len(moofs) < 3 {
		t.Fatalf("%d fragments; want at least 3", len(moofs))
	}
	last := moofs[len(moofs)-1] - 4 // the last fragment's first byte
	for cut := last - 300; cut < len(b); cut += 7 {
		f, err := Open(bytes.NewReader(b[:cut]), int64(cut))
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if !f.Truncated && cut != last {
			t.Fatalf("cut at %d of %d: not reported truncated", cut, len(b))
		}
		want := 0
		for _, s := range whole.Samples {
			if s.Offset < int64(last) {
				want++
			}
		}
		if cut <= last {
			// inside the fragment before: fewer
			if len(f.Samples) >= want {
				t.Fatalf("cut at %d: %d samples, want fewer than %d", cut, len(f.Samples), want)
			}
		} else if len(f.Samples) != want {
			t.Fatalf("cut at %d: %d samples, want the %d of whole fragments", cut, len(f.Samples), want)
		}
		for i, s := range f.Samples {
			if s.Offset+int64(s.Size) > int64(cut) || s != whole.Samples[i] {
				t.Fatalf("cut at %d: sample %d is %+v, want %+v within the file", cut, i, s, whole.Samples[i])
			}
		}
	}
	if _, err := Open(bytes.NewReader(b[:100]), 100); err == nil {
		t.Error("a file cut inside its moov opens")
	}
}

func allIndex(b []byte, s string) []int {
	var out []int
	for off := 0; ; {
		i := bytes.Index(b[off:], []byte(s))
		if i < 0 {
			return out
		}
		out = append(out, off+i)
		off += i + 1
	}
}

func TestBadFiles(t *testing.T) {
	b, _, _ := clip(t, 60)
	for name, mut := range map[string]func([]byte) []byte{
		"empty":        func([]byte) []byte { return nil },
		"not mp4":      func([]byte) []byte { return []byte("hello world, this is not an mp4 file") },
		"box too long": func(b []byte) []byte { b[3] = 0xff; b[2] = 0xff; return b },
		"box too short": func(b []byte) []byte {
			b[0], b[1], b[2], b[3] = 0, 0, 0, 4
			return b
		},
		"no avc1": func(b []byte) []byte {
			i := bytes.Index(b, []byte("avc1avcC"))
			if i < 0 {
				i = bytes.LastIndex(b[:bytes.Index(b, []byte("avcC"))], []byte("avc1"))
			}
			copy(b[i:], "hvc1")
			return b
		},
	} {
		c := mut(bytes.Clone(b))
		f, err := Open(bytes.NewReader(c), int64(len(c)))
		if err == nil && len(f.Samples) > 0 && name != "box too long" {
			t.Errorf("%s: opened with %d samples", name, len(f.Samples))
		}
		if err != nil && err.Error() == "" {
			t.Errorf("%s: empty error", name)
		}
	}
}

func TestNALUs(t *testing.T) {
	if _, err := NALUs([]byte{0, 0, 0, 5, 1, 2}, 4); err == nil {
		t.Error("a NAL unit longer than the sample is accepted")
	}
	if _, err := NALUs([]byte{0, 0, 0, 0}, 4); err == nil {
		t.Error("an empty NAL unit is accepted")
	}
	n, err := NALUs([]byte{0, 0, 0, 1, 9, 0, 0, 0, 2, 0x65, 1}, 4)
	if err != nil || len(n) != 2 || len(n[1]) != 2 {
		t.Errorf("NALUs = %v, %v", n, err)
	}
}

// FuzzOpen: a file cut or garbled anywhere never panics, and every
// sample indexed lies inside the file with a sane time.
func FuzzOpen(f *testing.F) {
	// Small seeds: the fuzzer mutates a few kilobytes far faster than a
	// whole clip. Two fragments of one frame each, whole and cut.
	b := smallFile(f)
	f.Add(b)
	f.Add(b[:len(b)-10])
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var buf []byte
		for i, s := range fl.Samples {
			if s.Offset < 0 || s.Offset+int64(s.Size) > int64(len(data)) {
				t.Fatalf("sample %d at %d+%d outside the %d-byte file", i, s.Offset, s.Size, len(data))
			}
			if buf, err = fl.ReadSample(i, buf); err != nil {
				t.Fatal(err)
			}
			_, _ = NALUs(buf, fl.LengthSize)
		}
		fl.KeyAt(time.Second)
	})
}

// smallFile is a file of two fragments of one small frame each.
func smallFile(t testing.TB) []byte {
	b, _, _ := clip(t, 1)
	init := bytes.Index(b, []byte("moof")) - 4
	frag := b[init:]
	// A second fragment: the same bytes, its decode time moved on.
	out := append(bytes.Clone(b), frag...)
	if len(out) > 64<<10 {
		t.Fatalf("small file of %d bytes", len(out))
	}
	return out
}

// A file shorter than the size it is opened with (cut under its index):
// no panic, whole fragments read, the missing samples an error.
func TestShorterThanSaid(t *testing.T) {
	b, _, _ := clip(t, 200)
	cut := b[:len(b)*2/3]
	f, err := Open(bytes.NewReader(cut), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	okN, badN := 0, 0
	for i := range f.Samples {
		if _, err := f.ReadSample(i, nil); err != nil {
			badN++
		} else {
			okN++
		}
	}
	if okN == 0 || (badN == 0 && !f.Truncated) {
		t.Errorf("%d samples read, %d refused, truncated %v", okN, badN, f.Truncated)
	}
}

// BenchmarkOpen indexes a one-minute segment (1500 frames of the test
// clip) and reads every sample: what a playback pays each minute.
func BenchmarkOpen(b *testing.B) {
	file, _, _ := clip(b, 1500)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		f, err := Open(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			b.Fatal(err)
		}
		for i := range f.Samples {
			if buf, err = f.ReadSample(i, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}
