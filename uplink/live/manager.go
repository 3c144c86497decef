package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/camera"
)

// Manager owns the live-view sessions of a gateway: one pion
// PeerConnection per viewer, one feed per watched camera, one UDP port for
// all of them. It is safe for concurrent use; Run bounds its lifetime.
type Manager struct {
	opts   Options
	log    *slog.Logger
	mux    *ice.MultiUDPMuxDefault
	se     webrtc.SettingEngine
	ctx    context.Context // sessions live under it; cancelled when Run returns
	cancel context.CancelFunc
	wg     sync.WaitGroup // sessions and feeds

	mu        sync.Mutex
	closed    bool
	sessions  map[string]*session
	perCamera map[string]int
	feeds     map[string]*feed
	offers    map[string]*memo
	early     map[string]*early     // candidates waiting for their offer, by session id
	offering  map[string]bool       // viewer-chosen session ids being answered
	ended     map[string]endedStats // figures of ended sessions, for live.stats (ended.go)

	daily dayBytes // its own lock, taken before mu
}

// memo remembers the outcome of an offer by its request id.
type memo struct {
	done    chan struct{}
	answer  *Answer
	err     error
	expires time.Time
}

// New opens the shared UDP port and returns a Manager; call Run.
func New(opts Options) (*Manager, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	ifOK := func(name string) bool {
		return len(opts.Interfaces) == 0 || slices.Contains(opts.Interfaces, name)
	}
	muxOpts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithInterfaceFilter(ifOK)}
	if opts.LoopbackCandidates {
		muxOpts = append(muxOpts, ice.UDPMuxFromPortWithLoopback())
	} else {
		muxOpts = append(muxOpts, ice.UDPMuxFromPortWithIPFilter(func(ip net.IP) bool { return !ip.IsLoopback() }))
	}
	if opts.Net != nil {
		muxOpts = append(muxOpts, ice.UDPMuxFromPortWithNet(opts.Net))
	}
	mux, err := ice.NewMultiUDPMuxFromPort(opts.UDPPort, muxOpts...)
	if err != nil {
		return nil, fmt.Errorf("live: open UDP port %d: %w", opts.UDPPort, err)
	}
	if len(mux.GetListenAddresses()) == 0 {
		// A board whose 4G modem is not up yet: live view waits for a
		// restart (offers are refused, saying why); alarms do not.
		opts.Logger.Warn("live: no usable interface address for the UDP port", "interfaces", opts.Interfaces, "loopback", opts.LoopbackCandidates)
	}
	var se webrtc.SettingEngine
	if opts.Net != nil {
		se.SetNet(opts.Net)
	}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetInterfaceFilter(ifOK)
	if err := setNAT(&se, opts.NAT1To1); err != nil {
		_ = mux.Close()
		return nil, err
	}
	se.SetIncludeLoopbackCandidate(opts.LoopbackCandidates)
	if opts.MDNS {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	} else {
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	}
	// ICE over TCP needs its own listener; until there is one, pion must
	// not dial out to a viewer's TCP candidates either.
	se.DisableActiveTCP(true)
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		opts: opts, log: opts.Logger.With("part", "live"), mux: mux, se: se, ctx: ctx, cancel: cancel,
		sessions: map[string]*session{}, perCamera: map[string]int{}, feeds: map[string]*feed{}, offers: map[string]*memo{},
		early: map[string]*early{}, offering: map[string]bool{},
	}
	// The day is counted from now: a session that opens and closes
	// before the first BytesToday must not become the day's base.
	m.daily.day, m.daily.base = m.dayKey(time.Now()), map[string]uint64{}
	return m, nil
}

// Addrs lists the local addresses of the shared UDP port.
func (m *Manager) Addrs() []net.Addr { return m.mux.GetListenAddresses() }

// Run serves until ctx ends, then closes every session and the UDP port;
// it also runs the substream hubs (Options.Substreams).
func (m *Manager) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	// The substream hubs outlive the sessions: they stop after shutdown.
	hctx, stopHubs := context.WithCancel(context.Background())
	var hubs sync.WaitGroup
	for _, h := range m.opts.Substreams {
		hubs.Go(func() { _ = h.Run(hctx) })
	}
	defer func() {
		stopHubs()
		hubs.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case now := <-tick.C:
			m.forget(now)
		}
	}
}

func (m *Manager) shutdown() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	_ = m.mux.Close()
}

// forget drops remembered offers whose time is up.
func (m *Manager) forget(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, o := range m.offers {
		if !o.expires.IsZero() && now.After(o.expires) {
			delete(m.offers, id)
		}
	}
	m.dropEnded(now)
}

// OfferRequest is a viewer's offer.
type OfferRequest struct {
	// RequestID, when set, makes a repeated offer (the same id) get the
	// first one's answer instead of a second session.
	RequestID string
	Camera    string
	SDP       string
	// Quality is "low" (the camera's substream, when it has one), "high"
	// (its main stream) or empty (high).
	Quality string
	// Explicit says the viewer asked for Quality itself (it was not a
	// default): only then does a missing substream earn a warning.
	Explicit bool
	// ICEServers are added to the Manager's for this session (a TURN
	// server with credentials for this viewer only).
	ICEServers []ICEServer
	// Session, when set (32 hex digits chosen by the viewer), is the new
	// session's id: candidates sent for it before this offer is answered
	// are kept and applied, and a session already open under it is closed
	// first (a new offer replaces a stale one).
	Session string
	// Trickle answers at once, without waiting for the gateway's
	// candidates; they follow on live/{session}/candidate
	// (Options.Publish must be set).
	Trickle bool
	// From, when set, makes the session play the camera's recordings
	// from the key frame at or before From (Options.Recordings), up to
	// To (zero: the last recording) at Speed (1, 2 or 4; zero is 1).
	// Quality does not apply: a recording has one stream.
	From, To time.Time
	Speed    int
}

// Answer is what the viewer gets back.
type Answer struct {
	Session string    `json:"session"`
	SDP     string    `json:"sdp"`
	Expires time.Time `json:"expires"`
	Video   string    `json:"video,omitempty"` // codec sent, e.g. "H264"
	Audio   string    `json:"audio,omitempty"` // codec sent, empty when none
	// Position is, for a playback, the time of the key frame it starts at.
	Position time.Time `json:"position,omitzero"`
	// Warnings explain what works differently than asked.
	Warnings []string `json:"warnings,omitempty"`
}

// Offer answers a viewer's offer with a complete SDP answer (all local
// candidates in it) and starts its session. An unknown camera, a bad or
// unplayable offer, and a full gateway are refused with errors wrapping
// ErrUnknownCamera, ErrBadOffer, ErrUnsupportedCodec and ErrTooManyViewers.
func (m *Manager) Offer(ctx context.Context, req OfferRequest) (*Answer, error) {
	if req.RequestID == "" {
		return m.offer(ctx, req)
	}
	m.mu.Lock()
	if o, ok := m.offers[req.RequestID]; ok {
		m.mu.Unlock()
		select {
		case <-o.done:
			return o.answer, o.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	o := &memo{done: make(chan struct{})}
	m.offers[req.RequestID] = o
	m.mu.Unlock()
	o.answer, o.err = m.offer(ctx, req)
	m.mu.Lock()
	o.expires = time.Now().Add(m.opts.OfferMemory)
	if errors.Is(o.err, context.Canceled) || errors.Is(o.err, context.DeadlineExceeded) {
		// The asker gave up, not the gateway: a retry gets a fresh try.
		delete(m.offers, req.RequestID)
	}
	m.mu.Unlock()
	close(o.done)
	return o.answer, o.err
}

func (m *Manager) offer(ctx context.Context, req OfferRequest) (*Answer, error) {
	switch req.Quality {
	case "", "low", "high":
	default:
		return nil, fmt.Errorf("%w: quality %q: want low or high", ErrBadOffer, req.Quality)
	}
	if err := checkRange(req.From, req.To, req.Speed); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	off, err := parseOffer(req.SDP)
	if err != nil {
		return nil, err
	}
	var play *playback
	if !req.From.IsZero() {
		// A recording outlives its camera's configuration: the store,
		// not the camera list, says whether there is something to play.
		if play, err = m.newPlayback(req); err != nil {
			return nil, err
		}
		defer func() {
			if play != nil {
				play.release()
			}
		}()
	}
	hub, ok := m.opts.Cameras(req.Camera)
	if !ok && play == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownCamera, req.Camera)
	}
	feedKey, quality, noSub := req.Camera, "high", false
	if play != nil {
		feedKey, quality = "", "recording"
	} else if req.Quality == "low" {
		if sub, ok := m.substream(req.Camera); ok {
			hub, feedKey, quality = sub, req.Camera+"#low", "low"
		} else {
			noSub = req.Explicit
		}
	}
	if len(m.mux.GetListenAddresses()) == 0 {
		return nil, fmt.Errorf("%w: the gateway had no network address for live view when it started", ErrClosed)
	}
	if req.Trickle && m.opts.Publish == nil {
		return nil, fmt.Errorf("%w: trickle: this gateway has no uplink to publish its candidates on", ErrBadOffer)
	}
	id := req.Session
	if id == "" {
		if id, err = newID(); err != nil {
			return nil, err
		}
	} else {
		if err := checkSessionID(id); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
		}
		if err := m.replace(id); err != nil {
			return nil, err
		}
		defer func() {
			m.mu.Lock()
			delete(m.offering, id)
			m.mu.Unlock()
		}()
	}
	var f *feed
	if play != nil {
		err = m.reserveSlot(req.Camera)
	} else {
		f, err = m.reserve(req.Camera, feedKey, hub)
	}
	if err != nil {
		return nil, err
	}
	s := &session{id: id, camera: req.Camera, feedKey: feedKey, quality: quality, noSub: noSub, m: m, f: f, play: play, created: time.Now(),
		poke: make(chan struct{}, 1), renew: make(chan time.Time, 1), closeReq: make(chan struct{}), done: make(chan struct{})}
	// The answer is waited for under the caller's context and the
	// Manager's, so that stopping the gateway does not wait for it.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(m.ctx, cancel)()
	ans, err := m.setup(sctx, s, hub, off, req)
	if err != nil {
		if s.pc != nil {
			_ = s.pc.Close()
		}
		m.release(s)
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		_ = s.pc.Close()
		m.release(s)
		return nil, ErrClosed
	}
	m.sessions[id] = s
	pending := m.takeEarly(id)
	m.wg.Add(1)
	if s.cands != nil {
		m.wg.Add(1)
	}
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		s.supervise(m.ctx)
	}()
	if s.cands != nil {
		go func() {
			defer m.wg.Done()
			s.trickle(m.ctx)
		}()
	}
	s.applyEarly(pending)
	if play != nil {
		ans.Position = time.Unix(0, play.pos.Load()).UTC()
		m.log.Info("live playback opened", "session", id, "camera", req.Camera, "from", req.From, "to", req.To, "speed", play.speed, "at", ans.Position)
		play = nil // the session owns it now
		return ans, nil
	}
	m.log.Info("live session opened", "session", id, "camera", req.Camera, "video", ans.Video, "audio", ans.Audio)
	return ans, nil
}

// reserveSlot counts a playback viewer against the limits.
func (m *Manager) reserveSlot(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return ErrClosed
	case m.total() >= m.opts.MaxViewers:
		return fmt.Errorf("%w: the gateway serves at most %d viewers", ErrTooManyViewers, m.opts.MaxViewers)
	case m.perCamera[name] >= m.cameraLimit(name):
		return fmt.Errorf("%w: camera %s serves at most %d viewers", ErrTooManyViewers, name, m.cameraLimit(name))
	}
	m.perCamera[name]++
	return nil
}

// reserve counts a viewer against the limits and attaches it to the
// camera's feed, starting the feed (and so pulling the camera) if needed.
func (m *Manager) reserve(name, key string, hub *camera.Hub) (*feed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return nil, ErrClosed
	case m.total() >= m.opts.MaxViewers:
		return nil, fmt.Errorf("%w: the gateway serves at most %d viewers", ErrTooManyViewers, m.opts.MaxViewers)
	case m.perCamera[name] >= m.cameraLimit(name):
		return nil, fmt.Errorf("%w: camera %s serves at most %d viewers", ErrTooManyViewers, name, m.cameraLimit(name))
	}
	f := m.feeds[key]
	if f != nil {
		select {
		case <-f.done: // the hub stopped under it
			f = nil
		default:
		}
	}
	if f == nil {
		var err error
		if f, err = startFeed(hub, m.opts.CacheBytes); err != nil {
			return nil, err
		}
		m.feeds[key] = f
		m.wg.Go(f.run)
	}
	f.refs++
	m.perCamera[name]++
	return f, nil
}

func (m *Manager) total() int {
	n := 0
	for _, c := range m.perCamera {
		n += c
	}
	return n
}

// release undoes reserve and forgets the session.
func (m *Manager) release(s *session) {
	// The day's count and the session table change together, so that
	// BytesToday never counts a session twice or not at all.
	// Its last figures, for a live.stats after the close: the sender
	// has stopped, so the counters are final.
	last := s.stats()
	last.State = "closed"
	now := time.Now()
	m.daily.mu.Lock()
	m.roll(now)
	m.mu.Lock()
	if m.sessions[s.id] == s {
		delete(m.sessions, s.id)
		m.countClosed(s)
		m.keepEnded(last, now)
	}
	m.daily.mu.Unlock()
	m.perCamera[s.camera]--
	if m.perCamera[s.camera] <= 0 {
		delete(m.perCamera, s.camera)
	}
	f := s.f
	if f == nil { // a playback: no feed
		m.mu.Unlock()
		return
	}
	f.refs--
	unused := f.refs == 0
	if unused && m.feeds[s.feedKey] == f {
		delete(m.feeds, s.feedKey)
	}
	m.mu.Unlock()
	if unused {
		f.stop()
	}
}

// setup builds the session's PeerConnection and answers the offer.
func (m *Manager) setup(ctx context.Context, s *session, hub *camera.Hub, off map[string][]offered, req OfferRequest) (*Answer, error) {
	var tracks []camera.Track
	if s.play != nil {
		tracks = s.play.tracks()
	} else {
		rctx, cancel := context.WithTimeout(ctx, m.opts.ReadyTimeout)
		var err error
		tracks, err = s.f.waitReady(rctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	ch, err := choose(req.Camera, tracks, off)
	if err != nil {
		return nil, err
	}
	api, err := m.api(ch)
	if err != nil {
		return nil, err
	}
	cfg := webrtc.Configuration{SDPSemantics: webrtc.SDPSemanticsUnifiedPlan}
	for _, is := range append(slices.Clone(m.opts.ICEServers), req.ICEServers...) {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	if m.opts.ForceRelay {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, fmt.Errorf("live: new peer connection: %w", err)
	}
	s.pc = pc
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) { s.wake() })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: req.SDP}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	stream := "antt-" + req.Camera
	ans := &Answer{Session: s.id}
	if ch.video != nil {
		s.video = newTrack(capability(ch.video), "video", stream)
		if s.vsender, err = pc.AddTrack(s.video); err != nil {
			return nil, fmt.Errorf("live: add video track: %w", err)
		}
		ans.Video = string(ch.vcodec)
	}
	if ch.audio != nil {
		s.audio = newTrack(capability(ch.audio), "audio", stream)
		if s.asender, err = pc.AddTrack(s.audio); err != nil {
			return nil, fmt.Errorf("live: add audio track: %w", err)
		}
		ans.Audio = string(ch.acodec)
	} else if hasAudio(tracks) {
		ans.Warnings = append(ans.Warnings, "no audio: the offer does not take the camera's G.711")
	}
	s.ch = ch
	if s.noSub {
		ans.Warnings = append(ans.Warnings, "quality low: the camera has no substream_url, sending its main stream")
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot answer it: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if req.Trickle {
		s.gatherTrickle()
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, fmt.Errorf("%w: cannot answer it: %v", ErrBadOffer, err)
	}
	if !req.Trickle {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		select {
		case <-gathered:
		case <-gctx.Done():
			return nil, fmt.Errorf("live: gathering ICE candidates: %w", gctx.Err())
		}
	}
	ld := pc.LocalDescription()
	if ld == nil {
		return nil, errors.New("live: no local description after gathering")
	}
	if m.opts.ForceRelay && !req.Trickle && !strings.Contains(ld.SDP, "typ relay") {
		ans.Warnings = append(ans.Warnings, "force_relay is set but no relay candidate was gathered: check live.ice_servers")
	}
	ans.SDP = ld.SDP
	s.expires = time.Now().Add(m.opts.MaxSession)
	ans.Expires = s.expires
	return ans, nil
}

func hasAudio(ts []camera.Track) bool {
	for _, t := range ts {
		if t.Kind == camera.Audio {
			return true
		}
	}
	return false
}

func capability(c *offered) webrtc.RTPCodecCapability {
	kind := "video/"
	if c.name == "PCMA" || c.name == "PCMU" {
		kind = "audio/"
	}
	cc := webrtc.RTPCodecCapability{MimeType: kind + c.name, ClockRate: c.clock, SDPFmtpLine: c.fmtp}
	if kind == "audio/" {
		cc.Channels = c.chans
	} else {
		cc.RTCPFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	}
	return cc
}

// api builds a pion API whose media engine holds exactly the chosen codecs
// at the offer's payload types, with the NACK responder and sender reports.
func (m *Manager) api(ch choice) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if ch.video != nil {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: capability(ch.video), PayloadType: webrtc.PayloadType(ch.video.pt)}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("live: register %s: %w", ch.video.name, err)
		}
	}
	if ch.audio != nil {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: capability(ch.audio), PayloadType: webrtc.PayloadType(ch.audio.pt)}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("live: register %s: %w", ch.audio.name, err)
		}
	}
	if ch.video != nil && m.opts.PlayoutDelay {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: playoutDelayURI}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("live: register the playout-delay extension: %w", err)
		}
	}
	ir := &interceptor.Registry{}
	// The payloads are the feed's shared, never-modified buffers and each
	// header is allocated per packet, so the responder need not copy.
	resp, err := nack.NewResponderInterceptor(nack.ResponderSize(uint16(m.opts.NACKBuffer)), nack.DisableCopy())
	if err != nil {
		return nil, fmt.Errorf("live: NACK responder: %w", err)
	}
	ir.Add(resp)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, fmt.Errorf("live: sender reports: %w", err)
	}
	ir.Add(sr)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(m.se), webrtc.WithInterceptorRegistry(ir)), nil
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("live: session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func (m *Manager) lookup(id string) (*session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	return s, nil
}

// Candidate adds a viewer's trickled ICE candidate to its session; an
// empty candidate marks the end of them. A candidate for a session not
// open (yet) is kept, bounded, until its offer is answered (see
// OfferRequest.Session); buffered reports that.
func (m *Manager) Candidate(id string, c webrtc.ICECandidateInit) (buffered bool, err error) {
	ufrag, err := checkCandidate(c)
	if err != nil {
		return false, fmt.Errorf("live: session %s: %w", id, err)
	}
	m.mu.Lock()
	s, ok := m.sessions[id]
	if !ok || s.stale(ufrag) {
		err := m.buffer(id, c, time.Now())
		m.mu.Unlock()
		return err == nil, err
	}
	m.mu.Unlock()
	return false, s.addCandidate(c)
}

// replace closes the session open under id, if any, for a new offer under
// the same id, and claims id until that offer is answered.
func (m *Manager) replace(id string) error {
	m.mu.Lock()
	if m.offering[id] {
		m.mu.Unlock()
		return fmt.Errorf("%w: another offer for session %s is being answered", ErrBadOffer, id)
	}
	m.offering[id] = true
	old := m.sessions[id]
	m.mu.Unlock()
	if old != nil {
		old.close("replaced by a new offer")
		<-old.done
	}
	return nil
}

func (s *session) addCandidate(c webrtc.ICECandidateInit) error {
	id := s.id
	if err := s.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("live: session %s: candidate %q: %w", id, c.Candidate, err)
	}
	return nil
}

// Close ends a session and waits until it is gone.
func (m *Manager) Close(id string) error {
	s, err := m.lookup(id)
	if err != nil {
		return err
	}
	s.close("closed by the viewer")
	<-s.done
	return nil
}

// Renew extends a session to MaxSession from now and returns its new end.
func (m *Manager) Renew(id string) (time.Time, error) {
	s, err := m.lookup(id)
	if err != nil {
		return time.Time{}, err
	}
	t := time.Now().Add(m.opts.MaxSession)
	s.setExpires(t)
	select {
	case <-s.renew: // an older renew not yet taken: this one replaces it
	default:
	}
	select {
	case s.renew <- t:
	case <-s.done:
		return time.Time{}, fmt.Errorf("%w %q (it just ended)", ErrUnknownSession, id)
	}
	return t, nil
}

// Stats returns one session's figures; those of a session ended less
// than EndedKeep ago are its last ones, with state "closed" and its
// reason.
func (m *Manager) Stats(id string) (SessionStats, error) {
	m.mu.Lock()
	s, ok := m.sessions[id]
	if !ok {
		st, kept := m.endedStatsOf(id, time.Now())
		m.mu.Unlock()
		if kept {
			return st, nil
		}
		return SessionStats{}, fmt.Errorf("%w %q", ErrUnknownSession, id)
	}
	m.mu.Unlock()
	return s.stats(), nil
}

// AllStats returns every session's figures, oldest first.
func (m *Manager) AllStats() []SessionStats {
	m.mu.Lock()
	ss := make([]*session, 0, len(m.sessions))
	for _, s := range m.sessions {
		ss = append(ss, s)
	}
	m.mu.Unlock()
	slices.SortFunc(ss, func(a, b *session) int { return a.created.Compare(b.created) })
	out := make([]SessionStats, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.stats())
	}
	return out
}

// Viewers counts open sessions (for telemetry).
func (m *Manager) Viewers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}
