package live

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/reexec"
	"github.com/antt-gateway/antt/uplink/live/livetest"
)

// envViewers makes the test binary a viewer process: that many pion
// viewers, offers out on stdout, answers in on stdin (one JSON line each),
// "receiving" once all of them get media; it ends when stdin closes. The
// viewers' own CPU is thus not the gateway's.
const envViewers = "ANTT_LIVE_VIEWERS"

// runViewerProcess is the viewer process's main.
func runViewerProcess(n int) int {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(h264Codec(102, "42e01f"), webrtc.RTPCodecTypeVideo); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	se := livetest.Loopback()
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	var pcs []*webrtc.PeerConnection
	counts := make([]atomic.Int64, n)
	out := json.NewEncoder(os.Stdout)
	for i := range n {
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_, _ = pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			go func() {
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
					counts[i].Add(1)
				}
			}()
		})
		offer, _ := pc.CreateOffer(nil)
		gathered := webrtc.GatheringCompletePromise(pc)
		_ = pc.SetLocalDescription(offer)
		<-gathered
		_ = out.Encode(map[string]string{"sdp": pc.LocalDescription().SDP})
		pcs = append(pcs, pc)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for _, pc := range pcs {
		if !in.Scan() {
			return 1
		}
		var a map[string]string
		_ = json.Unmarshal(in.Bytes(), &a)
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a["sdp"]}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	go func() {
		for {
			all := true
			for i := range counts {
				all = all && counts[i].Load() >= 50
			}
			if all {
				fmt.Println("receiving")
				return
			}
			time.Sleep(20 * time.Millisecond) // polling the counters, not synchronisation
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, pc := range pcs {
		_ = pc.Close()
	}
	return 0
}

// synthSource is a 2 Mbit/s H.264 camera in process, 25 frames/s with a
// key frame every 2 s, so the gateway's measured CPU is the live path's
// and not an RTSP client's. Its NAL units are filler; viewers count
// packets, they do not decode.
type synthSource struct {
	frames atomic.Uint64
}

var synthSPS = []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x40, 0x16, 0xe8, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc5, 0x8b, 0x92}

func (s *synthSource) Tracks() []camera.Track {
	return []camera.Track{{Kind: camera.Video, Codec: camera.H264, ClockRate: 90000, Width: 320, Height: 180, SPS: synthSPS, PPS: []byte{0x68, 0xce, 0x3c, 0x80}, BrowserPlayable: true}}
}

func (s *synthSource) Run(ctx context.Context, h camera.Handler) error {
	const fps, gop, rate = 25, 50, 2_000_000 / 8
	key := make([]byte, rate*2/10) // a key frame is a fifth of a GOP's bytes
	p := make([]byte, (rate*2-len(key))/(gop-1))
	key[0], p[0] = 0x65, 0x41
	tick := time.NewTicker(time.Second / fps)
	defer tick.Stop()
	f := &camera.Frame{Codec: camera.H264, Marker: true}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		f.Key = i%gop == 0
		if f.Key {
			f.NALUs = [][]byte{synthSPS, {0x68, 0xce, 0x3c, 0x80}, key}
		} else {
			f.NALUs = [][]byte{p}
		}
		f.RTPTime = uint32(i * 90000 / fps)
		f.PTS = time.Duration(i) * time.Second / fps
		h(f)
		s.frames.Add(1)
	}
}

func (s *synthSource) Stats() camera.Stats { return camera.Stats{Frames: s.frames.Load()} }
func (s *synthSource) Close() error        { return nil }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssBytes() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// heapBytes is the live heap after a collection.
func heapBytes() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// viewerProcess starts n viewers in a child process and connects them.
func viewerProcess(b *testing.B, m *Manager, n int) (stop func()) {
	cmd := reexec.Command("-test.run=^$")
	cmd.Env = append(os.Environ(), envViewers+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr devtest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	var answers []string
	for range n {
		if !lines.Scan() {
			b.Fatalf("viewer process: %s", stderr.String())
		}
		var o map[string]string
		_ = json.Unmarshal(lines.Bytes(), &o)
		ans, err := m.Offer(context.Background(), OfferRequest{Camera: "synth", SDP: o["sdp"]})
		if err != nil {
			b.Fatal(err)
		}
		a, _ := json.Marshal(map[string]string{"sdp": ans.SDP})
		answers = append(answers, string(a))
	}
	for _, a := range answers {
		fmt.Fprintln(stdin, a)
	}
	ready := make(chan bool, 1)
	go func() { ready <- lines.Scan() && lines.Text() == "receiving" }()
	select {
	case ok := <-ready:
		if !ok {
			b.Fatalf("viewer process: %s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		b.Fatalf("viewers not receiving after 30 s: %s", stderr.String())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = stdin.Close()
			_ = cmd.Wait()
		})
	}
}

// startSynthHub runs a preloaded hub of a synthSource (no camera process
// to share the CPU with) until the benchmark ends, and returns it online.
func startSynthHub(b *testing.B) *camera.Hub {
	b.Helper()
	src := &synthSource{}
	hub := camera.NewHub(camera.HubOptions{Name: "synth", Preload: true, CheckEvery: -1, Logger: testLogger(b),
		Open: func(context.Context) (camera.Source, error) { return src, nil }})
	hctx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() { defer close(hubDone); _ = hub.Run(hctx) }()
	b.Cleanup(func() { stopHub(); <-hubDone })
	devtest.WaitFor(b, 10*time.Second, "the camera", func() bool { return hub.State() == camera.StateOnline })
	return hub
}

// cpuMeter returns a func that measures this process's CPU, in ms per
// second, over a window of 3 s (1 s with -short).
func cpuMeter(b *testing.B) func() float64 {
	window := 3 * time.Second
	if testing.Short() {
		window = time.Second
	}
	return func() float64 {
		c0, t0 := cpuNow(), time.Now()
		deadline := t0.Add(window)
		devtest.WaitFor(b, 2*window, "the measuring window", func() bool { return time.Now().After(deadline) })
		return float64(cpuNow()-c0) / float64(time.Since(t0)) * 1000
	}
}

// BenchmarkViewerCPU measures the gateway's CPU and RSS for live viewers
// of one 2 Mbit/s camera (viewers in another process), with 0, 1 and 8
// viewers, in rounds; it reports the median of per-round figures: the
// first viewer's cost, each further viewer's (from 1 to 8), as % of one
// core, and the heap per viewer; RSS per viewer from the first round.
// -benchtime sets the rounds (3x).
func BenchmarkViewerCPU(b *testing.B) {
	m := startManager(b, Options{MaxViewers: 16, MaxViewersPerCamera: 16}, startSynthHub(b))
	measure := cpuMeter(b) // CPU ms per second of streaming
	var first, each, heap []float64
	var rss0 int64
	for range b.N {
		c0 := measure()
		h0 := heapBytes()
		if rss0 == 0 {
			rss0 = rssBytes()
		}
		stop := viewerProcess(b, m, 1)
		c1 := measure()
		stop()
		devtest.WaitFor(b, 20*time.Second, "the viewer to leave", func() bool { return m.Viewers() == 0 })
		stop = viewerProcess(b, m, 8)
		c8 := measure()
		h8 := heapBytes()
		if len(heap) == 0 {
			// RSS grows once and Go keeps it, so the first round's growth is
			// the figure: later rounds reuse the same pages.
			b.ReportMetric(float64(rssBytes()-rss0)/8/(1<<20), "MiB-rss-per-viewer")
		}
		stop()
		devtest.WaitFor(b, 20*time.Second, "the viewers to leave", func() bool { return m.Viewers() == 0 })
		first = append(first, (c1-c0)/10) // ms per s → % of a core
		each = append(each, (c8-c1)/7/10)
		heap = append(heap, float64(h8-h0)/8/(1<<20))
		b.Logf("round: %.2f / %.2f / %.2f ms CPU per s with 0/1/8 viewers, heap +%.2f MiB with 8", c0, c1, c8, float64(h8-h0)/(1<<20))
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(first), "%core-first-viewer")
	b.ReportMetric(med(each), "%core-per-viewer")
	b.ReportMetric(med(heap), "MiB-heap-per-viewer")
}

// BenchmarkFeedHandOff weighs the hub's hand-off to its first consumer
// (a goroutine woken per picture: +10–19 % of the camera's lean receive
// path with a trivial consumer, docs/performance.md "Cameras") against the
// real live consumer. Each round measures the gateway's CPU with nothing
// reading the camera, with one trivial hub consumer (receive and drop:
// the hand-off alone), and with one live viewer (the feed, its session
// and pion, viewer in another process). It reports both as % of a core
// and the hand-off's share of the first viewer's cost (medians of
// rounds; -benchtime 5x).
func BenchmarkFeedHandOff(b *testing.B) {
	hub := startSynthHub(b)
	m := startManager(b, Options{}, hub)
	measure := cpuMeter(b) // CPU ms per second
	var trivial, viewer, share []float64
	for range b.N {
		c0 := measure()
		c, err := hub.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for f := range c.Frames() {
				_ = f.Size
			}
		}()
		devtest.WaitFor(b, 5*time.Second, "the trivial consumer's first picture", func() bool { return c.Delivered() > 0 })
		ct := measure()
		c.Close()
		<-done
		stop := viewerProcess(b, m, 1)
		cv := measure()
		stop()
		devtest.WaitFor(b, 20*time.Second, "the viewer to leave", func() bool { return m.Viewers() == 0 })
		trivial, viewer = append(trivial, (ct-c0)/10), append(viewer, (cv-c0)/10)
		share = append(share, 100*(ct-c0)/(cv-c0))
		b.Logf("round: %.3f / %.3f / %.3f ms CPU per s with nothing / a trivial consumer / one viewer", c0, ct, cv)
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(trivial), "%core-trivial-consumer")
	b.ReportMetric(med(viewer), "%core-first-viewer")
	b.ReportMetric(med(share), "%handoff-of-viewer")
}
