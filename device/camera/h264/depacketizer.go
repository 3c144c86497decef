package h264

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// AccessUnit is one coded picture: all its NAL units (without start codes or
// length prefixes), in decoding order. An AU handed to a callback is only
// valid during that call; its memory is reused for the next one.
type AccessUnit struct {
	NALUs   [][]byte
	RTPTime uint32 // RTP timestamp shared by every packet of the picture
	Key     bool   // holds an IDR slice; SPS and PPS are guaranteed to precede it
}

// Stats counts what the depacketiser saw and threw away. Lost counts
// sequence numbers never seen; DroppedAUs counts pictures discarded because
// they were damaged or came after a loss and before the next IDR.
type Stats struct {
	Packets    uint64
	Lost       uint64
	Reordered  uint64 // late or duplicate packets, dropped
	Malformed  uint64
	AUs        uint64
	DroppedAUs uint64
}

// Errors a caller may want to tell apart; Push wraps them with detail.
var (
	ErrMalformed   = errors.New("h264: malformed rtp payload")
	ErrUnsupported = errors.New("h264: unsupported packetization")
)

type span struct{ off, n int }

// DefaultMaxAUBytes bounds one access unit so a broken stream that never
// sets the marker bit cannot grow memory without limit.
const DefaultMaxAUBytes = 4 << 20

// Depacketizer rebuilds access units from RFC 6184 packets (single NAL unit,
// STAP-A and FU-A; packetization-mode 0 and 1). Pictures are assembled by RTP
// timestamp and closed by the marker bit or by the next timestamp, so slices
// of one picture stay together. Any gap in sequence numbers drops the
// current picture and everything up to the next IDR, because a decoder fed
// a damaged reference shows garbage until then.
//
// After warm-up Push allocates nothing: buffers are kept and reused.
// A Depacketizer is not safe for concurrent use.
type Depacketizer struct {
	// Emit receives each complete access unit.
	Emit func(*AccessUnit)
	// MaxAUBytes caps an access unit; zero means DefaultMaxAUBytes.
	MaxAUBytes int

	buf      []byte
	spans    []span
	out      [][]byte
	au       AccessUnit
	sps, pps []byte
	spsInfo  SPS
	spsOK    bool
	spsGen   uint64

	started  bool
	lastSeq  uint16
	haveTS   bool
	curTS    uint32
	corrupt  bool
	waitIDR  bool
	fuActive bool
	fuStart  int
	stats    Stats
}

// NewDepacketizer returns a depacketiser primed with the SPS and PPS from the
// SDP (either may be nil). Output starts at the first IDR picture.
func NewDepacketizer(sps, pps []byte, emit func(*AccessUnit)) *Depacketizer {
	d := &Depacketizer{Emit: emit, waitIDR: true}
	if len(sps) > 0 {
		d.setSPS(sps)
	}
	if len(pps) > 0 {
		d.pps = append(d.pps[:0], pps...)
	}
	return d
}

// SPS returns the last parsed sequence parameter set, from the SDP or in-band.
func (d *Depacketizer) SPS() (SPS, bool) { return d.spsInfo, d.spsOK }

// ParameterSets returns the current SPS and PPS NAL units (nil when unknown).
// The slices stay owned by the Depacketizer.
func (d *Depacketizer) ParameterSets() (sps, pps []byte) { return d.sps, d.pps }

// SPSGeneration changes whenever a different SPS is seen, so a caller can
// refresh what it derived from the SPS without comparing bytes.
func (d *Depacketizer) SPSGeneration() uint64 { return d.spsGen }

// Stats returns the counters so far.
func (d *Depacketizer) Stats() Stats { return d.stats }

func (d *Depacketizer) setSPS(nal []byte) {
	if d.spsOK && bytes.Equal(nal, d.sps) {
		return
	}
	d.sps = append(d.sps[:0], nal...)
	d.spsGen++
	if s, err := ParseSPS(nal); err == nil {
		d.spsInfo, d.spsOK = s, true
	}
}

func (d *Depacketizer) maxAU() int {
	if d.MaxAUBytes > 0 {
		return d.MaxAUBytes
	}
	return DefaultMaxAUBytes
}

// Push consumes one RTP packet. A returned error describes a malformed or
// unsupported packet; the depacketiser stays usable and resynchronises on
// the next IDR.
func (d *Depacketizer) Push(h *rtp.Header, payload []byte) error {
	d.stats.Packets++
	lost := false
	if d.started {
		diff := int16(h.SequenceNumber - (d.lastSeq + 1))
		switch {
		case diff < 0:
			d.stats.Reordered++
			return nil
		case diff > 0:
			d.stats.Lost += uint64(diff)
			lost = true
			d.loss()
		}
	}
	d.started = true
	d.lastSeq = h.SequenceNumber

	if d.haveTS && h.Timestamp != d.curTS {
		if len(d.spans) > 0 || d.fuActive || d.corrupt {
			// The marker of the previous picture was lost or never set.
			d.flush()
		}
		if lost && !startsPicture(payload) {
			// The lost packets may have been this picture's first ones.
			d.loss()
		}
	}
	d.haveTS, d.curTS = true, h.Timestamp

	if err := d.payload(payload); err != nil {
		d.stats.Malformed++
		d.loss()
		return err
	}
	if h.Marker {
		d.flush()
	}
	return nil
}

// loss marks the picture in progress as damaged and waits for the next IDR.
func (d *Depacketizer) loss() {
	if d.fuActive {
		d.buf = d.buf[:d.fuStart]
		d.fuActive = false
	}
	d.corrupt = true
	d.waitIDR = true
}

func (d *Depacketizer) payload(p []byte) error {
	if len(p) < 1 {
		return fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	if p[0]&0x80 != 0 {
		return fmt.Errorf("%w: forbidden_zero_bit set", ErrMalformed)
	}
	typ := p[0] & 0x1f
	if d.fuActive && typ != NALFUA {
		// An FU-A without its end fragment: the NAL unit is incomplete.
		d.loss()
	}
	switch {
	case typ >= 1 && typ <= 23:
		return d.addNAL(p)
	case typ == NALSTAPA:
		p = p[1:]
		for len(p) > 0 {
			if len(p) < 2 {
				return fmt.Errorf("%w: STAP-A size field truncated", ErrMalformed)
			}
			n := int(p[0])<<8 | int(p[1])
			p = p[2:]
			if n == 0 || n > len(p) {
				return fmt.Errorf("%w: STAP-A unit of %d bytes with %d left", ErrMalformed, n, len(p))
			}
			if err := d.addNAL(p[:n]); err != nil {
				return err
			}
			p = p[n:]
		}
		return nil
	case typ == NALFUA:
		return d.fua(p)
	case typ == NALSTAPB || typ == NALMTAP16 || typ == NALMTAP24 || typ == NALFUB:
		return fmt.Errorf("%w: NAL type %d (interleaved mode)", ErrUnsupported, typ)
	default:
		return fmt.Errorf("%w: reserved NAL type %d", ErrMalformed, typ)
	}
}

func (d *Depacketizer) fua(p []byte) error {
	if len(p) < 3 {
		return fmt.Errorf("%w: FU-A of %d bytes", ErrMalformed, len(p))
	}
	ind, hdr := p[0], p[1]
	start, end := hdr&0x80 != 0, hdr&0x40 != 0
	if start && end {
		return fmt.Errorf("%w: FU-A with start and end bits", ErrMalformed)
	}
	data := p[2:]
	switch {
	case start:
		if d.fuActive {
			d.loss()
		}
		if len(d.buf)+1+len(data) > d.maxAU() {
			d.loss()
			return nil
		}
		d.fuActive = true
		d.fuStart = len(d.buf)
		d.buf = append(d.buf, ind&0xe0|hdr&0x1f)
		d.buf = append(d.buf, data...)
	case !d.fuActive:
		// Middle or end without a start: its start was lost (already
		// counted when the sequence gap was seen, or this is the first
		// packet of the stream).
		d.corrupt = true
		d.waitIDR = true
	default:
		if len(d.buf)+len(data) > d.maxAU() {
			d.loss()
			return nil
		}
		d.buf = append(d.buf, data...)
		if end {
			d.fuActive = false
			d.finishNAL(d.fuStart, len(d.buf)-d.fuStart)
		}
	}
	return nil
}

func (d *Depacketizer) addNAL(nal []byte) error {
	if len(nal) == 0 || nal[0]&0x80 != 0 {
		return fmt.Errorf("%w: bad NAL header", ErrMalformed)
	}
	if len(d.buf)+len(nal) > d.maxAU() {
		d.loss()
		return nil
	}
	off := len(d.buf)
	d.buf = append(d.buf, nal...)
	d.finishNAL(off, len(nal))
	return nil
}

func (d *Depacketizer) finishNAL(off, n int) {
	switch d.buf[off] & 0x1f {
	case NALSPS:
		d.setSPS(d.buf[off : off+n])
	case NALPPS:
		d.pps = append(d.pps[:0], d.buf[off:off+n]...)
	}
	d.spans = append(d.spans, span{off, n})
}

// flush ends the picture in progress and emits it when it is whole.
func (d *Depacketizer) flush() {
	if d.fuActive {
		d.loss()
	}
	defer func() {
		d.buf = d.buf[:0]
		d.spans = d.spans[:0]
		d.corrupt = false
	}()
	if len(d.spans) == 0 {
		return
	}
	key, vcl, hasSPS, hasPPS := false, false, false, false
	for _, s := range d.spans {
		switch d.buf[s.off] & 0x1f {
		case NALIDR:
			key, vcl = true, true
		case NALSlice:
			vcl = true
		case NALSPS:
			hasSPS = true
		case NALPPS:
			hasPPS = true
		}
	}
	if !vcl {
		// Parameter sets alone (some cameras send them with their own
		// timestamp) were stored by finishNAL and go in front of the next
		// IDR; a lone SEI is of no use to a viewer.
		return
	}
	if d.corrupt || (d.waitIDR && !key) || (key && (len(d.sps) == 0 || len(d.pps) == 0)) {
		d.stats.DroppedAUs++
		return
	}
	if key {
		d.waitIDR = false
	}
	d.out = d.out[:0]
	if key && !hasSPS {
		d.out = append(d.out, d.sps)
	}
	if key && !hasPPS {
		d.out = append(d.out, d.pps)
	}
	for _, s := range d.spans {
		d.out = append(d.out, d.buf[s.off:s.off+s.n])
	}
	d.au = AccessUnit{NALUs: d.out, RTPTime: d.curTS, Key: key}
	d.stats.AUs++
	if d.Emit != nil {
		d.Emit(&d.au)
	}
}

// startsPicture reports whether a payload holds the start of a picture: a
// NAL unit that opens an access unit, or the first slice (first_mb_in_slice
// 0, coded as a single 1 bit) whole, fragmented or aggregated.
func startsPicture(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case NALSlice, NALIDR:
		return p[1]&0x80 != 0
	case NALSEI, NALSPS, NALPPS, NALAUD:
		return true
	case NALSTAPA:
		return len(p) > 3 && startsPicture(p[3:])
	case NALFUA:
		if len(p) < 3 || p[1]&0x80 == 0 {
			return false
		}
		inner := p[1] & 0x1f
		return (inner == NALSlice || inner == NALIDR) && p[2]&0x80 != 0 || inner == NALSEI
	}
	return false
}
