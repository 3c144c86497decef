package camera

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
)

// startCamera runs the GStreamer test camera and returns its URL.
func startCamera(t testing.TB, args ...string) string {
	t.Helper()
	return rtsptest.StartCamera(t, args...).URL
}

func withUser(u, user, pass string) string {
	return strings.Replace(u, "rtsp://", "rtsp://"+user+":"+pass+"@", 1)
}

// measurement is what a real-camera session showed.
type measurement struct {
	tracks     []Track
	frames     int // video access units after the first key frame
	keyGaps    []int
	audio      int
	wall       time.Duration
	slicesMax  int
	keyHasSPS  bool
	firstIsKey bool
}

func measure(t *testing.T, rawURL string, opts Options, frames int) measurement {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	src, err := Open(ctx, rawURL, opts)
	if err != nil {
		t.Fatalf("open %s: %v", rtsp.Redact(rawURL), err)
	}
	defer src.Close()
	var m measurement
	var start time.Time
	lastKey := -1
	rctx, stop := context.WithCancel(ctx)
	err = src.Run(rctx, func(f *Frame) {
		tr := src.Tracks()[f.Track]
		if tr.Kind == Audio {
			if len(f.Payload) == 0 {
				t.Error("empty audio payload")
			}
			m.audio++
			return
		}
		if m.frames == 0 {
			start = time.Now()
			m.firstIsKey = f.Key
		}
		if f.Key {
			if lastKey >= 0 {
				m.keyGaps = append(m.keyGaps, m.frames-lastKey)
			}
			lastKey = m.frames
			m.keyHasSPS = paramsBeforeSlices(f.NALUs)
			if !m.keyHasSPS {
				t.Logf("key frame NAL types: %v", nalTypes(f.NALUs))
			}
		}
		slices := 0
		for _, n := range f.NALUs {
			if t := n[0] & 0x1f; t == 1 || t == 5 {
				slices++
			}
		}
		m.slicesMax = max(m.slicesMax, slices)
		m.frames++
		if m.frames == frames+1 {
			m.wall = time.Since(start)
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v (after %d frames)", err, m.frames)
	}
	m.tracks = src.Tracks()
	m.frames--
	st := src.Stats()
	if st.Frames == 0 || st.Packets < st.Frames || st.Malformed != 0 || (opts.Transport == rtsp.TCP && st.Lost != 0) {
		t.Errorf("stats %+v", st)
	}
	return m
}

func checkCamera(t *testing.T, m measurement, w, h, fps, gop int) {
	t.Helper()
	if len(m.tracks) != 2 || m.tracks[0].Codec != H264 || m.tracks[1].Codec != PCMA {
		t.Fatalf("tracks = %+v, want H264 and PCMA", m.tracks)
	}
	v := m.tracks[0]
	if v.Width != w || v.Height != h {
		t.Errorf("resolution from SPS = %dx%d, want %dx%d", v.Width, v.Height, w, h)
	}
	if !m.firstIsKey {
		t.Error("first frame delivered is not a key frame")
	}
	if !m.keyHasSPS {
		t.Error("key frame not preceded by SPS and PPS")
	}
	got := float64(m.frames) / m.wall.Seconds()
	if got < 0.9*float64(fps) || got > 1.1*float64(fps) {
		t.Errorf("frame rate = %.2f/s over %v, want %d ±10%%", got, m.wall, fps)
	}
	if len(m.keyGaps) == 0 {
		t.Fatal("fewer than two key frames")
	}
	for _, g := range m.keyGaps {
		if g != gop {
			t.Errorf("key frame intervals = %v, want all %d", m.keyGaps, gop)
			break
		}
	}
	if m.slicesMax < 2 {
		t.Errorf("at most %d slice per frame; the camera sends several, so slices were split into frames", m.slicesMax)
	}
	if m.audio < 10 {
		t.Errorf("%d audio packets, want a steady stream", m.audio)
	}
}

func TestRealCamera(t *testing.T) {
	const w, h, fps, gop = 320, 180, 25, 10
	base := []string{"--width", "320", "--height", "180", "--fps", "25", "--key-int-max", "10", "--slices", "4"}
	for _, auth := range []string{"none", "basic", "digest"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--auth", auth}, base...)
			if auth == "digest" {
				args = append(args, "--config-interval", "-1") // in-band SPS/PPS too
			}
			u := startCamera(t, args...)
			good := u
			if auth != "none" {
				good = withUser(u, "viewer", "secret")
			}
			for _, tr := range []rtsp.Transport{rtsp.TCP, rtsp.UDP} {
				t.Run(tr.String(), func(t *testing.T) {
					m := measure(t, good, Options{Transport: tr, Timeout: 5 * time.Second}, 2*fps)
					checkCamera(t, m, w, h, fps, gop)
				})
			}
			if auth == "none" {
				return
			}
			t.Run("wrong-password", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := Open(ctx, withUser(u, "viewer", "wrong"), Options{Timeout: 5 * time.Second})
				if !errors.Is(err, rtsp.ErrUnauthorized) {
					t.Fatalf("err = %v, want ErrUnauthorized", err)
				}
				msg := err.Error()
				if !strings.Contains(msg, "401") || !strings.Contains(msg, "wrong user name or password") {
					t.Errorf("error %q should name the 401 and the bad credentials", msg)
				}
				if strings.Contains(msg, ":wrong@") || strings.Contains(msg, "viewer:") {
					t.Errorf("error %q leaks the credentials", msg)
				}
			})
			t.Run("no-credentials", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := Open(ctx, u, Options{Timeout: 5 * time.Second})
				if !errors.Is(err, rtsp.ErrUnauthorized) {
					t.Fatalf("err = %v, want ErrUnauthorized", err)
				}
			})
		})
	}
}

// paramsBeforeSlices reports whether an SPS and a PPS come before the first slice.
func paramsBeforeSlices(nalus [][]byte) bool {
	sps, pps := false, false
	for _, n := range nalus {
		switch n[0] & 0x1f {
		case 7:
			sps = true
		case 8:
			pps = true
		case 1, 5:
			return sps && pps
		}
	}
	return false
}

func nalTypes(nalus [][]byte) []int {
	var out []int
	for _, n := range nalus {
		out = append(out, int(n[0]&0x1f))
	}
	return out
}
