// Package h264 turns H.264 RTP packets (RFC 6184) and Annex-B byte streams into
// access units, and reads what a receiver needs from a sequence parameter set.
//
// Nothing here trusts its input: every parser returns an error on malformed
// data and never panics, so a broken camera cannot stop the gateway.
package h264

import (
	"errors"
	"fmt"
)

// NAL unit types used by the depacketiser and the Annex-B reader.
const (
	NALSlice    = 1
	NALIDR      = 5
	NALSEI      = 6
	NALSPS      = 7
	NALPPS      = 8
	NALAUD      = 9
	NALSTAPA    = 24
	NALSTAPB    = 25
	NALMTAP16   = 26
	NALMTAP24   = 27
	NALFUA      = 28
	NALFUB      = 29
	maxSPSBytes = 4096
)

// SPS holds the fields of a sequence parameter set that a viewer or a probe
// needs; the rest is parsed only to reach them.
type SPS struct {
	ProfileIDC      uint8
	ConstraintFlags uint8
	LevelIDC        uint8
	ID              uint32
	ChromaFormatIDC uint32
	Width, Height   int // displayed size, cropping applied
	FrameMBSOnly    bool
	TimingInfo      bool    // VUI carried num_units_in_tick and time_scale
	NumUnitsInTick  uint32  // VUI timing, zero when absent
	TimeScale       uint32  // VUI timing, zero when absent
	FixedFrameRate  bool    // VUI fixed_frame_rate_flag
	MaxNumRefFrames uint32  // max_num_ref_frames
	Log2MaxFrameNum uint32  // log2_max_frame_num_minus4 + 4
	PicOrderCntType uint32  // pic_order_cnt_type
	FrameRate       float64 // time_scale / (2 * num_units_in_tick), zero when unknown
}

// ErrShortSPS reports an SPS that ends before its mandatory fields.
var ErrShortSPS = errors.New("h264: sps truncated")

// bitReader reads an RBSP (emulation prevention bytes already removed).
type bitReader struct {
	b   []byte
	pos int // bit position
}

func (r *bitReader) bit() (uint32, error) {
	if r.pos >= len(r.b)*8 {
		return 0, ErrShortSPS
	}
	v := (r.b[r.pos>>3] >> (7 - uint(r.pos&7))) & 1
	r.pos++
	return uint32(v), nil
}

func (r *bitReader) bits(n int) (uint32, error) {
	var v uint32
	for range n {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		v = v<<1 | b
	}
	return v, nil
}

func (r *bitReader) flag() (bool, error) {
	b, err := r.bit()
	return b == 1, err
}

// ue reads an unsigned exp-Golomb code; codes longer than 32 bits are
// rejected because no field we read can hold them.
func (r *bitReader) ue() (uint32, error) {
	zeros := 0
	for {
		b, err := r.bit()
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		zeros++
		if zeros > 31 {
			return 0, errors.New("h264: exp-Golomb code too long")
		}
	}
	if zeros == 0 {
		return 0, nil
	}
	rest, err := r.bits(zeros)
	if err != nil {
		return 0, err
	}
	return uint32((uint64(1)<<zeros)-1) + rest, nil
}

func (r *bitReader) se() (int32, error) {
	v, err := r.ue()
	if err != nil {
		return 0, err
	}
	if v&1 == 1 {
		return int32((int64(v) + 1) / 2), nil
	}
	return int32(-(int64(v) / 2)), nil
}

// RBSP removes emulation prevention bytes (00 00 03 → 00 00) from a NAL unit
// body, appending to dst so callers may reuse a buffer.
func RBSP(dst, nal []byte) []byte {
	zeros := 0
	for _, c := range nal {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		dst = append(dst, c)
	}
	return dst
}

// ParseSPS decodes a sequence parameter set NAL unit (header byte included).
func ParseSPS(nal []byte) (SPS, error) {
	var s SPS
	if len(nal) < 4 {
		return s, ErrShortSPS
	}
	if len(nal) > maxSPSBytes {
		return s, fmt.Errorf("h264: sps of %d bytes is larger than %d", len(nal), maxSPSBytes)
	}
	if nal[0]&0x1f != NALSPS {
		return s, fmt.Errorf("h264: nal type %d is not an sps", nal[0]&0x1f)
	}
	r := &bitReader{b: RBSP(make([]byte, 0, len(nal)), nal[1:])}
	if err := s.parse(r); err != nil {
		return SPS{}, err
	}
	return s, nil
}

func (s *SPS) parse(r *bitReader) error {
	var err error
	// Errors are sticky: after the first one every read returns it, so the
	// field list below reads like the syntax table in H.264 §7.3.2.1.1.
	u := func(n int) uint32 {
		if err != nil {
			return 0
		}
		var v uint32
		v, err = r.bits(n)
		return v
	}
	ue := func() uint32 {
		if err != nil {
			return 0
		}
		var v uint32
		v, err = r.ue()
		return v
	}
	se := func() int32 {
		if err != nil {
			return 0
		}
		var v int32
		v, err = r.se()
		return v
	}
	s.ProfileIDC = uint8(u(8))
	s.ConstraintFlags = uint8(u(8))
	s.LevelIDC = uint8(u(8))
	s.ID = ue()
	if s.ID > 31 {
		return fmt.Errorf("h264: sps id %d out of range", s.ID)
	}
	s.ChromaFormatIDC = 1
	separateColourPlane := false
	switch s.ProfileIDC {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		s.ChromaFormatIDC = ue()
		if s.ChromaFormatIDC > 3 {
			return fmt.Errorf("h264: chroma_format_idc %d out of range", s.ChromaFormatIDC)
		}
		if s.ChromaFormatIDC == 3 {
			separateColourPlane = u(1) == 1
		}
		ue()           // bit_depth_luma_minus8
		ue()           // bit_depth_chroma_minus8
		u(1)           // qpprime_y_zero_transform_bypass_flag
		if u(1) == 1 { // seq_scaling_matrix_present_flag
			n := 8
			if s.ChromaFormatIDC == 3 {
				n = 12
			}
			for i := 0; i < n && err == nil; i++ {
				if u(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					err = skipScalingList(r, size)
				}
			}
		}
	}
	s.Log2MaxFrameNum = ue() + 4
	s.PicOrderCntType = ue()
	switch s.PicOrderCntType {
	case 0:
		ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		u(1) // delta_pic_order_always_zero_flag
		se() // offset_for_non_ref_pic
		se() // offset_for_top_to_bottom_field
		n := ue()
		if n > 255 {
			return fmt.Errorf("h264: num_ref_frames_in_pic_order_cnt_cycle %d out of range", n)
		}
		for i := uint32(0); i < n && err == nil; i++ {
			se()
		}
	case 2:
	default:
		if err == nil {
			return fmt.Errorf("h264: pic_order_cnt_type %d out of range", s.PicOrderCntType)
		}
	}
	s.MaxNumRefFrames = ue()
	u(1) // gaps_in_frame_num_value_allowed_flag
	wMBs := ue() + 1
	hMapUnits := ue() + 1
	s.FrameMBSOnly = u(1) == 1
	if !s.FrameMBSOnly {
		u(1) // mb_adaptive_frame_field_flag
	}
	u(1) // direct_8x8_inference_flag
	var cl, cr, ct, cb uint32
	if u(1) == 1 {
		cl, cr, ct, cb = ue(), ue(), ue(), ue()
	}
	if err != nil {
		return fmt.Errorf("h264: parse sps: %w", err)
	}
	if wMBs > 1024 || hMapUnits > 1024 {
		return fmt.Errorf("h264: sps size %dx%d macroblocks is implausible", wMBs, hMapUnits)
	}
	frameHeightFactor := uint32(2)
	if s.FrameMBSOnly {
		frameHeightFactor = 1
	}
	cropX, cropY := uint32(1), frameHeightFactor
	chroma := s.ChromaFormatIDC
	if separateColourPlane {
		chroma = 0
	}
	switch chroma {
	case 1:
		cropX, cropY = 2, 2*frameHeightFactor
	case 2:
		cropX, cropY = 2, frameHeightFactor
	}
	w := int64(wMBs) * 16
	h := int64(hMapUnits) * 16 * int64(frameHeightFactor)
	w -= int64(cropX) * (int64(cl) + int64(cr))
	h -= int64(cropY) * (int64(ct) + int64(cb))
	if w <= 0 || h <= 0 {
		return fmt.Errorf("h264: sps cropping leaves %dx%d", w, h)
	}
	s.Width, s.Height = int(w), int(h)

	if u(1) == 1 { // vui_parameters_present_flag
		// A VUI that ends early still leaves a usable SPS: keep the size.
		if verr := s.parseVUI(r); verr != nil {
			s.TimingInfo, s.NumUnitsInTick, s.TimeScale, s.FrameRate = false, 0, 0, 0
		}
	}
	return nil
}

func (s *SPS) parseVUI(r *bitReader) error {
	flag := func() (bool, error) { return r.flag() }
	if ok, err := flag(); err != nil {
		return err
	} else if ok { // aspect_ratio_info_present_flag
		idc, err := r.bits(8)
		if err != nil {
			return err
		}
		if idc == 255 { // Extended_SAR
			if _, err := r.bits(32); err != nil {
				return err
			}
		}
	}
	if ok, err := flag(); err != nil {
		return err
	} else if ok { // overscan_info_present_flag
		if _, err := r.bit(); err != nil {
			return err
		}
	}
	if ok, err := flag(); err != nil {
		return err
	} else if ok { // video_signal_type_present_flag
		if _, err := r.bits(4); err != nil {
			return err
		}
		cd, err := flag()
		if err != nil {
			return err
		}
		if cd {
			if _, err := r.bits(24); err != nil {
				return err
			}
		}
	}
	if ok, err := flag(); err != nil {
		return err
	} else if ok { // chroma_loc_info_present_flag
		if _, err := r.ue(); err != nil {
			return err
		}
		if _, err := r.ue(); err != nil {
			return err
		}
	}
	ok, err := flag()
	if err != nil || !ok {
		return err
	}
	if s.NumUnitsInTick, err = r.bits(32); err != nil {
		return err
	}
	if s.TimeScale, err = r.bits(32); err != nil {
		return err
	}
	if s.FixedFrameRate, err = flag(); err != nil {
		return err
	}
	s.TimingInfo = true
	if s.NumUnitsInTick > 0 && s.TimeScale > 0 {
		s.FrameRate = float64(s.TimeScale) / (2 * float64(s.NumUnitsInTick))
	}
	return nil
}

func skipScalingList(r *bitReader, size int) error {
	last, next := int32(8), int32(8)
	for j := 0; j < size; j++ {
		if next != 0 {
			d, err := r.se()
			if err != nil {
				return err
			}
			next = (last + d + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
	return nil
}
