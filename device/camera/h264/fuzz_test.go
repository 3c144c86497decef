package h264

import (
	"testing"

	"github.com/pion/rtp"
)

// FuzzDepacketizer feeds RTP packets (each prefixed by a 2-byte length) to
// the depacketiser. It must never panic, and every access unit it emits
// must be well formed.
func FuzzDepacketizer(f *testing.F) {
	f.Add([]byte{0, 14, 0x80, 0xe0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65, 0x88})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDepacketizer(nil, nil, func(au *AccessUnit) {
			if len(au.NALUs) == 0 {
				t.Fatal("empty access unit")
			}
			for _, n := range au.NALUs {
				if len(n) == 0 {
					t.Fatal("empty NAL unit")
				}
			}
			if au.Key && (au.NALUs[0][0]&0x1f != NALSPS && !hasType(au.NALUs, NALSPS)) {
				t.Fatal("key frame without SPS")
			}
		})
		d.MaxAUBytes = 1 << 16
		var h rtp.Header
		for len(data) >= 2 {
			n := int(data[0])<<8 | int(data[1])
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			pkt := data[:n]
			data = data[n:]
			hn, err := h.Unmarshal(pkt)
			if err != nil || hn > len(pkt) {
				continue
			}
			_ = d.Push(&h, pkt[hn:])
			if s, ok := d.SPS(); ok && (s.Width <= 0 || s.Height <= 0) {
				t.Fatalf("SPS size %dx%d", s.Width, s.Height)
			}
		}
	})
}

func hasType(nalus [][]byte, t byte) bool {
	for _, n := range nalus {
		if n[0]&0x1f == t {
			return true
		}
	}
	return false
}

// FuzzParseSPS: any bytes give an SPS with a positive size, or an error.
func FuzzParseSPS(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0x00, 0x1f, 0x95, 0xa8, 0x14, 0x01, 0x6e, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSPS(data)
		if err == nil && (s.Width <= 0 || s.Height <= 0 || s.Width > 16384 || s.Height > 32768) {
			t.Fatalf("size %dx%d", s.Width, s.Height)
		}
	})
}

// FuzzAnnexB covers the file source's parser.
func FuzzAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88})
	f.Fuzz(func(t *testing.T, data []byte) {
		aus, err := GroupAccessUnits(SplitAnnexB(data))
		if err != nil {
			return
		}
		for _, au := range aus {
			if len(au.NALUs) == 0 {
				t.Fatal("empty access unit")
			}
		}
	})
}
