package camera

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/rtsp"
	"github.com/pion/rtp"
)

var clipPath = filepath.Join("..", "..", "testdata", "camera", "clip-320x180-25fps.h264")

func TestFileSource(t *testing.T) {
	abs, err := filepath.Abs(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open(context.Background(), "file://"+abs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := src.Tracks()[0]
	if tr.Width != 320 || tr.Height != 180 || tr.FrameRate != 25 || tr.Codec != H264 {
		t.Fatalf("track = %+v, want H264 320x180 at 25 (from the SPS VUI)", tr)
	}
	_ = src.Close()

	// At 200 frames/s the 100-frame clip loops within a second.
	src, err = OpenFile(clipPath, Options{FrameRate: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rctx, stop := context.WithCancel(ctx)
	var n, keys int
	var lastPTS time.Duration
	start := time.Now()
	err = src.Run(rctx, func(f *Frame) {
		if n == 0 && !f.Key {
			t.Error("first frame is not a key frame")
		}
		if f.Key {
			keys++
			if !paramsBeforeSlices(f.NALUs) {
				t.Errorf("key frame %d without SPS/PPS: %v", n, nalTypes(f.NALUs))
			}
		}
		if n > 0 && f.PTS-lastPTS != 5*time.Millisecond {
			t.Errorf("frame %d: PTS step %v, want 5ms", n, f.PTS-lastPTS)
		}
		lastPTS = f.PTS
		n++
		if n == 150 {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if el := time.Since(start); el < 700*time.Millisecond {
		t.Errorf("150 frames at 200/s took %v: not paced", el)
	}
	if keys != 6 { // IDR every 25 frames: 0,25,...,125
		t.Errorf("key frames = %d, want 6", keys)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"http://cam/x", "file:///nonexistent/clip.h264", "rtsp://admin:hunter2@127.0.0.1:1/x", "::"} {
		_, err := Open(ctx, u, Options{Timeout: time.Second})
		if err == nil {
			t.Errorf("Open(%q): no error", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.h264")
	if err := os.WriteFile(bad, []byte{0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x9a}, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(bad, Options{}); err == nil {
		t.Error("file without IDR/SPS accepted")
	}
}

func TestProbe(t *testing.T) {
	u := startCamera(t, "--fps", "25", "--key-int-max", "10", "--width", "352", "--height", "200")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := Probe(ctx, u, 2*time.Second, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	v, a := r.Tracks[0], r.Tracks[1]
	if v.Width != 352 || v.Height != 200 || v.GOP != 10 || v.FPS < 22.5 || v.FPS > 27.5 || v.Bitrate <= 0 {
		t.Errorf("video report %+v", v)
	}
	if a.Codec != PCMA || a.Frames == 0 || a.Bitrate <= 0 {
		t.Errorf("audio report %+v", a)
	}
	if !strings.Contains(r.String(), "352x200") {
		t.Errorf("String() = %q", r.String())
	}
}

func TestH265Key(t *testing.T) {
	for _, tc := range []struct {
		p    []byte
		want bool
	}{
		{[]byte{19 << 1, 1, 0xaf}, true},           // IDR_W_RADL
		{[]byte{1 << 1, 1, 0xaf}, false},           // TRAIL_R
		{[]byte{49 << 1, 1, 0x80 | 20, 0}, true},   // FU start of CRA
		{[]byte{49 << 1, 1, 20, 0}, false},         // FU continuation
		{[]byte{48 << 1, 1, 0, 5, 32 << 1}, false}, // AP starting with a VPS
		{[]byte{48 << 1, 1, 0, 5, 19 << 1}, true},
		{[]byte{1}, false},
	} {
		if got := h265Key(tc.p); got != tc.want {
			t.Errorf("h265Key(%x) = %v", tc.p, got)
		}
	}
}

// BenchmarkPacketPath measures what every RTP packet of a camera costs
// after it left the socket: RTP header parsing, H.264 depacketising and
// the frame handed to the handler. The target is 0 allocations per packet.
func BenchmarkPacketPath(b *testing.B) {
	data, err := os.ReadFile(clipPath)
	if err != nil {
		b.Fatal(err)
	}
	aus, err := h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		b.Fatal(err)
	}
	// Packetise the clip as a camera would (FU-A at 1200 bytes).
	var raw [][]byte
	var seq uint16
	for i, au := range aus {
		for j, n := range au.NALUs {
			last := j == len(au.NALUs)-1
			frags := fuA(n)
			for k, f := range frags {
				p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i * 3600),
					Marker: last && k == len(frags)-1}, Payload: f}
				seq++
				buf, err := p.Marshal()
				if err != nil {
					b.Fatal(err)
				}
				raw = append(raw, buf)
			}
		}
	}
	s := &rtspSource{tracks: []Track{{Kind: Video, Codec: H264}}}
	s.st = []trackState{{codec: H264, rate: 90000, dep: h264.NewDepacketizer(nil, nil, nil)}}
	frames := 0
	s.h = func(*Frame) { frames++ }
	s.st[0].dep.Emit = func(au *h264.AccessUnit) { s.emitAU(&s.st[0], au) }
	feed := func(i int, round int) {
		buf := raw[i]
		// Rewrite sequence number and timestamp in place so rounds continue.
		sq := uint16(i + round*len(raw))
		buf[2], buf[3] = byte(sq>>8), byte(sq)
		s.packet(rtsp.Packet{Data: buf})
	}
	for i := range raw {
		feed(i, 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	round := 1
	for i := 0; i < b.N; i++ {
		k := i % len(raw)
		if k == 0 && i > 0 {
			round++
		}
		feed(k, round)
	}
	b.StopTimer()
	if st := s.st[0].dep.Stats(); frames == 0 || st.DroppedAUs != 0 || st.Lost != 0 {
		b.Fatalf("frames %d, stats %+v", frames, st)
	}
}

func TestPTSUnwrap(t *testing.T) {
	ts := trackState{rate: 90000}
	rtpTime := uint32(0xffff0000)
	if ts.pts(rtpTime) != 0 {
		t.Fatal("first PTS not zero")
	}
	// Three days of 25 frames/s in steps of 3600 ticks wraps the 32-bit clock many times.
	var got time.Duration
	for range 3 * 24 * 3600 * 25 / 100 {
		rtpTime += 360000 // 4 s steps keep the loop short
		got = ts.pts(rtpTime)
	}
	want := time.Duration(3*24*3600*25/100) * 4 * time.Second
	if got != want {
		t.Fatalf("PTS after three days = %v, want %v", got, want)
	}
	if ts.pts(rtpTime-90000) != want-time.Second {
		t.Fatal("a timestamp going back one second is not one second earlier")
	}
}

// fuA splits a NAL unit into RTP payloads the way a camera does: whole
// when it fits in 1200 bytes, else FU-A fragments (RFC 6184 §5.8) with the
// start and end bits set.
func fuA(n []byte) [][]byte {
	if len(n) <= 1200 {
		return [][]byte{n}
	}
	var frags [][]byte
	for body, k := n[1:], 0; len(body) > 0; k++ {
		m := min(1198, len(body))
		fu := []byte{n[0]&0xe0 | 28, n[0] & 0x1f}
		if k == 0 {
			fu[1] |= 0x80
		}
		if m == len(body) {
			fu[1] |= 0x40
		}
		frags = append(frags, append(fu, body[:m]...))
		body = body[m:]
	}
	return frags
}
