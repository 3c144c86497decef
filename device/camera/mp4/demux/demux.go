// Package demux reads back the fragmented MP4 files that device/camera/mp4
// writes (ftyp, moov with avcC and mvex, then moof+mdat fragments) and
// yields their video access units with their times.
//
// Why: live view plays a recording over WebRTC (uplink/live), sending only
// what the officer watches instead of whole files over prepaid 4G. The
// files come from disk and a power cut may have cut one short, so the
// reader trusts nothing: every box length is checked against its parent,
// a fragment whose mdat is not wholly in the file is left out (and
// Truncated says so), and the index it builds is bounded.
//
// Only what our muxer writes is read: one H.264 video track, trun with
// explicit per-sample duration/size/flags (or the tfhd/trex defaults),
// base offsets from the moof (default-base-is-moof) or tfhd's explicit
// base. Anything else is refused with an error naming what was found.
package demux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Limits on what a file may make the reader hold.
const (
	// MaxSamples bounds the index of one file: an hour at 100 frames/s.
	MaxSamples = 360_000
	// MaxSampleBytes bounds one access unit (a 16 Mbit/s key frame is ~1 MiB).
	MaxSampleBytes = 16 << 20
	// maxMoov bounds the init segment and maxMoof one fragment header.
	maxMoov = 1 << 20
	maxMoof = 4 << 20
)

// ErrFormat wraps every complaint about a file's structure.
var ErrFormat = errors.New("demux: not a fragmented MP4 of ours")

// Sample is one access unit of the file.
type Sample struct {
	// DTS and PTS are decode and presentation time from the file's start
	// (the first fragment's decode time is the file's zero when the muxer
	// wrote it; tfdt is taken as is).
	DTS, PTS time.Duration
	// Duration is the time to the next sample.
	Duration time.Duration
	Key      bool
	// Offset and Size locate the sample's AVCC bytes in the file.
	Offset int64
	Size   int
}

// File is the index of one file.
type File struct {
	r io.ReaderAt
	// SPS and PPS are the avcC's first parameter sets (no start codes).
	SPS, PPS []byte
	// Width and Height are the track header's size.
	Width, Height int
	// Timescale is the video track's media clock.
	Timescale uint32
	// LengthSize is the AVCC NAL length field's size (1, 2 or 4).
	LengthSize int
	// Samples are every sample of whole fragments, in decoding order.
	Samples []Sample
	// Truncated says the file ends inside a box: what follows the last
	// whole fragment was left out.
	Truncated bool
}

// Open reads the init segment and indexes every whole fragment of the
// size bytes of r.
func Open(r io.ReaderAt, size int64) (*File, error) {
	f := &File{r: r}
	var off int64
	sawMoov := false
	var moofAt int64 = -1
	var pending []Sample // samples of the last moof, waiting for its mdat
	var pendingEnd int64 // the end of the data the moof points to
scan:
	for off < size {
		typ, hdr, boxLen, err := readHeader(r, off, size)
		if err != nil {
			if errors.Is(err, errShort) {
				f.Truncated = true
				break
			}
			return nil, err
		}
		if off+boxLen > size {
			f.Truncated = true
			break
		}
		switch typ {
		case "ftyp":
			if off != 0 {
				return nil, fmt.Errorf("%w: ftyp at offset %d, not at the start", ErrFormat, off)
			}
		case "moov":
			if sawMoov {
				return nil, fmt.Errorf("%w: a second moov at offset %d", ErrFormat, off)
			}
			if boxLen > maxMoov {
				return nil, fmt.Errorf("%w: moov of %d bytes, over %d", ErrFormat, boxLen, maxMoov)
			}
			b, err := readAt(r, off+hdr, boxLen-hdr)
			if errors.Is(err, errShort) {
				return nil, fmt.Errorf("%w: the file ends inside its moov", ErrFormat)
			}
			if err != nil {
				return nil, err
			}
			if err := f.parseMoov(b); err != nil {
				return nil, err
			}
			sawMoov = true
		case "moof":
			if !sawMoov {
				return nil, fmt.Errorf("%w: moof at offset %d before any moov", ErrFormat, off)
			}
			if boxLen > maxMoof {
				return nil, fmt.Errorf("%w: moof of %d bytes at offset %d, over %d", ErrFormat, boxLen, off, maxMoof)
			}
			b, err := readAt(r, off+hdr, boxLen-hdr)
			if errors.Is(err, errShort) {
				f.Truncated = true
				break scan
			}
			if err != nil {
				return nil, err
			}
			moofAt = off
			pending, pendingEnd, err = f.parseMoof(b, off)
			if err != nil {
				return nil, fmt.Errorf("moof at offset %d: %w", off, err)
			}
		case "mdat":
			if moofAt < 0 {
				break // an mdat of no fragment: nothing points into it
			}
			if pendingEnd > off+boxLen {
				return nil, fmt.Errorf("%w: fragment at offset %d points %d bytes past its mdat", ErrFormat, moofAt, pendingEnd-off-boxLen)
			}
			if len(f.Samples)+len(pending) > MaxSamples {
				return nil, fmt.Errorf("%w: over %d samples in one file", ErrFormat, MaxSamples)
			}
			f.Samples = append(f.Samples, pending...)
			pending, moofAt = nil, -1
		}
		off += boxLen
	}
	if !sawMoov {
		if f.Truncated {
			return nil, fmt.Errorf("%w: the file ends before its moov (%d bytes)", ErrFormat, size)
		}
		return nil, fmt.Errorf("%w: no moov box", ErrFormat)
	}
	if moofAt >= 0 {
		f.Truncated = true // a moof whose mdat never came
	}
	return f, nil
}

var errShort = errors.New("short")

// readHeader reads the box header at off: its type, header length and
// whole length (checked to be at least the header).
func readHeader(r io.ReaderAt, off, size int64) (typ string, hdr, n int64, err error) {
	if size-off < 8 {
		return "", 0, 0, errShort
	}
	var h [16]byte
	if _, err := r.ReadAt(h[:8], off); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", 0, 0, errShort // shorter than said (cut under its index)
		}
		return "", 0, 0, fmt.Errorf("demux: read box header at %d: %w", off, err)
	}
	n, hdr = int64(binary.BigEndian.Uint32(h[:4])), 8
	typ = string(h[4:8])
	switch n {
	case 0: // to the end of the file
		n = size - off
	case 1:
		if size-off < 16 {
			return "", 0, 0, errShort
		}
		if _, err := r.ReadAt(h[8:16], off+8); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return "", 0, 0, errShort
			}
			return "", 0, 0, fmt.Errorf("demux: read box header at %d: %w", off, err)
		}
		u := binary.BigEndian.Uint64(h[8:16])
		if u > 1<<62 {
			return "", 0, 0, fmt.Errorf("%w: box %q at %d of %d bytes", ErrFormat, typ, off, u)
		}
		n, hdr = int64(u), 16
	}
	if n < hdr {
		return "", 0, 0, fmt.Errorf("%w: box %q at offset %d claims %d bytes, less than its header", ErrFormat, printable(typ), off, n)
	}
	return typ, hdr, n, nil
}

// readAt reads n bytes at off; fewer (the reader is shorter than its
// size said) is errShort.
func readAt(r io.ReaderAt, off, n int64) ([]byte, error) {
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	switch {
	case int64(got) == n:
		return b, nil
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, errShort
	}
	return nil, fmt.Errorf("demux: read %d bytes at %d: %w", n, off, err)
}

func printable(s string) string {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", s)
		}
	}
	return s
}

// box is one child box within a parent's bytes.
type box struct {
	typ  string
	body []byte
}

// children splits b into its boxes.
func children(b []byte) ([]box, error) {
	var out []box
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: %d stray bytes at the end of a box", ErrFormat, len(b))
		}
		n, hdr := uint64(binary.BigEndian.Uint32(b)), uint64(8)
		typ := string(b[4:8])
		if n == 1 {
			if len(b) < 16 {
				return nil, fmt.Errorf("%w: box %q cut in its header", ErrFormat, printable(typ))
			}
			n, hdr = binary.BigEndian.Uint64(b[8:]), 16
		} else if n == 0 {
			n = uint64(len(b))
		}
		if n < hdr || n > uint64(len(b)) {
			return nil, fmt.Errorf("%w: box %q of %d bytes in a parent with %d left", ErrFormat, printable(typ), n, len(b))
		}
		out = append(out, box{typ: typ, body: b[hdr:n]})
		b = b[n:]
	}
	return out, nil
}

func find(bs []box, typ string) []byte {
	for _, b := range bs {
		if b.typ == typ {
			return b.body
		}
	}
	return nil
}

// path walks nested boxes by type.
func path(b []byte, types ...string) ([]byte, error) {
	for _, t := range types {
		cs, err := children(b)
		if err != nil {
			return nil, err
		}
		b = find(cs, t)
		if b == nil {
			return nil, fmt.Errorf("%w: no %s box", ErrFormat, t)
		}
	}
	return b, nil
}

// reader is a bounds-checked cursor over a box body.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: box body cut short", ErrFormat)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// trackDefaults are trex's defaults.
type trackDefaults struct {
	duration, size, flags uint32
}

func (f *File) parseMoov(b []byte) error {
	trak, err := path(b, "trak")
	if err != nil {
		return err
	}
	cs, err := children(trak)
	if err != nil {
		return err
	}
	if tk := find(cs, "tkhd"); tk != nil {
		r := &reader{b: tk}
		v := r.u8()
		r.take(3)
		if v == 1 {
			r.take(8 + 8 + 4 + 4 + 8)
		} else {
			r.take(4 + 4 + 4 + 4 + 4)
		}
		r.take(8 + 2 + 2 + 2 + 2 + 36)
		w, h := r.u32(), r.u32()
		if r.err == nil {
			f.Width, f.Height = int(w>>16), int(h>>16)
		}
	}
	mdia := find(cs, "mdia")
	if mdia == nil {
		return fmt.Errorf("%w: no mdia box", ErrFormat)
	}
	mcs, err := children(mdia)
	if err != nil {
		return err
	}
	if hd := find(mcs, "hdlr"); hd != nil {
		r := &reader{b: hd}
		r.take(8)
		if h := r.take(4); r.err == nil && string(h) != "vide" {
			return fmt.Errorf("%w: the track is %q, not video", ErrFormat, printable(string(h)))
		}
	}
	mdhd := find(mcs, "mdhd")
	if mdhd == nil {
		return fmt.Errorf("%w: no mdhd box", ErrFormat)
	}
	r := &reader{b: mdhd}
	if v := r.u8(); v == 1 {
		r.take(3 + 16)
	} else {
		r.take(3 + 8)
	}
	f.Timescale = r.u32()
	if r.err != nil || f.Timescale == 0 {
		return fmt.Errorf("%w: mdhd without a timescale", ErrFormat)
	}
	stsd, err := path(mdia, "minf", "stbl", "stsd")
	if err != nil {
		return err
	}
	if len(stsd) < 8 {
		return fmt.Errorf("%w: stsd cut short", ErrFormat)
	}
	entries, err := children(stsd[8:])
	if err != nil {
		return err
	}
	avc1 := find(entries, "avc1")
	if avc1 == nil {
		if len(entries) > 0 {
			return fmt.Errorf("%w: the sample entry is %q, not avc1 (H.264)", ErrFormat, printable(entries[0].typ))
		}
		return fmt.Errorf("%w: no sample entry", ErrFormat)
	}
	if len(avc1) < 78 {
		return fmt.Errorf("%w: avc1 entry cut short", ErrFormat)
	}
	ext, err := children(avc1[78:])
	if err != nil {
		return err
	}
	avcC := find(ext, "avcC")
	if avcC == nil {
		return fmt.Errorf("%w: avc1 without avcC", ErrFormat)
	}
	if err := f.parseAvcC(avcC); err != nil {
		return err
	}
	if mvex := find(mustChildren(b), "mvex"); mvex == nil {
		return fmt.Errorf("%w: moov without mvex: not a fragmented file", ErrFormat)
	}
	return nil
}

func mustChildren(b []byte) []box {
	cs, _ := children(b)
	return cs
}

func (f *File) parseAvcC(b []byte) error {
	r := &reader{b: b}
	r.u8() // version
	r.take(3)
	f.LengthSize = int(r.u8()&3) + 1
	nsps := int(r.u8() & 0x1f)
	for i := range nsps {
		n := int(r.u16())
		p := r.take(n)
		if i == 0 {
			f.SPS = append([]byte(nil), p...)
		}
	}
	npps := int(r.u8())
	for i := range npps {
		n := int(r.u16())
		p := r.take(n)
		if i == 0 {
			f.PPS = append([]byte(nil), p...)
		}
	}
	if r.err != nil {
		return fmt.Errorf("avcC: %w", r.err)
	}
	if f.LengthSize == 3 {
		return fmt.Errorf("%w: avcC NAL length size 3", ErrFormat)
	}
	if len(f.SPS) < 4 || len(f.PPS) == 0 {
		return fmt.Errorf("%w: avcC without an SPS and a PPS", ErrFormat)
	}
	return nil
}

// tfhd flags (ISO/IEC 14496-12 8.8.7).
const (
	tfhdBaseOffset   = 0x000001
	tfhdSampleDesc   = 0x000002
	tfhdDuration     = 0x000008
	tfhdSize         = 0x000010
	tfhdFlags        = 0x000020
	tfhdBaseIsMoof   = 0x020000
	trunDataOffset   = 0x000001
	trunFirstFlags   = 0x000004
	trunDurationFlag = 0x000100
	trunSizeFlag     = 0x000200
	trunFlagsFlag    = 0x000400
	trunCTSFlag      = 0x000800
	nonSyncFlag      = 0x00010000
)

// parseMoof indexes one fragment whose moof starts at file offset at; it
// returns its samples and the end of the data they point to.
func (f *File) parseMoof(b []byte, at int64) ([]Sample, int64, error) {
	cs, err := children(b)
	if err != nil {
		return nil, 0, err
	}
	var out []Sample
	var end int64
	for _, c := range cs {
		if c.typ != "traf" {
			continue
		}
		tc, err := children(c.body)
		if err != nil {
			return nil, 0, err
		}
		tfhd := find(tc, "tfhd")
		if tfhd == nil {
			return nil, 0, fmt.Errorf("%w: traf without tfhd", ErrFormat)
		}
		r := &reader{b: tfhd}
		flags := r.u32() & 0xffffff
		if id := r.u32(); id != 1 && r.err == nil {
			continue // not our video track
		}
		base := at
		if flags&tfhdBaseOffset != 0 {
			base = int64(r.u64())
			if base < 0 {
				return nil, 0, fmt.Errorf("%w: negative base data offset", ErrFormat)
			}
		}
		var def trackDefaults
		if flags&tfhdSampleDesc != 0 {
			r.u32()
		}
		if flags&tfhdDuration != 0 {
			def.duration = r.u32()
		}
		if flags&tfhdSize != 0 {
			def.size = r.u32()
		}
		if flags&tfhdFlags != 0 {
			def.flags = r.u32()
		}
		if r.err != nil {
			return nil, 0, fmt.Errorf("tfhd: %w", r.err)
		}
		var dts uint64
		if tfdt := find(tc, "tfdt"); tfdt != nil {
			r := &reader{b: tfdt}
			if v := r.u32() >> 24; v == 1 {
				dts = r.u64()
			} else {
				dts = uint64(r.u32())
			}
			if r.err != nil {
				return nil, 0, fmt.Errorf("tfdt: %w", r.err)
			}
		} else if n := len(f.Samples); n > 0 {
			last := f.Samples[n-1]
			dts = f.ticksOf(last.DTS + last.Duration)
		}
		dataAt := base
		for _, t := range tc {
			if t.typ != "trun" {
				continue
			}
			r := &reader{b: t.body}
			vf := r.u32()
			version, tf := vf>>24, vf&0xffffff
			count := r.u32()
			if r.err != nil {
				return nil, 0, fmt.Errorf("trun: %w", r.err)
			}
			if uint64(count)+uint64(len(out)) > MaxSamples {
				return nil, 0, fmt.Errorf("%w: trun of %d samples, over %d", ErrFormat, count, MaxSamples)
			}
			if tf&trunDataOffset != 0 {
				dataAt = base + int64(int32(r.u32()))
			}
			firstFlags, hasFirst := uint32(0), tf&trunFirstFlags != 0
			if hasFirst {
				firstFlags = r.u32()
			}
			per := 0
			for _, bit := range []uint32{trunDurationFlag, trunSizeFlag, trunFlagsFlag, trunCTSFlag} {
				if tf&bit != 0 {
					per += 4
				}
			}
			// With no per-sample field, the count is not bounded by the
			// box: a fragment of ours never holds more than a thousand.
			if r.err != nil || (per > 0 && uint64(count)*uint64(per) > uint64(len(r.b))) || (per == 0 && count > 1000) {
				return nil, 0, fmt.Errorf("%w: trun of %d samples longer than its box", ErrFormat, count)
			}
			if dataAt < 0 {
				return nil, 0, fmt.Errorf("%w: sample data before the start of the file", ErrFormat)
			}
			for i := range count {
				dur, size, sf := def.duration, def.size, def.flags
				var cts int64
				if tf&trunDurationFlag != 0 {
					dur = r.u32()
				}
				if tf&trunSizeFlag != 0 {
					size = r.u32()
				}
				if tf&trunFlagsFlag != 0 {
					sf = r.u32()
				} else if i == 0 && hasFirst {
					sf = firstFlags
				}
				if tf&trunCTSFlag != 0 {
					v := r.u32()
					if version == 0 {
						cts = int64(v)
					} else {
						cts = int64(int32(v))
					}
				}
				if size > MaxSampleBytes {
					return nil, 0, fmt.Errorf("%w: a sample of %d bytes, over %d", ErrFormat, size, MaxSampleBytes)
				}
				if dts > 1<<62 {
					return nil, 0, fmt.Errorf("%w: decode time overflows", ErrFormat)
				}
				out = append(out, Sample{
					DTS: f.dur(int64(dts)), PTS: f.dur(int64(dts) + cts), Duration: f.dur(int64(dur)),
					Key: sf&nonSyncFlag == 0, Offset: dataAt, Size: int(size),
				})
				dts += uint64(dur)
				dataAt += int64(size)
			}
			end = max(end, dataAt)
		}
	}
	return out, end, nil
}

// dur converts media ticks to a Duration without overflow for any tick
// count below 2^62.
func (f *File) dur(t int64) time.Duration {
	ts := int64(f.Timescale)
	return time.Duration(t/ts)*time.Second + time.Duration(t%ts)*time.Second/time.Duration(ts)
}

func (f *File) ticksOf(d time.Duration) uint64 {
	ts := int64(f.Timescale)
	return uint64(int64(d/time.Second)*ts + int64(d%time.Second)*ts/int64(time.Second))
}

// Duration is the media of the whole fragments.
func (f *File) Duration() time.Duration {
	if len(f.Samples) == 0 {
		return 0
	}
	last := f.Samples[len(f.Samples)-1]
	return last.DTS + last.Duration - f.Samples[0].DTS
}

// KeyAt returns the index of the last key sample whose PTS is at or
// before t, or the first key sample when t is before all of them; -1 when
// the file has none.
func (f *File) KeyAt(t time.Duration) int {
	best := -1
	for i, s := range f.Samples {
		if !s.Key {
			continue
		}
		if best < 0 || s.PTS <= t {
			best = i
		}
		if s.PTS > t {
			break
		}
	}
	return best
}

// ReadSample reads sample i's AVCC bytes into buf (grown as needed).
func (f *File) ReadSample(i int, buf []byte) ([]byte, error) {
	s := f.Samples[i]
	if cap(buf) < s.Size {
		buf = make([]byte, s.Size)
	}
	buf = buf[:s.Size]
	n, err := f.r.ReadAt(buf, s.Offset)
	if n < s.Size {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the file is shorter than when indexed
		}
		return nil, fmt.Errorf("demux: read sample %d at %d: %w", i, s.Offset, err)
	}
	return buf, nil
}

// NALUs splits an AVCC access unit (lengthSize-byte big-endian lengths)
// into its NAL units, which alias b.
func NALUs(b []byte, lengthSize int) ([][]byte, error) {
	if lengthSize != 1 && lengthSize != 2 && lengthSize != 4 {
		return nil, fmt.Errorf("%w: NAL length size %d", ErrFormat, lengthSize)
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < lengthSize {
			return nil, fmt.Errorf("%w: %d stray bytes after the last NAL unit", ErrFormat, len(b))
		}
		var n uint64
		for _, c := range b[:lengthSize] {
			n = n<<8 | uint64(c)
		}
		b = b[lengthSize:]
		if n == 0 || n > uint64(len(b)) {
			return nil, fmt.Errorf("%w: NAL unit of %d bytes with %d left in the sample", ErrFormat, n, len(b))
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}
