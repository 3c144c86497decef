package camera

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ProbeResult is what an installer wants to know about a camera before
// adding it: what it sends and how.
type ProbeResult struct {
	URL      string // redacted
	Duration time.Duration
	Tracks   []TrackReport
	// Warnings are the problems a hub would show in the camera's status,
	// such as its password taken as Basic over plain rtsp://.
	Warnings []string
}

// TrackReport measures one track over the probe.
type TrackReport struct {
	Track
	Frames    int     // access units (video) or packets (audio)
	Bytes     int64   // payload bytes
	FPS       float64 // measured from timestamps; zero with fewer than two frames
	GOP       int     // frames between the last two key frames; zero if fewer than two were seen
	KeyFrames int
	Bitrate   float64 // payload bits per second over the probe
}

// Probe opens rawURL, receives for d and reports codecs, size, frame rate,
// GOP length and bitrate. It stops early when ctx ends.
func Probe(ctx context.Context, rawURL string, d time.Duration, opts Options) (*ProbeResult, error) {
	src, err := Open(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	n := len(src.Tracks())
	type acc struct {
		frames, keys  int
		bytes         int64
		first, last   time.Duration
		lastKey, gop  int
		seenKey, seen bool
	}
	accs := make([]acc, n)
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	err = src.Run(rctx, func(f *Frame) {
		if f.Track >= n {
			return
		}
		a := &accs[f.Track]
		if !a.seen {
			a.first, a.seen = f.PTS, true
		}
		a.last = f.PTS
		a.frames++
		for _, nal := range f.NALUs {
			a.bytes += int64(len(nal))
		}
		a.bytes += int64(len(f.Payload))
		if f.Key {
			if a.seenKey {
				a.gop = a.frames - 1 - a.lastKey
			}
			a.seenKey, a.lastKey = true, a.frames-1
			a.keys++
		}
	})
	elapsed := time.Since(start)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r := &ProbeResult{URL: redactURL(rawURL), Duration: elapsed}
	if a, ok := src.(interface{ BasicInClear() bool }); ok && a.BasicInClear() {
		r.Warnings = append(r.Warnings, rtspBasicWarning)
	}
	for i, t := range src.Tracks() {
		a := accs[i]
		tr := TrackReport{Track: t, Frames: a.frames, Bytes: a.bytes, GOP: a.gop, KeyFrames: a.keys}
		if span := a.last - a.first; a.frames > 1 && span > 0 {
			tr.FPS = float64(a.frames-1) / span.Seconds()
		}
		if elapsed > 0 {
			tr.Bitrate = float64(a.bytes*8) / elapsed.Seconds()
		}
		r.Tracks = append(r.Tracks, tr)
	}
	return r, nil
}

// String formats the result for `gateway probe`.
func (r *ProbeResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%.1fs)\n", r.URL, r.Duration.Seconds())
	for _, t := range r.Tracks {
		switch t.Kind {
		case Video:
			fmt.Fprintf(&b, "  video %s %dx%d %.2f fps, GOP %d, %.0f kbit/s", t.Codec, t.Width, t.Height, t.FPS, t.GOP, t.Bitrate/1000)
		default:
			fmt.Fprintf(&b, "  audio %s %d Hz x%d, %d packets, %.0f kbit/s", t.Codec, t.ClockRate, t.Channels, t.Frames, t.Bitrate/1000)
		}
		if t.Note != "" {
			fmt.Fprintf(&b, " (%s)", t.Note)
		}
		b.WriteByte('\n')
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	return b.String()
}
