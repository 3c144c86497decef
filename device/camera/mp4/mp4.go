// Package mp4 writes H.264 video as fragmented MP4 (ISO BMFF): an init
// segment (ftyp, moov with avcC and mvex) and then one moof+mdat fragment
// per GOP, or per MaxFragment of media when the GOP is longer.
//
// Why fragmented: every fragment is self-contained, so a file cut short
// (a power cut, kill -9) is playable up to its last whole fragment, and a
// file can be written front to back with no index to patch at the end.
// Browsers play it in a plain <video> element.
//
// Only video is written. Cameras send audio as G.711, which browsers do not
// decode inside MP4; transcoding it is not worth a small board's CPU, so
// audio is left out (docs/recording.md).
//
// The package writes and never parses outside input: it takes access units
// from device/camera, which already validated them.
package mp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
)

// Timescale is the media clock of the video track: the RTP clock of video.
const Timescale = 90000

// DefaultMaxFragment bounds a fragment's media duration when the camera's
// GOP is longer: a power cut loses at most this much of a clip.
const DefaultMaxFragment = 2 * time.Second

// DefaultMaxFragmentBytes bounds a fragment's bytes, whatever the media
// time says: a camera whose clock is stuck must not grow one fragment in
// memory without end. 4 MiB is 2 s of a 16 Mbit/s stream.
const DefaultMaxFragmentBytes = 4 << 20

// maxFragmentSamples bounds a fragment's samples for the same reason (it
// is 10 s at 100 frames/s).
const maxFragmentSamples = 1000

// Track describes the video track of a file.
type Track struct {
	// SPS and PPS are the H.264 parameter sets (without start codes).
	SPS, PPS []byte
	// Width and Height are the displayed size; zero takes them from SPS.
	Width, Height int
}

// Sample is one access unit as stored in an mdat.
type Sample struct {
	// Data is the access unit in AVCC form (4-byte big-endian lengths).
	Data []byte
	// Duration is in Timescale units; CTS is the composition offset
	// (presentation minus decode time).
	Duration uint32
	CTS      int32
	Key      bool
}

// ErrNoParams reports a track without SPS or PPS.
var ErrNoParams = errors.New("mp4: track needs an SPS and a PPS")

// AppendInit appends the init segment (ftyp and moov) of t to dst.
func AppendInit(dst []byte, t Track) ([]byte, error) {
	if len(t.SPS) < 4 || len(t.PPS) == 0 {
		return dst, ErrNoParams
	}
	if t.Width <= 0 || t.Height <= 0 {
		info, err := h264.ParseSPS(t.SPS)
		if err != nil {
			return dst, fmt.Errorf("mp4: read sps: %w", err)
		}
		t.Width, t.Height = info.Width, info.Height
	}
	if t.Width <= 0 || t.Height <= 0 || t.Width > 0xffff || t.Height > 0xffff {
		return dst, fmt.Errorf("mp4: bad video size %dx%d", t.Width, t.Height)
	}
	b := &builder{buf: dst}
	b.box("ftyp", func() {
		b.str("iso5")
		b.u32(512)
		b.str("iso5")
		b.str("iso6")
		b.str("avc1")
		b.str("mp41")
	})
	b.box("moov", func() {
		b.full("mvhd", 0, 0, func() {
			b.u32(0) // creation
			b.u32(0) // modification
			b.u32(1000)
			b.u32(0)          // duration: unknown, fragmented
			b.u32(0x00010000) // rate 1.0
			b.u16(0x0100)     // volume 1.0
			b.zero(10)
			b.matrix()
			b.zero(24)
			b.u32(2) // next track id
		})
		b.box("trak", func() {
			b.full("tkhd", 0, 3, func() { // enabled, in movie
				b.u32(0)
				b.u32(0)
				b.u32(1) // track id
				b.u32(0)
				b.u32(0) // duration
				b.zero(8)
				b.u16(0) // layer
				b.u16(0) // alternate group
				b.u16(0) // volume (video)
				b.u16(0)
				b.matrix()
				b.u32(uint32(t.Width) << 16)
				b.u32(uint32(t.Height) << 16)
			})
			b.box("mdia", func() {
				b.full("mdhd", 0, 0, func() {
					b.u32(0)
					b.u32(0)
					b.u32(Timescale)
					b.u32(0)
					b.u16(0x55c4) // language "und"
					b.u16(0)
				})
				b.full("hdlr", 0, 0, func() {
					b.u32(0)
					b.str("vide")
					b.zero(12)
					b.buf = append(b.buf, "VideoHandler\x00"...)
				})
				b.box("minf", func() {
					b.full("vmhd", 0, 1, func() { b.zero(8) })
					b.box("dinf", func() {
						b.full("dref", 0, 0, func() {
							b.u32(1)
							b.full("url ", 0, 1, func() {}) // media in this file
						})
					})
					b.box("stbl", func() {
						b.full("stsd", 0, 0, func() {
							b.u32(1)
							b.box("avc1", func() {
								b.zero(6)
								b.u16(1) // data reference index
								b.zero(16)
								b.u16(uint16(t.Width))
								b.u16(uint16(t.Height))
								b.u32(0x00480000) // 72 dpi
								b.u32(0x00480000)
								b.u32(0)
								b.u16(1) // frame count
								b.zero(32)
								b.u16(0x0018) // depth
								b.u16(0xffff) // pre-defined -1
								b.box("avcC", func() {
									b.buf = append(b.buf, 1, t.SPS[1], t.SPS[2], t.SPS[3], 0xff, 0xe1)
									b.u16(uint16(len(t.SPS)))
									b.buf = append(b.buf, t.SPS...)
									b.buf = append(b.buf, 1)
									b.u16(uint16(len(t.PPS)))
									b.buf = append(b.buf, t.PPS...)
								})
							})
						})
						for _, name := range []string{"stts", "stsc", "stco"} {
							b.full(name, 0, 0, func() { b.u32(0) })
						}
						b.full("stsz", 0, 0, func() { b.u32(0); b.u32(0) })
					})
				})
			})
		})
		b.box("mvex", func() {
			b.full("trex", 0, 0, func() {
				b.u32(1) // track id
				b.u32(1) // sample description index
				b.u32(0) // default duration
				b.u32(0) // default size
				b.u32(0) // default flags
			})
		})
	})
	return b.buf, nil
}

// Sample flags (ISO/IEC 14496-12 8.8.3.1): a sync sample depends on no
// other; a non-sync one does and is marked non-sync.
const (
	flagsSync    = 0x02000000
	flagsNonSync = 0x01010000
)

// AppendFragment appends one moof+mdat holding samples to dst; seq is the
// fragment's sequence number (from 1) and decodeTime the first sample's
// decode time in Timescale units.
func AppendFragment(dst []byte, seq uint32, decodeTime uint64, samples []Sample) []byte {
	dst = appendFragmentHeader(dst, seq, decodeTime, samples)
	for _, s := range samples {
		dst = append(dst, s.Data...)
	}
	return dst
}

// fragmentHeaderMax is the longest header appendFragmentHeader makes: a
// moof of maxFragmentSamples samples with composition offsets, and the
// mdat box header.
const fragmentHeaderMax = 8 + 16 + 8 + 16 + 20 + (12 + 4 + 4 + maxFragmentSamples*16) + 8

// appendFragmentHeader appends the moof of samples and the header of
// their mdat: what precedes the samples' bytes in a fragment.
func appendFragmentHeader(dst []byte, seq uint32, decodeTime uint64, samples []Sample) []byte {
	cts := false
	for _, s := range samples {
		if s.CTS != 0 {
			cts = true
		}
	}
	trunFlags := uint32(0x000001 | 0x000100 | 0x000200 | 0x000400) // data offset, duration, size, flags
	if cts {
		trunFlags |= 0x000800
	}
	b := &builder{buf: dst}
	moofStart := len(b.buf)
	var offsetAt int
	b.box("moof", func() {
		b.full("mfhd", 0, 0, func() { b.u32(seq) })
		b.box("traf", func() {
			b.full("tfhd", 0, 0x020000, func() { b.u32(1) }) // default-base-is-moof
			b.full("tfdt", 1, 0, func() { b.u64(decodeTime) })
			b.full("trun", 1, trunFlags, func() {
				b.u32(uint32(len(samples)))
				offsetAt = len(b.buf)
				b.u32(0) // data offset, patched below
				for _, s := range samples {
					b.u32(s.Duration)
					b.u32(uint32(len(s.Data)))
					if s.Key {
						b.u32(flagsSync)
					} else {
						b.u32(flagsNonSync)
					}
					if cts {
						b.u32(uint32(s.CTS))
					}
				}
			})
		})
	})
	moofLen := len(b.buf) - moofStart
	binary.BigEndian.PutUint32(b.buf[offsetAt:], uint32(moofLen+8))
	n := 8
	for _, s := range samples {
		n += len(s.Data)
	}
	b.u32(uint32(n))
	b.str("mdat")
	return b.buf
}

// AppendAVCC appends an access unit's NAL units in AVCC form, leaving out
// parameter sets and delimiters (the init segment carries the parameter
// sets; a change of them starts a new file, see Writer).
func AppendAVCC(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case h264.NALSPS, h264.NALPPS, 9: // 9: access unit delimiter
			continue
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	return dst
}

type builder struct{ buf []byte }

func (b *builder) u16(v uint16) { b.buf = binary.BigEndian.AppendUint16(b.buf, v) }
func (b *builder) u32(v uint32) { b.buf = binary.BigEndian.AppendUint32(b.buf, v) }
func (b *builder) u64(v uint64) { b.buf = binary.BigEndian.AppendUint64(b.buf, v) }
func (b *builder) str(s string) { b.buf = append(b.buf, s...) }
func (b *builder) zero(n int)   { b.buf = append(b.buf, make([]byte, n)...) }
func (b *builder) matrix() {
	b.u32(0x00010000)
	b.zero(12)
	b.u32(0x00010000)
	b.zero(12)
	b.u32(0x40000000)
}
func (b *builder) full(typ string, version byte, flags uint32, body func()) {
	b.box(typ, func() {
		b.u32(uint32(version)<<24 | flags&0xffffff)
		body()
	})
}

func (b *builder) box(typ string, body func()) {
	start := len(b.buf)
	b.u32(0)
	b.str(typ)
	body()
	binary.BigEndian.PutUint32(b.buf[start:], uint32(len(b.buf)-start))
}

// Writer turns a stream of access units into a fragmented MP4 on an
// io.Writer: the init segment at the first key frame, then a fragment each
// time a key frame arrives (or MaxFragment of media, MaxFragmentBytes or
// a thousand samples are pending). A sample's
// duration is the time to the next one, so the last sample of a fragment is
// known when the next frame comes; Close writes what is pending.
type Writer struct {
	w           io.Writer
	maxFragment int64 // in Timescale units
	track       Track
	started     bool
	seq         uint32
	base        uint64 // decode time of the first pending sample
	first       int64  // PTS (Timescale) of the first frame written
	lastDTS     int64
	pending     []Sample
	// data holds the pending samples' bytes after fragmentHeaderMax
	// bytes left free, where flush puts the fragment's header: the
	// fragment goes to the file in one write without copying its samples.
	data      []byte
	sizes     []int // their lengths
	buf       []byte
	frames    int   // frames in written fragments
	end       int64 // decode time after the last written sample
	bytes     int64
	lastDur   uint32
	fragments int
	flushHook func() error
	maxBytes  int
	maxAbsCTS int64 // largest composition offset written (tests)
}

// WriterOptions tunes a Writer.
type WriterOptions struct {
	// MaxFragment bounds a fragment's media (DefaultMaxFragment when zero).
	MaxFragment time.Duration
	// AfterFragment, when set, is called after each fragment is written
	// (the clip store fsyncs there).
	AfterFragment func() error
	// MaxFragmentBytes bounds a fragment's sample bytes
	// (DefaultMaxFragmentBytes when zero): what the writer holds in memory.
	MaxFragmentBytes int
}

// NewWriter makes a Writer for track t; nothing is written until the first
// key frame.
func NewWriter(w io.Writer, t Track, opt WriterOptions) (*Writer, error) {
	if len(t.SPS) < 4 || len(t.PPS) == 0 {
		return nil, ErrNoParams
	}
	mf := opt.MaxFragment
	if mf <= 0 {
		mf = DefaultMaxFragment
	}
	mb := opt.MaxFragmentBytes
	if mb <= 0 {
		mb = DefaultMaxFragmentBytes
	}
	return &Writer{w: w, track: t, maxFragment: int64(mf * Timescale / time.Second), flushHook: opt.AfterFragment, maxBytes: mb,
		data: make([]byte, fragmentHeaderMax)}, nil
}

// ErrNotKey reports a first frame that is not a key frame.
var ErrNotKey = errors.New("mp4: the first frame must be a key frame")

// ErrNoSlice reports a key frame with no picture in it (only parameter
// sets, delimiters or empty NAL units).
var ErrNoSlice = errors.New("mp4: the first frame holds no picture")

// Bounds of a PTS step between frames in decoding order: beyond them the
// camera's clock jumped (a reset without a new session, an RTP timestamp
// glitch) and the file goes on one frame later instead.
const (
	maxReorder = Timescale     // B-frames reorder by far less than 1 s
	maxGap     = 5 * Timescale // a stall longer than this is not media
)

// WriteFrame adds one access unit with its presentation time. Frames come
// in decoding order; a PTS going back a little (B-frames) becomes a
// composition offset; one jumping back more than a second or forward more
// than five is a discontinuity, closed up in the file. An access unit
// without a picture is dropped.
func (w *Writer) WriteFrame(pts time.Duration, key bool, nalus [][]byte) error {
	if !hasPicture(nalus) {
		if !w.started {
			return ErrNoSlice
		}
		return nil
	}
	t := ticks(pts)
	if !w.started {
		if !key {
			return ErrNotKey
		}
		init, err := AppendInit(w.buf[:0], w.track)
		if err != nil {
			return err
		}
		if _, err := w.w.Write(init); err != nil {
			return fmt.Errorf("mp4: write init segment: %w", err)
		}
		w.bytes += int64(len(init))
		w.started, w.first, w.lastDTS = true, t, -1
	}
	t -= w.first
	if w.lastDTS >= 0 && (t < w.lastDTS-maxReorder || t > w.lastDTS+maxGap) {
		step := int64(w.lastDur)
		if step == 0 {
			step = Timescale / 25
		}
		w.first += t - (w.lastDTS + step)
		t = w.lastDTS + step
	}
	dts := t
	if dts <= w.lastDTS {
		dts = w.lastDTS + 1
	}
	if n := len(w.pending); n > 0 {
		prev := &w.pending[n-1]
		d := dts - w.lastDTS
		prev.Duration = uint32(d)
		w.lastDur = prev.Duration
		if key || dts-int64(w.base) >= w.maxFragment || n >= maxFragmentSamples || len(w.data)-fragmentHeaderMax >= w.maxBytes {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	if len(w.pending) == 0 {
		w.base = uint64(dts)
	}
	// The samples' bytes go into one buffer reused from fragment to
	// fragment; Data is set at flush, once the buffer stops moving.
	n := len(w.data)
	w.data = AppendAVCC(w.data, nalus)
	w.pending = append(w.pending, Sample{Data: w.data[n:len(w.data):len(w.data)], Key: key, CTS: int32(t - dts)})
	w.sizes = append(w.sizes, len(w.data)-n)
	w.maxAbsCTS = max(w.maxAbsCTS, t-dts, dts-t)
	w.lastDTS = dts
	return nil
}

// hasPicture tells whether AppendAVCC would write anything of nalus.
func hasPicture(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case h264.NALSPS, h264.NALPPS, 9:
			continue
		}
		return true
	}
	return false
}

func (w *Writer) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	w.seq++
	off := fragmentHeaderMax
	for i, n := range w.sizes {
		w.pending[i].Data = w.data[off : off+n]
		off += n
	}
	w.buf = appendFragmentHeader(w.buf[:0], w.seq, w.base, w.pending)
	frag := w.data[fragmentHeaderMax-len(w.buf):]
	copy(frag, w.buf)
	if _, err := w.w.Write(frag); err != nil {
		return fmt.Errorf("mp4: write fragment %d: %w", w.seq, err)
	}
	w.bytes += int64(len(frag))
	w.fragments++
	w.frames += len(w.pending)
	w.end = int64(w.base)
	for _, s := range w.pending {
		w.end += int64(s.Duration)
	}
	clear(w.pending)
	w.pending, w.sizes, w.data = w.pending[:0], w.sizes[:0], w.data[:fragmentHeaderMax]
	if w.flushHook != nil {
		if err := w.flushHook(); err != nil {
			return fmt.Errorf("mp4: after fragment %d: %w", w.seq, err)
		}
	}
	return nil
}

// Close writes the pending fragment; its last sample lasts as long as the
// one before it (or 1/25 s). It does not close the io.Writer.
func (w *Writer) Close() error {
	if n := len(w.pending); n > 0 {
		d := w.lastDur
		if d == 0 {
			d = Timescale / 25
		}
		w.pending[n-1].Duration = d
		w.lastDTS += int64(d)
	}
	return w.flush()
}

// ticks converts d to Timescale units without overflowing for any PTS (a
// camera session may run for months).
func ticks(d time.Duration) int64 {
	return int64(d/time.Second)*Timescale + int64(d%time.Second)*Timescale/int64(time.Second)
}

// Frames counts the access units in written fragments.
func (w *Writer) Frames() int { return w.frames }

// Bytes counts the bytes written to the io.Writer.
func (w *Writer) Bytes() int64 { return w.bytes }

// Fragments counts the fragments written.
func (w *Writer) Fragments() int { return w.fragments }

// Duration is the media written in whole fragments (what a reader of the
// file sees now).
func (w *Writer) Duration() time.Duration { return time.Duration(w.end) * time.Second / Timescale }

// Pending counts the access units waiting for the next fragment.
func (w *Writer) Pending() int { return len(w.pending) }

// Track is the video track written.
func (w *Writer) Track() Track { return w.track }
