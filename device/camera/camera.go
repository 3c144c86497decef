// Package camera pulls video and audio from IP cameras (RTSP) and from
// Annex-B H.264 files (file://, for the demo and tests) and hands them out as
// frames: whole H.264 access units, H.265 payloads passed through, and
// G.711 audio packets with their timing.
//
// A Source is one connection to one camera. It is the layer a per-camera hub
// sits on: the hub owns the Source, calls Run in one goroutine, copies what
// it keeps from each Frame, and reconnects by opening a new Source.
//
// What a Source promises:
//   - Video starts on a key frame, and every key frame carries its SPS and
//     PPS in front, so any consumer can start decoding at any key frame.
//   - An H.264 frame is a whole picture (all its slices), never one NAL unit.
//   - After a packet loss, video resumes at the next key frame; what was
//     dropped is counted in Stats, never delivered damaged.
//   - Frames of one track come in decoding order (PTS is the presentation
//     time, so a camera using B-frames makes it go back now and then); the
//     handler is never called concurrently.
//   - A camera's bad answers or packets end in an error naming the step, or
//     are counted and skipped; they never panic. Credentials never appear in
//     errors or logs.
//   - The receive path allocates nothing per packet once warmed up (see the
//     benchmarks), so a camera costs the same after a week as after a minute.
package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp"
)

// Codec names a media encoding as it appears in SDP rtpmap lines.
type Codec string

// Codecs a Source delivers.
const (
	H264 Codec = "H264"
	H265 Codec = "H265"
	PCMA Codec = "PCMA"
	PCMU Codec = "PCMU"
)

// Kind tells video from audio.
type Kind string

// Track kinds.
const (
	Video Kind = "video"
	Audio Kind = "audio"
)

// Track describes one stream of a Source.
type Track struct {
	Kind      Kind
	Codec     Codec
	ClockRate int // RTP clock rate (90000 for video, 8000 for G.711)
	Channels  int
	// Width and Height come from the SPS (cropping applied); zero until an
	// SPS has been seen (from the SDP or in-band).
	Width, Height int
	// FrameRate is the SPS VUI rate, or the file source's rate; zero when unknown.
	FrameRate float64
	// SPS and PPS are the current H.264 parameter sets (nil when unknown).
	SPS, PPS []byte
	// BrowserPlayable is false for codecs browsers may not decode (H.265).
	BrowserPlayable bool
	// Note explains a limitation in words for the status page.
	Note string
}

// Frame is one unit of media. It is only valid during the handler call;
// its memory is reused for the next frame, so keep a copy if needed.
type Frame struct {
	Track int // index into Source.Tracks()
	Codec Codec
	// PTS is the presentation time since the track's first frame, from the
	// RTP timestamps (unwrapped), or the file's frame clock.
	PTS     time.Duration
	RTPTime uint32
	// Key is true for an H.264 access unit holding an IDR (its SPS and PPS
	// always precede it) and for an H.265 packet that starts an IRAP picture.
	Key bool
	// NALUs holds an H.264 access unit: every NAL unit of one picture,
	// without start codes.
	NALUs [][]byte
	// Payload holds an audio packet, or an H.265 RTP payload as received.
	Payload []byte
	// Marker is the RTP marker bit (H.265: last packet of a picture).
	Marker bool
}

// Handler receives frames; it must not block for long, since it runs on
// the Source's receive path.
type Handler func(*Frame)

// Source is one open connection to a camera or a file.
type Source interface {
	// Tracks describes the streams; video tracks learn their size once an
	// SPS is seen, so call it again after the first key frame.
	Tracks() []Track
	// Run delivers frames until ctx ends (returning ctx's error) or the
	// source fails. It is called at most once.
	Run(ctx context.Context, h Handler) error
	// Stats returns counters so far; safe to call concurrently with Run.
	Stats() Stats
	// Close releases the connection. Safe to call more than once and
	// concurrently with Run (Run then returns an error).
	Close() error
}

// Stats counts what a Source received and threw away, for health reports.
type Stats struct {
	Packets       uint64 // RTP packets received (all tracks)
	Lost          uint64 // video RTP packets never received (sequence gaps)
	Malformed     uint64 // packets that could not be parsed or depacketised
	Frames        uint64 // frames delivered (access units and audio packets)
	DroppedFrames uint64 // video pictures discarded: damaged, or waiting for an IDR (at start, after a loss)
}

// counters are a Source's Stats, updated on the receive path and read from anywhere.
type counters struct {
	packets, lost, frames, dropped atomic.Uint64
	badRTP, badH264                atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{Packets: c.packets.Load(), Lost: c.lost.Load(), Malformed: c.badRTP.Load() + c.badH264.Load(),
		Frames: c.frames.Load(), DroppedFrames: c.dropped.Load()}
}

// Options tunes Open. The zero value is usable.
type Options struct {
	// Transport is rtsp.TCP (default) or rtsp.UDP (refused for rtsps://).
	Transport rtsp.Transport
	// Timeout bounds each connection step; StallTimeout ends Run when no
	// media arrives for that long. Zero uses the rtsp package defaults.
	Timeout, StallTimeout time.Duration
	// FrameRate is the file source's rate; zero means the SPS VUI rate,
	// else 25.
	FrameRate float64
	// NoAudio skips audio tracks.
	NoAudio bool
	Logger  *slog.Logger
	// TLSFingerprint pins an rtsps:// camera's certificate by its SHA-256
	// (rtsp.Config.TLSFingerprint); empty verifies it against the system's
	// roots and the host name.
	TLSFingerprint string
}

// ErrNoMedia reports a camera offering no stream this package can use.
var ErrNoMedia = errors.New("camera: no supported media")

// Open connects to rawURL: rtsp://[user:pass@]host[:port]/path, rtsps://
// (RTSP over TLS, media inside it) or file:///path/to/clip.h264. For RTSP it performs OPTIONS, DESCRIBE, SETUP
// and PLAY, so authentication and codec errors surface here.
func Open(ctx context.Context, rawURL string, opts Options) (Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("camera: parse url %s: %w", rtsp.Redact(rawURL), errors.Unwrap(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "rtsp", "rtsps":
		return openRTSP(ctx, rawURL, opts)
	case "file":
		p := u.Path
		if u.Opaque != "" {
			p = u.Opaque
		}
		return OpenFile(p, opts)
	default:
		return nil, fmt.Errorf("camera: url %s: scheme %q not supported (rtsp, rtsps or file)", rtsp.Redact(rawURL), u.Scheme)
	}
}

func redactURL(raw string) string { return rtsp.Redact(raw) }
