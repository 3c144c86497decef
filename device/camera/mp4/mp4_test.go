package mp4

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/mp4/mp4test"
)

// loadClip reads the repository's test clip as access units with its
// parameter sets.
func loadClip(t testing.TB) (aus []h264.AccessUnit, tr Track) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	aus, err = h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range aus {
		for _, n := range au.NALUs {
			switch n[0] & 0x1f {
			case h264.NALSPS:
				if tr.SPS == nil {
					tr.SPS = n
				}
			case h264.NALPPS:
				if tr.PPS == nil {
					tr.PPS = n
				}
			}
		}
	}
	return aus, tr
}

// mux writes frames of the clip (looped) at 25 frames/s.
func mux(t testing.TB, frames int, opt WriterOptions) ([]byte, *Writer) {
	t.Helper()
	w, b := writeWithPTS(t, frames, false, opt, func(i int) time.Duration { return time.Duration(i) * 40 * time.Millisecond })
	return b, w
}

// writeWithPTS muxes n frames of the test clip with pts(i) as each
// frame's presentation time.
// With oneGOP, only the first frame is marked key (a camera whose GOP
// never ends).
func writeWithPTS(t testing.TB, n int, oneGOP bool, opt WriterOptions, pts func(i int) time.Duration) (*Writer, []byte) {
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

// boxes lists the top-level box types of a file.
func boxes(t *testing.T, b []byte) []string {
	var out []string
	for len(b) >= 8 {
		n := binary.BigEndian.Uint32(b)
		if n < 8 || int(n) > len(b) {
			t.Fatalf("box %q: size %d of %d left", b[4:8], n, len(b))
		}
		out = append(out, string(b[4:8]))
		b = b[n:]
	}
	if len(b) != 0 {
		t.Fatalf("%d trailing bytes", len(b))
	}
	return out
}

func TestWriterLayout(t *testing.T) {
	data, w := mux(t, 100, WriterOptions{}) // 4 GOPs of 25
	got := boxes(t, data)
	want := []string{"ftyp", "moov", "moof", "mdat", "moof", "mdat", "moof", "mdat", "moof", "mdat"}
	if len(got) != len(want) {
		t.Fatalf("boxes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("boxes %v, want %v", got, want)
		}
	}
	if w.Frames() != 100 || w.Fragments() != 4 || w.Bytes() != int64(len(data)) {
		t.Fatalf("frames %d fragments %d bytes %d (file %d)", w.Frames(), w.Fragments(), w.Bytes(), len(data))
	}
	if d := w.Duration(); d != 4*time.Second {
		t.Fatalf("duration %v, want 4s", d)
	}
}

func TestMaxFragmentSplitsLongGOP(t *testing.T) {
	_, w := mux(t, 50, WriterOptions{MaxFragment: 400 * time.Millisecond}) // GOP 1 s
	// Each GOP of 25 frames (1 s) splits at 10, 20 frames: 3 fragments per GOP.
	if w.Fragments() != 6 {
		t.Fatalf("fragments %d, want 6", w.Fragments())
	}
}

func TestFirstFrameMustBeKey(t *testing.T) {
	aus, tr := loadClip(t)
	w, err := NewWriter(new(bytes.Buffer), tr, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(0, false, aus[1].NALUs); err != ErrNotKey {
		t.Fatalf("err %v, want ErrNotKey", err)
	}
	if _, err := NewWriter(new(bytes.Buffer), Track{}, WriterOptions{}); err != ErrNoParams {
		t.Fatalf("err %v, want ErrNoParams", err)
	}
}

func TestAfterFragmentHook(t *testing.T) {
	n := 0
	_, w := mux(t, 60, WriterOptions{AfterFragment: func() error { n++; return nil }})
	if n != w.Fragments() || n != 3 {
		t.Fatalf("hook %d times, fragments %d", n, w.Fragments())
	}
}

func TestAVCCDropsParameterSets(t *testing.T) {
	got := AppendAVCC(nil, [][]byte{{0x67, 1}, {0x68, 2}, {0x09, 0}, {0x65, 7, 7}})
	want := []byte{0, 0, 0, 3, 0x65, 7, 7}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

// BenchmarkWriter measures muxing cost per frame (the recorder's share of
// a camera's CPU).
func BenchmarkWriter(b *testing.B) {
	aus, tr := loadClip(b)
	var size int64
	for _, au := range aus {
		for _, n := range au.NALUs {
			size += int64(len(n))
		}
	}
	b.SetBytes(size / int64(len(aus)))
	w, err := NewWriter(discard{}, tr, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		au := aus[i%len(aus)]
		if err := w.WriteFrame(time.Duration(i)*40*time.Millisecond, au.Key, au.NALUs); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestFFprobeReadsFile(t *testing.T) {
	data, _ := mux(t, 110, WriterOptions{}) // 4.4 s: the last fragment is a partial GOP
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := mp4test.Run(t, path)
	if p.Errors != "" {
		t.Fatalf("ffprobe errors:\n%s", p.Errors)
	}
	if p.Codec != "h264" || p.Width != 320 || p.Height != 180 || p.Frames != 110 || !p.FirstKey {
		t.Fatalf("probe %+v, want h264 320x180, 110 frames from a key frame", p)
	}
	if p.Duration < 4360*time.Millisecond || p.Duration > 4440*time.Millisecond {
		t.Fatalf("duration %v, want 4.4s", p.Duration)
	}

	// Cut inside the last fragment (a power cut): what is whole still plays.
	cut := data[:len(data)-100]
	if err := os.WriteFile(path, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	p = mp4test.Run(t, path)
	if p.Frames < 100 || p.Codec != "h264" {
		t.Fatalf("cut file: probe %+v, want at least the 100 frames of the whole fragments", p)
	}
}

// A camera session of days has PTS far beyond what PTS*90000 in
// nanoseconds holds; the file's times are relative and exact.
func TestLongSessionPTS(t *testing.T) {
	aus, tr := loadClip(t)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, tr, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := 40 * 24 * time.Hour
	for i := range 50 {
		au := aus[i%len(aus)]
		if err := w.WriteFrame(base+time.Duration(i)*40*time.Millisecond, au.Key, au.NALUs); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Duration() != 2*time.Second || w.Frames() != 50 {
		t.Fatalf("duration %v frames %d, want 2s and 50", w.Duration(), w.Frames())
	}
}
