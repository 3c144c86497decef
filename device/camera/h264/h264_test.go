package h264

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/rtp"
)

func loadClip(t testing.TB) []AccessUnit {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	aus, err := GroupAccessUnits(SplitAnnexB(b))
	if err != nil {
		t.Fatal(err)
	}
	return aus
}

// packetize is a small RFC 6184 packetiser for tests: NAL units up to mtu
// go alone, bigger ones as FU-A; parameter sets go together in a STAP-A.
func packetize(au [][]byte, ts uint32, seq *uint16, mtu int) []rtp.Packet {
	var pkts []rtp.Packet
	add := func(p []byte) {
		pkts = append(pkts, rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: *seq, Timestamp: ts}, Payload: p})
		*seq++
	}
	var stap []byte
	for _, n := range au {
		if t := n[0] & 0x1f; t == NALSPS || t == NALPPS {
			if stap == nil {
				stap = []byte{n[0]&0x60 | NALSTAPA}
			}
			stap = append(stap, byte(len(n)>>8), byte(len(n)))
			stap = append(stap, n...)
			continue
		}
		if stap != nil {
			add(stap)
			stap = nil
		}
		if len(n) <= mtu {
			add(append([]byte(nil), n...))
			continue
		}
		hdr, body := n[0], n[1:]
		for first := true; len(body) > 0; first = false {
			k := min(mtu-2, len(body))
			fu := []byte{hdr&0xe0 | NALFUA, hdr & 0x1f}
			if first {
				fu[1] |= 0x80
			}
			if k == len(body) {
				fu[1] |= 0x40
			}
			add(append(fu, body[:k]...))
			body = body[k:]
		}
	}
	if stap != nil {
		add(stap)
	}
	pkts[len(pkts)-1].Marker = true
	return pkts
}

func TestRoundTripClip(t *testing.T) {
	aus := loadClip(t)
	if len(aus) != 100 {
		t.Fatalf("clip has %d access units, want 100", len(aus))
	}
	var got [][][]byte
	d := NewDepacketizer(nil, nil, func(au *AccessUnit) {
		c := make([][]byte, len(au.NALUs))
		for i, n := range au.NALUs {
			c[i] = append([]byte(nil), n...)
		}
		got = append(got, c)
	})
	var seq uint16 = 65500 // wraps during the clip
	for i, au := range aus {
		for _, p := range packetize(au.NALUs, uint32(i*3600), &seq, 200) {
			if err := d.Push(&p.Header, p.Payload); err != nil {
				t.Fatalf("au %d: %v", i, err)
			}
		}
	}
	if len(got) != len(aus) {
		t.Fatalf("got %d access units, want %d", len(got), len(aus))
	}
	for i := range aus {
		if !equalNALs(got[i], aus[i].NALUs) {
			t.Fatalf("au %d differs: types %v vs %v", i, types(got[i]), types(aus[i].NALUs))
		}
	}
	s, ok := d.SPS()
	if !ok || s.Width != 320 || s.Height != 180 {
		t.Fatalf("SPS = %+v %v, want 320x180", s, ok)
	}
	if st := d.Stats(); st.Lost != 0 || st.DroppedAUs != 0 || st.AUs != 100 {
		t.Fatalf("stats %+v", st)
	}
}

func equalNALs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func types(n [][]byte) []int {
	var out []int
	for _, x := range n {
		out = append(out, int(x[0]&0x1f))
	}
	return out
}

// Slices of one picture come as separate packets with one timestamp; only the
// last has the marker. They must make one access unit.
func TestMultiSliceOneAU(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	var got []AccessUnit
	d := NewDepacketizer(sps, pps, func(au *AccessUnit) {
		got = append(got, AccessUnit{NALUs: append([][]byte(nil), au.NALUs...), Key: au.Key, RTPTime: au.RTPTime})
	})
	push := func(seq uint16, ts uint32, marker bool, p []byte) {
		t.Helper()
		if err := d.Push(&rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, p); err != nil {
			t.Fatal(err)
		}
	}
	push(1, 100, false, []byte{0x65, 0x88, 1})
	push(2, 100, false, []byte{0x65, 0x00, 2})
	push(3, 100, true, []byte{0x65, 0x00, 3})
	push(4, 200, false, []byte{0x41, 0x9a, 4})
	push(5, 200, true, []byte{0x41, 0x00, 5})
	// Marker lost: the next timestamp closes the picture.
	push(6, 300, false, []byte{0x41, 0x9a, 6})
	push(7, 400, true, []byte{0x41, 0x9a, 7})
	if len(got) != 4 {
		t.Fatalf("got %d access units, want 4", len(got))
	}
	if !got[0].Key || len(got[0].NALUs) != 5 || got[0].NALUs[0][0] != 0x67 || got[0].NALUs[1][0] != 0x68 {
		t.Fatalf("IDR AU = %v key=%v, want SPS, PPS and 3 slices", types(got[0].NALUs), got[0].Key)
	}
	if got[1].Key || len(got[1].NALUs) != 2 || got[2].RTPTime != 300 {
		t.Fatalf("P AUs wrong: %+v", got[1:])
	}
}

func TestLossDropsToNextIDR(t *testing.T) {
	aus := loadClip(t)
	var keys, n int
	d := NewDepacketizer(nil, nil, func(au *AccessUnit) {
		if n == 0 && !au.Key {
			t.Error("first AU after loss is not a key frame")
		}
		n++
		if au.Key {
			keys++
		}
	})
	var seq uint16
	for i, au := range aus {
		pkts := packetize(au.NALUs, uint32(i*3600), &seq, 200)
		for j, p := range pkts {
			if i == 3 && j == 1 && len(pkts) > 2 {
				continue // lose a middle packet of picture 3 (an FU-A fragment)
			}
			_ = d.Push(&p.Header, p.Payload)
		}
		if i == 3 {
			n = 0
		}
	}
	st := d.Stats()
	if st.Lost != 1 {
		t.Fatalf("lost = %d, want 1", st.Lost)
	}
	// Pictures 3..24 are gone (3 damaged, the rest depend on it); 25.. come back.
	if want := 100 - 25; n != want {
		t.Fatalf("after the loss got %d AUs, want %d (stats %+v)", n, want, st)
	}
}

func TestMalformedPayloads(t *testing.T) {
	d := NewDepacketizer(nil, nil, func(*AccessUnit) {})
	for i, p := range [][]byte{
		{}, {0x80}, {0x1f}, {0x18, 0x00}, {0x18, 0x00, 0x05, 0x65}, {0x1c}, {0x1c, 0xc5, 1},
		{0x19, 0, 0}, {0x1d, 0x85, 0},
	} {
		if err := d.Push(&rtp.Header{SequenceNumber: uint16(i)}, p); err == nil {
			t.Errorf("payload %x: no error", p)
		}
	}
}

func TestParseSPS(t *testing.T) {
	for _, tc := range []struct {
		name string
		sps  []byte
		w, h int
		fps  float64
	}{
		// x264 Main, 320x180 (cropped from 192), VUI timing 25 fps: from the clip.
		{"clip", nil, 320, 180, 25},
		// Baseline 1280x720 from a Hikvision camera.
		{"baseline-720p", []byte{0x67, 0x42, 0x00, 0x1f, 0x95, 0xa8, 0x14, 0x01, 0x6e, 0x40}, 1280, 720, 0},
		// High profile 1920x1080 (cropped from 1088), chroma_format_idc 1.
		{"high-1080p", []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}, 1920, 1080, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sps := tc.sps
			if sps == nil {
				for _, n := range loadClip(t)[0].NALUs {
					if n[0]&0x1f == NALSPS {
						sps = n
					}
				}
			}
			s, err := ParseSPS(sps)
			if err != nil {
				t.Fatal(err)
			}
			if s.Width != tc.w || s.Height != tc.h || s.FrameRate != tc.fps {
				t.Fatalf("got %dx%d %.2f fps, want %dx%d %.2f", s.Width, s.Height, s.FrameRate, tc.w, tc.h, tc.fps)
			}
		})
	}
	for _, bad := range [][]byte{nil, {0x67}, {0x68, 1, 2, 3}, {0x67, 0x64, 0, 0x28}, {0x67, 0x42, 0, 0x1f, 0, 0, 0, 0, 0, 0}} {
		if _, err := ParseSPS(bad); err == nil {
			t.Errorf("ParseSPS(%x): no error", bad)
		}
	}
}

func TestSprop(t *testing.T) {
	sps, pps, err := ParseSpropParameterSets("Z0IAH5WoFAFuQA==,aM48gA==")
	if err != nil || len(sps) != 10 || sps[0] != 0x67 || len(pps) != 4 || pps[0] != 0x68 {
		t.Fatalf("sps=%x pps=%x err=%v", sps, pps, err)
	}
	if _, _, err := ParseSpropParameterSets("Z0I!!"); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

// BenchmarkDepacketize measures the hot path: real clip packets, FU-A and
// single NAL units, 0 allocations per packet after warm-up.
func BenchmarkDepacketize(b *testing.B) {
	aus := loadClip(b)
	var seq uint16
	var pkts []rtp.Packet
	for i, au := range aus {
		pkts = append(pkts, packetize(au.NALUs, uint32(i*3600), &seq, 1200)...)
	}
	d := NewDepacketizer(nil, nil, func(*AccessUnit) {})
	var bytesN int64
	for _, p := range pkts {
		bytesN += int64(len(p.Payload))
	}
	warm := func(round int) {
		for _, p := range pkts {
			h := p.Header
			h.SequenceNumber += uint16(round * len(pkts))
			h.Timestamp += uint32(round * len(aus) * 3600)
			_ = d.Push(&h, p.Payload)
		}
	}
	warm(0)
	b.ReportAllocs()
	b.SetBytes(bytesN / int64(len(pkts)))
	b.ResetTimer()
	round := 1
	for i := 0; i < b.N; i++ {
		p := &pkts[i%len(pkts)]
		if i%len(pkts) == 0 && i > 0 {
			round++
		}
		h := p.Header
		h.SequenceNumber += uint16(round * len(pkts))
		h.Timestamp += uint32(round * len(aus) * 3600)
		_ = d.Push(&h, p.Payload)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// A lost packet at the head of an IDR (its first slice) must not let the
// rest of the IDR through as a whole picture.
func TestLostFirstSliceOfIDR(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	var keys int
	d := NewDepacketizer(sps, pps, func(au *AccessUnit) {
		if au.Key {
			keys++
		}
	})
	push := func(seq uint16, ts uint32, marker bool, p []byte) {
		_ = d.Push(&rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, p)
	}
	push(1, 100, true, []byte{0x65, 0x88, 1}) // IDR, one slice
	// seq 2 (first slice of the next IDR, first_mb 0) is lost.
	push(3, 200, false, []byte{0x65, 0x00, 2})
	push(4, 200, true, []byte{0x65, 0x00, 3})
	if keys != 1 {
		t.Fatalf("emitted %d key frames, want 1 (the damaged IDR must be dropped)", keys)
	}
	// A loss of the previous picture's tail keeps a complete next IDR.
	push(5, 300, false, []byte{0x41, 0x9a, 4})
	// seq 6 (the rest of picture 300) is lost.
	push(7, 400, true, []byte{0x65, 0x88, 5})
	if keys != 2 {
		t.Fatalf("emitted %d key frames, want 2 (a whole IDR after the loss)", keys)
	}
}
