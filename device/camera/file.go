package camera

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
)

// MaxFileBytes bounds a file source: it is read into memory whole.
const MaxFileBytes = 64 << 20

// fileSource loops an Annex-B H.264 file at its frame rate, giving the demo
// and tests a camera without a network.
type fileSource struct {
	path   string
	track  Track
	aus    []h264.AccessUnit
	period time.Duration
	nalus  [][]byte
	frame  Frame
	closed chan struct{}
	once   sync.Once
	cnt    counters
}

// OpenFile opens an Annex-B H.264 file as a Source that plays it in a loop,
// forever, at opts.FrameRate (else the SPS VUI rate, else 25 frames/s). The
// first access unit played is the first IDR of the file.
func OpenFile(path string, opts Options) (Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("camera: open file source: %w", err)
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("camera: file source %s: %d bytes exceeds %d", path, fi.Size(), MaxFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("camera: open file source: %w", err)
	}
	aus, err := h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		return nil, fmt.Errorf("camera: file source %s: %w", path, err)
	}
	first := -1
	var sps, pps []byte
	for i, au := range aus {
		for _, n := range au.NALUs {
			switch n[0] & 0x1f {
			case h264.NALSPS:
				if sps == nil {
					sps = n
				}
			case h264.NALPPS:
				if pps == nil {
					pps = n
				}
			}
		}
		if au.Key && first < 0 {
			first = i
		}
	}
	if first < 0 || sps == nil || pps == nil {
		return nil, fmt.Errorf("camera: file source %s: needs an IDR picture, an SPS and a PPS", path)
	}
	info, err := h264.ParseSPS(sps)
	if err != nil {
		return nil, fmt.Errorf("camera: file source %s: %w", path, err)
	}
	fps := opts.FrameRate
	if fps <= 0 {
		fps = info.FrameRate
	}
	if fps <= 0 || fps > 240 {
		fps = 25
	}
	return &fileSource{
		path: path,
		track: Track{Kind: Video, Codec: H264, ClockRate: 90000, Width: info.Width, Height: info.Height,
			FrameRate: fps, SPS: sps, PPS: pps, BrowserPlayable: true},
		aus:    aus[first:],
		period: time.Duration(float64(time.Second) / fps),
		closed: make(chan struct{}),
	}, nil
}

func (f *fileSource) Tracks() []Track { return []Track{f.track} }

// Run paces frames by a deadline per frame rather than a ticker, so a slow
// handler delays the clip without making it drift.
func (f *fileSource) Run(ctx context.Context, h Handler) error {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		pts := time.Duration(i) * f.period
		if wait := time.Until(start.Add(pts)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-f.closed:
				return fmt.Errorf("camera: file source %s closed", f.path)
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		au := &f.aus[i%int64(len(f.aus))]
		f.nalus = f.nalus[:0]
		if au.Key {
			has := [2]bool{}
			for _, n := range au.NALUs {
				switch n[0] & 0x1f {
				case h264.NALSPS:
					has[0] = true
				case h264.NALPPS:
					has[1] = true
				}
			}
			if !has[0] {
				f.nalus = append(f.nalus, f.track.SPS)
			}
			if !has[1] {
				f.nalus = append(f.nalus, f.track.PPS)
			}
		}
		f.nalus = append(f.nalus, au.NALUs...)
		f.frame = Frame{Codec: H264, PTS: pts, RTPTime: uint32(pts * 90000 / time.Second), Key: au.Key, NALUs: f.nalus, Marker: true}
		f.cnt.frames.Add(1)
		h(&f.frame)
	}
}

func (f *fileSource) Stats() Stats { return f.cnt.snapshot() }

func (f *fileSource) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}
