package live

import (
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/devtest"
)

// lossyProxy relays UDP between a viewer and the gateway on loopback and
// drops every nth RTP packet the gateway sends (never STUN, DTLS or RTCP),
// remembering the sequence numbers it dropped.
type lossyProxy struct {
	front, back *net.UDPConn // the viewer talks to front; back talks to the gateway
	gateway     *net.UDPAddr
	every       int

	mu      sync.Mutex
	viewer  *net.UDPAddr
	dropped []uint16
	media   int
}

func newLossyProxy(t *testing.T, gateway *net.UDPAddr, every int) *lossyProxy {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{front: front, back: back, gateway: gateway, every: every}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = front.Close()
		_ = back.Close()
		wg.Wait()
	})
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.viewer = from
			p.mu.Unlock()
			_, _ = back.WriteToUDP(buf[:n], gateway)
		}
	})
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := back.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			to := p.viewer
			drop := false
			// RTP (RFC 7983: first byte 128–191), not RTCP (types 192–223).
			if n > 12 && buf[0] >= 128 && buf[0] <= 191 && (buf[1] < 192 || buf[1] > 223) {
				p.media++
				if p.media%p.every == 0 {
					drop = true
					p.dropped = append(p.dropped, uint16(buf[2])<<8|uint16(buf[3]))
				}
			}
			p.mu.Unlock()
			if !drop && to != nil {
				_, _ = front.WriteToUDP(buf[:n], to)
			}
		}
	})
	return p
}

var candPort = regexp.MustCompile(`(?m)^a=candidate:(\S+) (\d) udp (\d+) 127\.0\.0\.1 (\d+) typ host.*$`)

// A viewer on a lossy link: the gateway's video packets are dropped now
// and then; the viewer's NACKs are answered (each dropped packet arrives
// later, with its own sequence number, from the shared payload), and the
// picture goes on.
func TestLiveNACKsAnsweredOnLossyLink(t *testing.T) {
	t.Parallel()
	hub := startHub(t, "gate", digestCamera(t))
	m := startManager(t, Options{}, hub)
	pc, offer := makeOffer(t, viewerAPI(t))
	var (
		mu   sync.Mutex
		seen = map[uint16]int{}
	)
	var video atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if tr.Kind() == webrtc.RTPCodecTypeVideo {
					onVideo(&mu, seen, p)
					video.Add(1)
				}
			}
		}()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Without the viewer's own candidates the gateway knows it only from
	// its checks through the proxy, so every packet goes that way.
	var bare []string
	for _, l := range strings.Split(offer, "\r\n") {
		if !strings.HasPrefix(l, "a=candidate:") {
			bare = append(bare, l)
		}
	}
	ans, err := m.Offer(ctx, OfferRequest{Camera: "gate", SDP: strings.Join(bare, "\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	// Send the viewer to the proxy: keep the IPv4 loopback candidate, on
	// the proxy's port.
	match := candPort.FindStringSubmatch(ans.SDP)
	if match == nil {
		t.Fatalf("no IPv4 loopback candidate in the answer:\n%s", ans.SDP)
	}
	port, _ := strconv.Atoi(match[4])
	proxy := newLossyProxy(t, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}, 25)
	var lines []string
	for _, l := range strings.Split(ans.SDP, "\r\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			if l != strings.TrimRight(match[0], "\r") {
				continue
			}
			l = strings.Replace(l, " 127.0.0.1 "+match[4]+" ", " 127.0.0.1 "+strconv.Itoa(proxy.front.LocalAddr().(*net.UDPAddr).Port)+" ", 1)
		}
		lines = append(lines, l)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: strings.Join(lines, "\r\n")}); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 30*time.Second, "dropped packets to be retransmitted", func() bool {
		proxy.mu.Lock()
		dropped := append([]uint16(nil), proxy.dropped...)
		proxy.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		recovered := 0
		for _, s := range dropped {
			if seen[s] > 0 {
				recovered++
			}
		}
		return len(dropped) >= 5 && recovered >= 5
	})
	st, err := m.Stats(ans.Session)
	if err != nil {
		t.Fatal(err)
	}
	if st.NACKs == 0 {
		t.Errorf("packets recovered but no NACK counted: %+v", st)
	}
	before := video.Load()
	devtest.WaitFor(t, 10*time.Second, "video to go on", func() bool { return video.Load() > before+100 })
}

func onVideo(mu *sync.Mutex, seen map[uint16]int, p *rtp.Packet) {
	mu.Lock()
	defer mu.Unlock()
	seen[p.SequenceNumber]++
}
