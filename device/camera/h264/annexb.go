package h264

import "errors"

// SplitAnnexB returns the NAL units of an Annex-B byte stream (start codes
// 00 00 01 or 00 00 00 01), as sub-slices of b. Trailing zero bytes of a NAL
// unit (trailing_zero_8bits) are dropped.
func SplitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = appendNAL(nals, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 {
		nals = appendNAL(nals, b[start:])
	}
	return nals
}

func appendNAL(nals [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return nals
	}
	return append(nals, n)
}

// ErrNoPictures reports a byte stream without any coded picture.
var ErrNoPictures = errors.New("h264: no coded pictures in stream")

// GroupAccessUnits splits a sequence of NAL units into access units using
// the boundaries of H.264 §7.4.1.2.3: an AUD, SPS, PPS or SEI after a
// picture's slices, or a slice whose first_mb_in_slice is 0, starts a new one.
func GroupAccessUnits(nals [][]byte) ([]AccessUnit, error) {
	var aus []AccessUnit
	var cur AccessUnit
	seenVCL := false
	closeAU := func() {
		if seenVCL {
			aus = append(aus, cur)
		}
		cur = AccessUnit{}
		seenVCL = false
	}
	for _, n := range nals {
		if len(n) == 0 || n[0]&0x80 != 0 {
			continue
		}
		t := n[0] & 0x1f
		switch {
		case t == NALAUD || t == NALSPS || t == NALPPS || t == NALSEI || (t >= 14 && t <= 18):
			if seenVCL {
				closeAU()
			}
		case t >= 1 && t <= 5:
			if seenVCL && firstMBIsZero(n) {
				closeAU()
			}
			seenVCL = true
			if t == NALIDR {
				cur.Key = true
			}
		}
		cur.NALUs = append(cur.NALUs, n)
	}
	closeAU()
	if len(aus) == 0 {
		return nil, ErrNoPictures
	}
	return aus, nil
}

// firstMBIsZero reports whether a slice starts at macroblock 0: ue(v) zero
// is the single bit 1, the first bit after the NAL header.
func firstMBIsZero(nal []byte) bool {
	return len(nal) > 1 && nal[1]&0x80 != 0
}

// AppendAnnexB writes NAL units with 4-byte start codes, as decoders and
// files expect.
func AppendAnnexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}
