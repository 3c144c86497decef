package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pion/transport/v5"

	"github.com/antt-gateway/antt/device/camera"
)

// Defaults for Options fields left zero.
const (
	// DefaultMaxViewers bounds the sessions of a gateway: a board on 4G
	// has the uplink for a few streams, not for a crowd.
	DefaultMaxViewers = 8
	// DefaultMaxViewersPerCamera bounds the sessions of one camera.
	DefaultMaxViewersPerCamera = 4
	// DefaultMaxSession closes a session not renewed for this long, so a
	// forgotten tab does not burn a prepaid SIM's data.
	DefaultMaxSession = 10 * time.Minute
	// DefaultConnectTimeout closes a session whose ICE and DTLS do not
	// complete in time.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultReadyTimeout bounds the wait for a cold camera's first key
	// frame before an offer is answered.
	DefaultReadyTimeout = 10 * time.Second
	// DefaultOfferMemory is how long an answered offer is remembered, so
	// a repeated command (same request id) gets the same answer, once.
	DefaultOfferMemory = 2 * time.Minute
	// DefaultQueueUnits bounds each viewer's queue: about 3 s of 25 fps
	// video with 50 audio packets per second.
	DefaultQueueUnits = 256
	// DefaultCatchUpRate is the byte budget of a catch-up burst (6 Mbit/s):
	// above any camera stream sent live, below what a 4G uplink carries
	// without losing a burst sent at line rate.
	DefaultCatchUpRate = 750_000
	// DefaultCatchUpSpacing is the least time between two fast-forwarded
	// frames (at most 200 frames per second reach the decoder).
	DefaultCatchUpSpacing = 5 * time.Millisecond
	// DefaultMaxCatchUpAge: a cached GOP spanning more than this is not
	// fast-forwarded; its key frame is shown as a still and the viewer
	// goes live at the camera's next key frame, which is then near.
	DefaultMaxCatchUpAge = 3 * time.Second
	// DefaultPLIInterval rate-limits replays asked for by PLI.
	DefaultPLIInterval = time.Second
	// DefaultNACKBuffer is the packets kept per viewer for retransmission:
	// a 2 Mbit/s key frame is 100–200 packets, a catch-up burst in flight
	// on a 200 ms round trip about 130; the payloads are shared with the
	// feed, so each kept packet costs only its header.
	DefaultNACKBuffer = 1024
	// DefaultCacheBytes caps the packetised GOP kept per camera.
	DefaultCacheBytes = camera.DefaultGOPCacheBytes
)

// ICEServer is a STUN or TURN server handed to pion.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Options configures a Manager. Cameras is required.
type Options struct {
	// Cameras finds a camera's hub by its configured name.
	Cameras func(name string) (*camera.Hub, bool)
	// ICEServers are offered to every session; an offer may add its own.
	ICEServers []ICEServer
	// ForceRelay makes sessions use TURN relays only.
	ForceRelay bool
	// UDPPort is the one UDP port every session shares (ICE UDP mux), on
	// each allowed interface address. Zero picks a free port per address.
	UDPPort int
	// Interfaces, when not empty, lists the network interfaces whose
	// addresses are used; others are never offered.
	Interfaces []string
	// LoopbackCandidates offers loopback addresses (tests, a viewer on the
	// board itself). Off by default.
	LoopbackCandidates bool
	// MDNS resolves a browser's .local candidates (off by default: the
	// query is multicast on the site's LAN).
	MDNS bool
	// MaxViewers and MaxViewersPerCamera bound the sessions.
	MaxViewers, MaxViewersPerCamera int
	// MaxSession is a session's length unless renewed.
	MaxSession time.Duration
	// ConnectTimeout bounds ICE and DTLS; ReadyTimeout the wait for a
	// camera's first key frame when answering an offer.
	ConnectTimeout, ReadyTimeout time.Duration
	// OfferMemory is how long a request id's answer is remembered.
	OfferMemory time.Duration
	// QueueUnits is each viewer's queue length (frames and audio packets).
	QueueUnits int
	// CatchUpRate (bytes/s), CatchUpSpacing and MaxCatchUpAge shape the
	// fast-forward through the cached GOP that gives a new viewer its
	// first picture at once (see the package documentation).
	CatchUpRate    float64
	CatchUpSpacing time.Duration
	MaxCatchUpAge  time.Duration
	// PlayoutDelay offers the RTP playout-delay extension and marks the
	// fast-forwarded frames min = max = 0 (show at once), then the
	// browser's defaults on the first live frames. Off by default: in
	// Chromium it did not help (docs/live.md has the measurement).
	PlayoutDelay bool
	// playoutSticky (tests only) leaves 0/0 in force after the catch-up.
	playoutSticky bool
	// PLIInterval is the least time between two replays asked by PLI.
	PLIInterval time.Duration
	// NACKBuffer is the number of packets kept per viewer for
	// retransmission; a power of two up to 32768.
	NACKBuffer int
	// CacheBytes caps the packetised GOP kept per camera.
	CacheBytes int
	// Publish, when set, sends a message under the gateway's topic prefix
	// ({prefix}/{gateway}/{levels}, uplink.Session.Publish): offers that
	// ask for trickle get the gateway's candidates that way.
	Publish func(ctx context.Context, levels string, qos byte, payload []byte) error
	// NAT1To1 rewrites the gateway's candidates for a known 1:1 NAT.
	NAT1To1 []NAT1To1
	// CameraMaxViewers, when set, gives a camera's own viewer limit
	// (0: MaxViewersPerCamera).
	CameraMaxViewers func(name string) int
	// WHEPToken is the bearer token WHEP requires of clients not on
	// loopback; empty refuses them all (the local API's default).
	WHEPToken string
	// Location is the time zone whose days BytesToday counts (nil: the
	// machine's).
	Location *time.Location
	// Substreams are the cameras' low-quality hubs, by the camera's name
	// (camera.Hub.Name of each must be that name). The Manager runs them
	// (Run): like any hub, one is pulled only while a viewer watches it.
	Substreams []*camera.Hub
	// Recordings, when set, lets an offer with a From play a camera's
	// recordings instead of its live stream (playback.go).
	Recordings Recordings
	// Net is the network pion and the UDP port use; nil is the machine's.
	// Tests put the gateway behind a simulated NAT with pion's vnet.
	Net    transport.Net
	Logger *slog.Logger
}

func (o *Options) fill() error {
	if o.Cameras == nil {
		return errors.New("live: Options.Cameras is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxViewers, DefaultMaxViewers)
	def(&o.MaxViewersPerCamera, min(DefaultMaxViewersPerCamera, o.MaxViewers))
	def(&o.QueueUnits, DefaultQueueUnits)
	def(&o.NACKBuffer, DefaultNACKBuffer)
	def(&o.CacheBytes, DefaultCacheBytes)
	defD(&o.MaxSession, DefaultMaxSession)
	defD(&o.ConnectTimeout, DefaultConnectTimeout)
	defD(&o.ReadyTimeout, DefaultReadyTimeout)
	defD(&o.OfferMemory, DefaultOfferMemory)
	defD(&o.CatchUpSpacing, DefaultCatchUpSpacing)
	defD(&o.MaxCatchUpAge, DefaultMaxCatchUpAge)
	defD(&o.PLIInterval, DefaultPLIInterval)
	if o.CatchUpRate <= 0 {
		o.CatchUpRate = DefaultCatchUpRate
	}
	if n := o.NACKBuffer; n > 32768 || n&(n-1) != 0 {
		return fmt.Errorf("live: NACKBuffer %d: want a power of two up to 32768", n)
	}
	if o.UDPPort < 0 || o.UDPPort > 65535 {
		return fmt.Errorf("live: UDPPort %d out of range", o.UDPPort)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

func (o *Options) playoutMode() playoutMode {
	switch {
	case !o.PlayoutDelay:
		return playoutOff
	case o.playoutSticky:
		return playoutSticky
	}
	return playoutCatchUp
}
