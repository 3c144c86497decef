package live

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/reexec"
	"github.com/antt-gateway/antt/uplink/live/livetest"
)

// envNetns marks the test process that runs inside its own network
// namespace.
const envNetns = "ANTT_LIVE_NETNS"

// noNetns says why the tests could not get a network namespace of their
// own ("" when they have one, or when they are its re-executed child).
var noNetns string

// TestMain runs the package's tests in a network namespace of their own
// holding only a loopback interface, so that no ICE candidate, STUN check
// or media packet of pion, Chromium or the camera can reach a LAN or the
// internet. As root (CI) it re-executes itself under `unshare --net`;
// where that is not possible the tests still offer loopback candidates
// only (Options Interfaces and LoopbackCandidates) and say why.
func TestMain(m *testing.M) {
	if n, err := strconv.Atoi(os.Getenv(envViewers)); err == nil && n > 0 {
		os.Exit(runViewerProcess(n))
	}
	if os.Getenv(envNetns) == "" {
		unshare, err := exec.LookPath("unshare")
		switch {
		case os.Geteuid() != 0:
			noNetns = "not root"
		case err != nil:
			noNetns = "no unshare command (util-linux)"
		default:
			if out, err := exec.Command(unshare, "--net", "true").CombinedOutput(); err != nil {
				noNetns = fmt.Sprintf("unshare --net refused: %v %s", err, strings.TrimSpace(string(out)))
			}
		}
		if noNetns == "" {
			self := reexec.Command(os.Args[1:]...)
			args := append([]string{"--net", "--", "/bin/sh", "-c", `ip link set lo up && exec "$@"`, "sh"}, self.Args...)
			args[len(args)-len(self.Args)] = self.Path
			cmd := exec.Command(unshare, args...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			cmd.Env = append(os.Environ(), envNetns+"=1")
			err := cmd.Run()
			var ee *exec.ExitError
			switch {
			case err == nil:
				os.Exit(0)
			case errors.As(err, &ee) && ee.ExitCode() > 0:
				os.Exit(ee.ExitCode())
			default:
				fmt.Fprintf(os.Stderr, "live tests: run in a network namespace: %v\n", err)
				os.Exit(2)
			}
		}
		fmt.Fprintf(os.Stderr, "live tests: %s: running in the machine's network namespace with loopback candidates only\n", noNetns)
	}
	caFile, err := trustTestCA()
	if err != nil {
		fmt.Fprintf(os.Stderr, "live tests: %v\n", err)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.Remove(caFile)
	os.Exit(code)
}

// testCA is a certificate authority this test process trusts as if it
// were in the system's store (SSL_CERT_FILE, read by crypto/x509 at its
// first use): pion dials a TURN server over TLS with the system's roots
// only, as it does in the field.
var testCA tls.Certificate

func trustTestCA() (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "antt live tests CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", fmt.Errorf("test CA: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return "", fmt.Errorf("test CA: %w", err)
	}
	testCA = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	f, err := os.CreateTemp("", "antt-live-ca-*.pem")
	if err != nil {
		return "", fmt.Errorf("test CA: %w", err)
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		return "", fmt.Errorf("test CA: %w", err)
	}
	return f.Name(), os.Setenv("SSL_CERT_FILE", f.Name())
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// moduleFile is a path from the module root.
func moduleFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "..", "..", rel)
}

// startHub runs a hub for url until the test ends.
func startHub(t testing.TB, name, url string) *camera.Hub {
	t.Helper()
	h := camera.NewHub(camera.HubOptions{Name: name, URL: url, Linger: 300 * time.Millisecond, CheckEvery: -1,
		Source: camera.Options{Timeout: 5 * time.Second}, Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return h
}

// fileHub is the demo's file camera: H.264 320x180 at 25 fps, no audio.
func fileHub(t testing.TB, name string) *camera.Hub {
	return startHub(t, name, "file://"+moduleFile(t, "testdata/camera/clip-320x180-25fps.h264"))
}

// startManager runs a Manager over hubs (by name) on loopback until the
// test ends.
func startManager(t testing.TB, opts Options, hubs ...*camera.Hub) *Manager {
	t.Helper()
	byName := map[string]*camera.Hub{}
	for _, h := range hubs {
		byName[h.Name()] = h
	}
	opts.Cameras = func(n string) (*camera.Hub, bool) { h, ok := byName[n]; return h, ok }
	opts.LoopbackCandidates = true
	opts.Interfaces = []string{"lo"}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

// pionViewer is a viewer written with pion, as a station-side tool would
// be: it offers to receive H.264 and PCMA and checks what arrives.
type pionViewer struct {
	pc      *webrtc.PeerConnection
	session string

	mu         sync.Mutex
	depack     *h264.Depacketizer
	firstKey   bool // the first access unit was an IDR
	aus        int
	firstVideo []byte // payload of the first video packet
	videoSSRC  uint32
	firstSeq   uint16
	lastAU     time.Time

	videoPkts, audioPkts atomic.Int64
	done                 sync.WaitGroup
}

// viewerAPI is the pion API of a test viewer: loopback only, mDNS off,
// the default interceptors (NACK generator, receiver reports).
func viewerAPI(t testing.TB, codecs ...webrtc.RTPCodecParameters) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if len(codecs) == 0 {
		codecs = []webrtc.RTPCodecParameters{h264Codec(102, "42e01f"), pcmaCodec()}
	}
	for _, c := range codecs {
		kind := webrtc.RTPCodecTypeVideo
		if c.MimeType == webrtc.MimeTypePCMA || c.MimeType == webrtc.MimeTypePCMU {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := me.RegisterCodec(c, kind); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := livetest.Loopback()
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

func h264Codec(pt uint8, profile string) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(pt), RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}}
}

func pcmaCodec() webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}}
}

// makeOffer returns a complete (gathered) recvonly offer of api.
func makeOffer(t testing.TB, api *webrtc.API, kinds ...webrtc.RTPCodecType) (*webrtc.PeerConnection, string) {
	t.Helper()
	return livetest.Offer(t, api, webrtc.Configuration{}, kinds...)
}

// newDepack returns the viewer's depacketiser, which counts access units
// and remembers whether the first was an IDR.
func newDepack(v *pionViewer) *h264.Depacketizer {
	return h264.NewDepacketizer(nil, nil, func(au *h264.AccessUnit) {
		if v.aus == 0 {
			v.firstKey = au.Key
		}
		v.aus++
		v.lastAU = time.Now()
	})
}

// readTracks reads every track the viewer gets until the test ends.
func (v *pionViewer) readTracks(t testing.TB) {
	v.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.done.Add(1)
		go func() {
			defer v.done.Done()
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				v.onPacket(tr.Kind(), p)
			}
		}()
	})
	t.Cleanup(func() {
		_ = v.pc.Close()
		v.done.Wait()
	})
}

// newPionViewer makes a viewer on a peer connection of viewerAPI that
// reads every track until the test ends; it returns the viewer and its
// complete offer to receive video and audio.
func newPionViewer(t testing.TB) (*pionViewer, string) {
	t.Helper()
	v := &pionViewer{}
	v.depack = newDepack(v)
	pc, offer := makeOffer(t, viewerAPI(t))
	v.pc = pc
	v.readTracks(t)
	return v, offer
}

// watchWithPion offers to m for cam and reads what comes.
func watchWithPion(t testing.TB, m *Manager, cam string) *pionViewer {
	t.Helper()
	v, offer := newPionViewer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ans, err := m.Offer(ctx, OfferRequest{Camera: cam, SDP: offer})
	if err != nil {
		t.Fatalf("offer: %v", err)
	}
	v.session = ans.Session
	checkLoopbackSDP(t, ans.SDP)
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatalf("set answer: %v", err)
	}
	return v
}

func (v *pionViewer) onPacket(kind webrtc.RTPCodecType, p *rtp.Packet) {
	if kind == webrtc.RTPCodecTypeAudio {
		v.audioPkts.Add(1)
		return
	}
	v.videoPkts.Add(1)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.firstVideo == nil {
		v.firstVideo = append([]byte{}, p.Payload...)
		v.videoSSRC, v.firstSeq = p.SSRC, p.SequenceNumber
	}
	_ = v.depack.Push(&p.Header, p.Payload)
}

func (v *pionViewer) frames() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.aus
}

// check fails unless the viewer started on a key frame with SPS and PPS in
// a STAP-A in front, decoded w×h, and lost nothing.
func (v *pionViewer) check(t testing.TB, w, h int) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.firstVideo) < 3 || v.firstVideo[0]&0x1f != nalSTAPA || v.firstVideo[3]&0x1f != nalSPS {
		t.Errorf("first video packet is not a STAP-A holding the SPS: % x", v.firstVideo[:min(len(v.firstVideo), 8)])
	}
	if !v.firstKey {
		t.Error("the first access unit is not an IDR")
	}
	sps, ok := v.depack.SPS()
	if !ok || sps.Width != w || sps.Height != h {
		t.Errorf("SPS gives %dx%d (known %v), want %dx%d", sps.Width, sps.Height, ok, w, h)
	}
	if st := v.depack.Stats(); st.DroppedAUs != 0 || st.Lost != 0 || st.Malformed != 0 {
		t.Errorf("depacketiser: %+v", st)
	}
}

func waitFrames(t testing.TB, v *pionViewer, n int) {
	t.Helper()
	devtest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d video frames", n), func() bool { return v.frames() >= n })
}

// checkLoopbackSDP fails unless every candidate in sdp is a loopback host
// candidate: nothing in a test may lead a peer off this machine.
func checkLoopbackSDP(t testing.TB, sdp string) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(sdp, "\n") {
		c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:")
		if !ok {
			continue
		}
		n++
		f := strings.Fields(c)
		if len(f) < 8 || f[6] != "typ" || f[7] != "host" {
			t.Errorf("candidate %q is not a host candidate", c)
			continue
		}
		if ip := net.ParseIP(f[4]); ip == nil || !ip.IsLoopback() {
			t.Errorf("candidate %q is not on loopback", c)
		}
	}
	if n == 0 {
		t.Error("the answer holds no candidate")
	}
}
