package live

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/live/livetest"
)

// symmetric is the NAT a 4G carrier puts a board behind: a new mapping
// and filter for every remote address and port.
var symmetric = &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}

// natNets builds, in pion's virtual network, a public segment with a TURN
// server (REST credentials) and two private ones, each behind its own
// symmetric NAT: the gateway's and the viewer's.
func natNets(t *testing.T, secret string) (gw, viewer *vnet.Net, turnURL string) {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	turnNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(turnNet); err != nil {
		t.Fatal(err)
	}
	behindNAT := func(public, cidr, ip string) *vnet.Net {
		r, err := vnet.NewRouter(&vnet.RouterConfig{StaticIPs: []string{public}, CIDR: cidr, NATType: symmetric, LoggerFactory: lf})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(r); err != nil {
			t.Fatal(err)
		}
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddNet(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	gw = behindNAT("1.2.3.10", "10.1.0.0/24", "10.1.0.2")
	viewer = behindNAT("1.2.3.20", "10.2.0.0/24", "10.2.0.2")
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wan.Stop() })
	conn, err := turnNet.ListenPacket("udp4", "1.2.3.4:3478")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turn.NewServer(turn.ServerConfig{Realm: "antt", LoggerFactory: lf,
		AuthHandler: turn.LongTermTURNRESTAuthHandler(secret, lf.NewLogger("turn")),
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(1, 2, 3, 4), Address: "1.2.3.4", Net: turnNet}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return gw, viewer, "turn:1.2.3.4:3478?transport=udp"
}

// vnetViewer is a pion viewer on n, with the given ICE servers.
func vnetViewer(t *testing.T, n *vnet.Net, servers []webrtc.ICEServer) (*pionViewer, string) {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(h264Codec(102, "42e01f"), webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetNet(n)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, offer := livetest.Offer(t, api, webrtc.Configuration{ICEServers: servers}, webrtc.RTPCodecTypeVideo)
	v := &pionViewer{pc: pc}
	v.depack = newDepack(v)
	v.readTracks(t)
	return v, offer
}

// A gateway behind a symmetric NAT (4G) and a viewer behind another:
// without TURN the session never connects and is dropped at the connect
// timeout; with the station's TURN server (REST credentials for this
// session, carried by the offer) the picture arrives through the relay.
func TestLiveSymmetricNATOnlyThroughTURN(t *testing.T) {
	t.Parallel()
	const secret = "station-turn-secret"
	gwNet, viewerNet, url := natNets(t, secret)
	hub := fileHub(t, "gate")
	opts := Options{Net: gwNet, ConnectTimeout: 3 * time.Second, Logger: testLogger(t),
		Cameras: func(n string) (*camera.Hub, bool) { return hub, n == "gate" }}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })

	// Without TURN: host candidates on two private networks.
	_, offer := vnetViewer(t, viewerNet, nil)
	ans, err := m.Offer(context.Background(), OfferRequest{Camera: "gate", SDP: offer})
	if err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 15*time.Second, "the unreachable session to be dropped", func() bool {
		st, err := m.Stats(ans.Session) // its last figures stay a while (ended.go)
		return errors.Is(err, ErrUnknownSession) || err == nil && st.State == "closed"
	})

	// With TURN on both sides.
	gu, gp, err := turn.GenerateLongTermTURNRESTCredentials(secret, "cong-khu-3", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	vu, vp, err := turn.GenerateLongTermTURNRESTCredentials(secret, "officer", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v, offer := vnetViewer(t, viewerNet, []webrtc.ICEServer{{URLs: []string{url}, Username: vu, Credential: vp}})
	ans, err = m.Offer(context.Background(), OfferRequest{Camera: "gate", SDP: offer,
		ICEServers: []ICEServer{{URLs: []string{url}, Username: gu, Credential: gp}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, v, 25)
	v.check(t, 320, 180)
	pair, err := v.pc.GetReceivers()[0].Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("selected candidate pair: %v %v", pair, err)
	}
	if pair.Local.Typ != webrtc.ICECandidateTypeRelay && pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
		t.Errorf("connected without a relay: %s", pair)
	}
	t.Logf("connected through %s", pair)
}
