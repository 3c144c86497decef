package camera

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/rtsp"
	"github.com/pion/rtp"
)

// benchFPS and benchFrameBytes make the benchmarks' camera: 25 frames/s of
// at least 10,000 bytes, about 2 Mbit/s, a typical sub-stream for live view.
const (
	benchFPS        = 25
	benchFrameBytes = 10_000
)

// camera2M is the shipped clip, each picture padded to benchFrameBytes
// (bytes after the slice data, which nothing here decodes) and packetised
// as a camera does (FU-A at 1200 bytes): one camera-second is a run of
// packets through the real receive path.
type camera2M struct {
	packets [][]byte // one clip loop
	frames  int      // pictures in one loop
	bitrate float64  // payload bits per second at benchFPS
}

func newCamera2M(b *testing.B) *camera2M {
	c, err := loadCamera2M()
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func loadCamera2M() (*camera2M, error) {
	data, err := os.ReadFile(clipPath)
	if err != nil {
		return nil, err
	}
	aus, err := h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		return nil, err
	}
	c := &camera2M{}
	var seq uint16
	var bytes int
	for i, au := range aus {
		size := 0
		for _, n := range au.NALUs {
			size += len(n)
		}
		nalus := append([][]byte(nil), au.NALUs...)
		if pad := benchFrameBytes - size; pad > 0 {
			last := len(nalus) - 1
			nalus[last] = append(append([]byte(nil), nalus[last]...), make([]byte, pad)...)
			size += pad
		}
		bytes += size
		for j, n := range nalus {
			lastNAL := j == len(nalus)-1
			frags := fuA(n)
			for k, f := range frags {
				p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
					Timestamp: uint32(i * 90000 / benchFPS), Marker: lastNAL && k == len(frags)-1}, Payload: f}
				seq++
				buf, err := p.Marshal()
				if err != nil {
					return nil, err
				}
				c.packets = append(c.packets, buf)
			}
		}
	}
	c.frames = len(aus)
	c.bitrate = float64(bytes*8) * benchFPS / float64(len(aus))
	return c, nil
}

// receiver is one camera's receive path feeding a hub: RTP parsing, H.264
// depacketising, copying, GOP caching and fan-out.
type receiver struct {
	src  *rtspSource
	cam  *camera2M
	next int
	seq  uint16
}

func newReceiver(cam *camera2M, h *Hub) *receiver {
	s := &rtspSource{tracks: []Track{{Kind: Video, Codec: H264, ClockRate: 90000}}}
	s.st = []trackState{{codec: H264, rate: 90000, dep: h264.NewDepacketizer(nil, nil, nil)}}
	s.h = func(f *Frame) { h.onFrame(s, 1, f) }
	s.st[0].dep.Emit = func(au *h264.AccessUnit) { s.emitAU(&s.st[0], au) }
	return &receiver{src: s, cam: cam}
}

// second pushes one camera-second of packets, as fast as it can.
func (r *receiver) second() {
	for range benchFPS {
		r.frame()
	}
}

// frame pushes the packets of one picture (up to the RTP marker bit).
func (r *receiver) frame() {
	for {
		buf := r.cam.packets[r.next]
		buf[2], buf[3] = byte(r.seq>>8), byte(r.seq) // sequence continues across loops
		r.seq++
		r.src.packet(rtsp.Packet{Data: buf})
		r.next = (r.next + 1) % len(r.cam.packets)
		if buf[1]&0x80 != 0 {
			return
		}
	}
}

// cpuTime is the process's user plus system CPU time so far: the consumers'
// goroutines count, not only the benchmark's own.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGOPCache feeds GOPs of 1, 2 and 4 s of the 2 Mbit/s stream (and a
// GOP over the cap) and reports the cache's peak against the GOP's size,
// and what stays on the heap after a collection (target: ≤ 2× the GOP,
// never over the cap).
func BenchmarkGOPCache(b *testing.B) {
	for _, tc := range []struct {
		name     string
		gop, cap int // frames, bytes
	}{
		{"gop=1s", benchFPS, 0},
		{"gop=2s", 2 * benchFPS, 0},
		{"gop=4s", 4 * benchFPS, 0},
		{"gop=4s/cap=512KiB", 4 * benchFPS, 512 << 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			gopBytes := tc.gop * benchFrameBytes
			var peak, heap float64
			for range b.N {
				h := NewHub(HubOptions{Name: "bench", GOPCacheBytes: tc.cap})
				h.setTracksLocked((&synthSource{}).Tracks())
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				maxCache := 0
				for i := range 3 * tc.gop {
					feed(h, i, 1, tc.gop, benchFrameBytes, benchFrameBytes)
					maxCache = max(maxCache, h.Status().GOPBytes)
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				peak = max(peak, float64(maxCache))
				heap = max(heap, float64(after.HeapAlloc)-float64(before.HeapAlloc))
				runtime.KeepAlive(h)
			}
			b.ReportMetric(float64(gopBytes), "gop-bytes")
			b.ReportMetric(peak, "cache-peak-bytes")
			b.ReportMetric(heap/float64(gopBytes), "heap/gop")
		})
	}
}

// BenchmarkHubMemory reports what one camera (its receive path and its hub,
// with a 1 s GOP of the 2 Mbit/s stream cached) keeps on the heap, and the
// process's RSS growth, per camera over 8 cameras.
func BenchmarkHubMemory(b *testing.B) {
	const cameras = 8
	cam := newCamera2M(b)
	var heap, rss float64
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rss0 := rssBytes(b)
		hubs := make([]*Hub, cameras)
		for i := range hubs {
			hubs[i] = NewHub(HubOptions{Name: "bench"})
			r := newReceiver(cam, hubs[i])
			for range 3 {
				r.second()
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap = max(heap, (float64(after.HeapAlloc)-float64(before.HeapAlloc))/cameras)
		rss = max(rss, float64(rssBytes(b)-rss0)/cameras)
		runtime.KeepAlive(hubs)
	}
	b.ReportMetric(heap, "heap-B/camera")
	b.ReportMetric(rss, "rss-B/camera")
}

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatalf("read RSS: %v", err)
	}
	var size, res int64
	if _, err := fmt.Sscan(string(data), &size, &res); err != nil {
		b.Fatal(err)
	}
	return res * int64(os.Getpagesize())
}
