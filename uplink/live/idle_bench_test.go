package live

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
)

// countingProxy forwards TCP connections to target and counts the bytes
// each way: what the board's 4G modem would carry.
type countingProxy struct {
	ln       net.Listener
	target   string
	up, down atomic.Int64 // gateway → broker, broker → gateway
	conns    atomic.Int64
	wg       sync.WaitGroup
}

func newCountingProxy(tb testing.TB, target string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &countingProxy{ln: ln, target: target}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Go(func() { p.pipe(s, c, &p.up) })
			p.wg.Go(func() { p.pipe(c, s, &p.down) })
		}
	})
	tb.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *countingProxy) pipe(dst, src net.Conn, n *atomic.Int64) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

// BenchmarkIdleUplink4G runs the real gateway binary against Mosquitto
// over TLS (mqtts, password, the default keepalive 30 s and telemetry
// 60 s) through a counting TCP proxy, with nobody watching, and reports
// its data per day: the bytes of a steady window (after the connection
// and its first telemetry) times 86,400 s over the window.
// ANTT_IDLE_WINDOW sets the window (default 60s; 10m for the issue's
// figure).
func BenchmarkIdleUplink4G(b *testing.B) {
	window := 60 * time.Second
	if v := os.Getenv("ANTT_IDLE_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gateway")
	build.Dir = moduleFile(b, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build gateway: %v\n%s", err, out)
	}
	pki := mqtttest.NewPKI(b)
	broker := mqtttest.Start(b, mqtttest.Options{Users: map[string]string{"cong-khu-3": "gw-pw"}, TLS: pki.ServerTLS(false)})
	proxy := newCountingProxy(b, broker.Addr())
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("gw-pw\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(proxy.ln.Addr().String())
	api := devtest.FreeAddr(b)
	cfg := filepath.Join(dir, "gateway.yaml")
	y := fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink:
  broker: mqtts://127.0.0.1:%s
  username: cong-khu-3
  password_file: %s
  tls: {ca: %s}
api: {listen: "%s"}
live: {udp_port: 0}
`, filepath.Join(dir, "data"), port, pw, pki.CA, api)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	// Connected, birth and first telemetry sent: then the steady state.
	devtest.WaitFor(b, 30*time.Second, "the gateway's TLS session", func() bool { return proxy.down.Load() > 0 })
	time.Sleep(2 * time.Second) // let the connect burst (CONNECT, birth, SUBSCRIBE, first telemetry) pass: not measured
	b.ResetTimer()
	up0, down0 := proxy.up.Load(), proxy.down.Load()
	start := time.Now()
	time.Sleep(window)
	el := time.Since(start)
	up, down := proxy.up.Load()-up0, proxy.down.Load()-down0
	b.StopTimer()
	perDay := float64(up+down) * (24 * time.Hour).Seconds() / el.Seconds()
	b.ReportMetric(perDay/(1<<20), "MiB/day")
	b.ReportMetric(float64(up), "up-B")
	b.ReportMetric(float64(down), "down-B")
	b.ReportMetric(el.Seconds(), "window-s")
	b.ReportMetric(float64(proxy.conns.Load()), "connections")
	b.Logf("idle over %s: %d bytes up, %d down (%s connections) → %.3f MiB/day", el.Round(time.Second), up, down, strconv.FormatInt(proxy.conns.Load(), 10), perDay/(1<<20))
}

// BenchmarkLiveMinute reports what one minute of live view costs at each
// quality: the GStreamer camera (x264, 640×360 main stream, 320×180
// substream, 25 fps, GOP 1 s; x264 at 2,000 and 300 kbit/s) watched by a pion viewer for a 20 s window,
// the session's RTP bytes (headers included; SRTP adds 10 bytes a
// packet, reported beside) scaled to 60 s.
func BenchmarkLiveMinute(b *testing.B) {
	const window = 20 * time.Second
	cam := func(args ...string) string {
		c := rtsptest.StartCamera(b, append([]string{"--fps", "25", "--key-int-max", "25"}, args...)...)
		return c.URL
	}
	main := startHub(b, "gate", cam("--width", "640", "--height", "360", "--bitrate", "2000", "--pattern", "snow"))
	sub := camera.NewHub(camera.HubOptions{Name: "gate", URL: cam("--width", "320", "--height", "180", "--bitrate", "300", "--pattern", "snow"), Linger: 300 * time.Millisecond,
		CheckEvery: -1, Source: camera.Options{Timeout: 5 * time.Second}, Logger: testLogger(b)})
	m := startManager(b, Options{Substreams: []*camera.Hub{sub}}, main)
	b.ResetTimer()
	for _, q := range []string{"low", "high"} {
		v, offer := newPionViewer(b)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: offer, Quality: q, Explicit: true})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
			b.Fatal(err)
		}
		waitFrames(b, v, 25) // past the start burst: the live rate is measured
		st0, _ := m.Stats(ans.Session)
		t0 := time.Now()
		time.Sleep(window) // the measuring window
		st1, _ := m.Stats(ans.Session)
		el := time.Since(t0).Seconds()
		bytes := float64(st1.Bytes-st0.Bytes) * 60 / el
		pkts := float64(st1.Packets-st0.Packets) * 60 / el
		b.ReportMetric(bytes/(1<<20), "MiB/min-"+q)
		b.ReportMetric((bytes+10*pkts)/(1<<20), "MiB/min-srtp-"+q)
		_ = m.Close(ans.Session)
	}
}
