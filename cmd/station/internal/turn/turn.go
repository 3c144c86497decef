// Package turn is the station's embedded TURN server (pion/turn/v5): the
// relay a live view falls back on when the gateway (behind a 4G carrier's
// NAT) and the officer's browser cannot reach each other directly.
//
// It takes only short-lived TURN REST credentials (username
// "expiry:user", password base64(HMAC-SHA1(secret, username))) made by
// Credentials from a secret that never leaves the process: a new one at
// every start, so no long-lived TURN secret sits on a board or in a file.
// The station hands a fresh pair to the gateway inside each live.offer and
// to the browser with the session's answer.
//
// Not an open relay: a relay sends only to public addresses (loopback,
// private, carrier-grade NAT, link-local such as the cloud metadata
// address, multicast and reserved ranges are refused, unless
// Config.AllowPeers names them) and to the relay address's own port range
// (relay to relay, the path a 4G gateway and a LAN browser meet on); never
// to the station's other addresses or ports, the TURN port included. TCP
// relays (RFC 6062) are refused: WebRTC needs none, and one would let a
// credential connect to the broker or the console.
//
// Limits: relays are allocated only on the configured address and port
// range; each user (the part after the colon) holds at most
// MaxAllocationsPerUser allocations at once, and the server at most as many
// as the port range has ports. A new allocation needs an unexpired
// credential; refreshing one that exists, adding permissions and channels
// are allowed for RefreshGrace after the credential's expiry, so a live view
// the officer keeps renewing keeps its relay while a leaked credential
// cannot open a new one.
package turn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST is defined with HMAC-SHA1
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// Defaults of Config.
const (
	DefaultUDPPort            = 3478
	DefaultTLSPort            = 5349
	DefaultRelayPorts         = "49160-49359"
	DefaultPerUser            = 24
	DefaultRefreshGrace       = 2 * time.Hour
	DefaultRealm              = "antt"
	maxUserLen                = 64
	maxUsernameLen            = 96
	defaultAllocationLifetime = 10 * time.Minute
	// methodAllocate is STUN's Allocate method (RFC 8656), stun.MethodAllocate.
	methodAllocate = 0x003
)

// Config configures a Server. At least one of UDP and TLS is needed.
type Config struct {
	// UDP and TLS are the listen addresses (host:port); "" turns one off.
	UDP, TLS string
	// TLSConfig holds the certificate for TLS (required with TLS).
	TLSConfig *tls.Config
	// RelayIP is the address relays are allocated on and announced with
	// (a concrete IP the gateways and browsers can reach).
	RelayIP net.IP
	// MinPort and MaxPort bound the relay ports (inclusive).
	MinPort, MaxPort uint16
	// MaxAllocationsPerUser bounds one user's allocations at once
	// (default DefaultPerUser).
	MaxAllocationsPerUser int
	// RefreshGrace: see the package comment (default DefaultRefreshGrace).
	RefreshGrace time.Duration
	// Host is the name or address put in the turn: and turns: URLs
	// (default RelayIP).
	Host  string
	Realm string
	// AllowPeers are networks a relay may send to although they are in
	// the ranges refused by default (see peerOK), e.g. the station LAN
	// when browsers there are to be reached on their own addresses. The
	// station's own addresses stay refused whatever this says.
	AllowPeers []netip.Prefix
	Logger     *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// ParsePorts reads a relay port range "MIN-MAX".
func ParsePorts(s string) (lo, hi uint16, err error) {
	a, b, ok := strings.Cut(s, "-")
	x, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	y, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if !ok || err1 != nil || err2 != nil || x == 0 || y < x {
		return 0, 0, fmt.Errorf("relay ports %q: want MIN-MAX, e.g. %s", s, DefaultRelayPorts)
	}
	return uint16(x), uint16(y), nil
}

// ICEServer is one server as WebRTC configurations list it (the JSON of
// RTCIceServer and of live.offer's ice_servers).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Server is a running TURN server.
type Server struct {
	cfg    Config
	secret []byte
	srv    *turn.Server
	udp    net.Addr
	tls    net.Addr
	now    func() time.Time

	relayIP netip.Addr
	local   map[netip.Addr]bool // the machine's own addresses
	tlsLn   *tlsListener

	mu    sync.Mutex
	users map[string]int // allocations held, by user
	total int
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.UDP == "" && cfg.TLS == "" {
		return nil, errors.New("turn: neither a UDP nor a TLS address")
	}
	if cfg.RelayIP == nil || cfg.RelayIP.IsUnspecified() {
		return nil, fmt.Errorf("turn: relay address %v: want a concrete IP address", cfg.RelayIP)
	}
	if cfg.MinPort == 0 || cfg.MaxPort < cfg.MinPort {
		return nil, fmt.Errorf("turn: relay ports %d-%d: want MIN-MAX", cfg.MinPort, cfg.MaxPort)
	}
	if cfg.TLS != "" && (cfg.TLSConfig == nil || len(cfg.TLSConfig.Certificates) == 0 && cfg.TLSConfig.GetCertificate == nil) {
		return nil, errors.New("turn: TLS needs a certificate")
	}
	if cfg.MaxAllocationsPerUser <= 0 {
		cfg.MaxAllocationsPerUser = DefaultPerUser
	}
	if cfg.RefreshGrace <= 0 {
		cfg.RefreshGrace = DefaultRefreshGrace
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.Host == "" {
		cfg.Host = cfg.RelayIP.String()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, secret: make([]byte, 32), users: map[string]int{}, now: cfg.Now, local: localAddrs()}
	_, _ = rand.Read(s.secret)
	s.relayIP, _ = netip.AddrFromSlice(cfg.RelayIP)
	s.relayIP = s.relayIP.Unmap()
	relay := s.relayGen
	sc := turn.ServerConfig{
		Realm:              cfg.Realm,
		AuthHandler:        s.auth,
		QuotaHandler:       s.quota,
		AllocationLifetime: defaultAllocationLifetime,
		LoggerFactory:      quietLogs{},
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, _ net.Addr, _, user, _ string, relay net.Addr, _ int) {
				s.mu.Lock()
				s.users[user]++
				s.total++
				s.mu.Unlock()
				if s.tlsLn != nil { // the protocol is the relay's, not the client's transport
					s.tlsLn.relays(src, +1)
				}
				cfg.Logger.Debug("relay allocated", "user", user, "relay", relay)
			},
			OnAllocationDeleted: func(src, _ net.Addr, _, user, _ string) {
				if s.tlsLn != nil { // the protocol is the relay's, not the client's transport
					s.tlsLn.relays(src, -1)
				}
				s.mu.Lock()
				if s.users[user] > 1 {
					s.users[user]--
				} else {
					delete(s.users, user)
				}
				s.total = max(0, s.total-1)
				s.mu.Unlock()
			},
		},
	}
	var closers []func() error
	fail := func(err error) (*Server, error) {
		for _, c := range closers {
			_ = c()
		}
		return nil, err
	}
	if cfg.UDP != "" {
		pc, err := net.ListenPacket("udp", cfg.UDP)
		if err != nil {
			return fail(fmt.Errorf("turn: listen UDP: %w", err))
		}
		closers = append(closers, pc.Close)
		s.udp = pc.LocalAddr()
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: relay(), PermissionHandler: s.permit})
	}
	if cfg.TLS != "" {
		tc := cfg.TLSConfig.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
		raw, err := net.Listen("tcp", cfg.TLS)
		if err != nil {
			return fail(fmt.Errorf("turn: listen TLS: %w", err))
		}
		ln := &tlsListener{Listener: raw, cfg: tc, sem: make(chan struct{}, int(cfg.MaxPort-cfg.MinPort)+1), handshake: tlsHandshake,
			noRelay: tlsNoRelay, conns: map[string]*tlsConn{}}
		s.tlsLn = ln
		closers = append(closers, ln.Close)
		s.tls = ln.Addr()
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: relay(), PermissionHandler: s.permit})
	}
	srv, err := turn.NewServer(sc)
	if err != nil {
		return fail(fmt.Errorf("turn: %w", err))
	}
	s.srv = srv
	return s, nil
}

// Close stops the server and its relays.
func (s *Server) Close() error { return s.srv.Close() }

// UDPAddr and TLSAddr are the listening addresses (nil when off).
func (s *Server) UDPAddr() net.Addr { return s.udp }

// TLSAddr is the TLS listener's address (nil when off).
func (s *Server) TLSAddr() net.Addr { return s.tls }

// Allocations is the number of relays held now.
func (s *Server) Allocations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Credentials makes a TURN REST pair for user valid for ttl.
func (s *Server) Credentials(user string, ttl time.Duration) (username, password string, expires time.Time) {
	expires = s.now().Add(ttl).Truncate(time.Second)
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + cleanUser(user)
	return username, s.password(username), expires
}

// ICEServers are the server's URLs with a fresh credential for user, valid
// for ttl: one entry for UDP and TLS alike.
func (s *Server) ICEServers(user string, ttl time.Duration) []ICEServer {
	u, p, _ := s.Credentials(user, ttl)
	var urls []string
	host := s.cfg.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if a, ok := s.udp.(*net.UDPAddr); ok {
		urls = append(urls, "turn:"+host+":"+strconv.Itoa(a.Port)+"?transport=udp")
	}
	if a, ok := s.tls.(*net.TCPAddr); ok {
		urls = append(urls, "turns:"+host+":"+strconv.Itoa(a.Port)+"?transport=tcp")
	}
	return []ICEServer{{URLs: urls, Username: u, Credential: p}}
}

// cleanUser keeps a user name usable in a TURN username: no colon, short,
// printable ASCII.
func cleanUser(u string) string {
	b := []byte(u)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || c == ':' {
			b[i] = '_'
		}
	}
	if len(b) > maxUserLen {
		b = b[:maxUserLen]
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func (s *Server) password(username string) string {
	m := hmac.New(sha1.New, s.secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ParseUsername splits a TURN REST username into its expiry and user; the
// error says what is wrong.
func ParseUsername(username string) (time.Time, string, error) {
	if len(username) > maxUsernameLen {
		return time.Time{}, "", fmt.Errorf("username over %d bytes", maxUsernameLen)
	}
	ts, user, ok := strings.Cut(username, ":")
	if !ok || user == "" {
		return time.Time{}, "", fmt.Errorf("username %.40q: want expiry:user", username)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, "", fmt.Errorf("username %.40q: expiry is not a Unix time", username)
	}
	return time.Unix(n, 0), user, nil
}

// auth checks a TURN REST credential: its MAC (through the key pion
// compares with the request's MESSAGE-INTEGRITY) and its expiry.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, user, err := ParseUsername(ra.Username)
	if err != nil {
		s.cfg.Logger.Debug("turn credential refused", "err", err, "from", ra.SrcAddr)
		return "", nil, false
	}
	now := s.now()
	limit := exp
	if ra.Method != methodAllocate {
		limit = exp.Add(s.cfg.RefreshGrace)
	}
	if now.After(limit) {
		s.cfg.Logger.Debug("turn credential expired", "user", user, "expired", exp, "method", ra.Method.String(), "from", ra.SrcAddr)
		return "", nil, false
	}
	return user, turn.GenerateAuthKey(ra.Username, ra.Realm, s.password(ra.Username)), true
}

func (s *Server) quota(user, _ string, src net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[user] >= s.cfg.MaxAllocationsPerUser {
		s.cfg.Logger.Warn("turn quota reached", "user", user, "from", src, "max", s.cfg.MaxAllocationsPerUser)
		return false
	}
	return true
}

// quietLogs drops pion's own logs: every refusal it would print is
// logged by auth and quota with the station's logger.
type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger {
	return logging.NewDefaultLeveledLoggerForScope("", logging.LogLevelDisabled, discard{})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// tlsHandshake bounds a TLS client's handshake (a variable for tests).
var tlsHandshake = 10 * time.Second

// tlsNoRelay is how long a TLS connection may stay open without a relay
// (a variable for tests): long enough to authenticate and allocate, or to
// re-allocate after an ICE restart.
var tlsNoRelay = 30 * time.Second

// tlsListener bounds the TLS connections open at once (one per relay the
// port range allows) and each handshake's time: pion would otherwise keep
// every idle socket and a slow handshake forever.
//
// A connection that holds no relay is closed after noRelay (from its
// accept, or from its last relay's end): otherwise idle connections,
// which need no credential, would fill the slots and lock the gateways
// out.
type tlsListener struct {
	net.Listener
	cfg       *tls.Config
	sem       chan struct{}
	handshake time.Duration
	noRelay   time.Duration

	mu    sync.Mutex
	conns map[string]*tlsConn // by the client's address
}

func (l *tlsListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	tc := &tlsConn{Conn: tls.Server(c, l.cfg), ln: l, key: c.RemoteAddr().String(), timeout: l.handshake}
	l.mu.Lock()
	l.conns[tc.key] = tc
	tc.idle = time.AfterFunc(l.noRelay, func() { _ = tc.Close() })
	l.mu.Unlock()
	return tc, nil
}

// relays counts a relay made (+1) or ended (-1) over the connection from
// src, and starts or stops its no-relay timer.
func (l *tlsListener) relays(src net.Addr, d int) {
	if src == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.conns[src.String()]
	if c == nil {
		return
	}
	c.relays = max(0, c.relays+d)
	if c.relays > 0 {
		c.idle.Stop()
	} else {
		c.idle.Reset(l.noRelay)
	}
}

type tlsConn struct {
	*tls.Conn
	ln        *tlsListener
	key       string
	timeout   time.Duration
	handshake sync.Once
	hsErr     error
	closed    sync.Once
	idle      *time.Timer // guarded by ln.mu, as relays
	relays    int
}

func (c *tlsConn) Read(p []byte) (int, error) {
	c.handshake.Do(func() {
		_ = c.Conn.SetDeadline(time.Now().Add(c.timeout))
		c.hsErr = c.Conn.Handshake()
		_ = c.Conn.SetDeadline(time.Time{})
	})
	if c.hsErr != nil {
		return 0, c.hsErr
	}
	return c.Conn.Read(p)
}

func (c *tlsConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() {
		c.ln.mu.Lock()
		if c.ln.conns[c.key] == c {
			delete(c.ln.conns, c.key)
		}
		if c.idle != nil {
			c.idle.Stop()
		}
		c.ln.mu.Unlock()
		<-c.ln.sem
	})
	return err
}

// Refused peer ranges beyond what netip classifies (see peerOK).
var refusedPeers = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64: would reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"), // 6to4: likewise
}

// localAddrs are the machine's own addresses.
func localAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out
}

// peerOK says whether a relay may send to ip (and, when port is not 0,
// to that port): the relay address's own port range; never the machine's
// other addresses; Config.AllowPeers; and otherwise only global unicast
// addresses outside the private and reserved ranges.
func (s *Server) peerOK(ip netip.Addr, port int) bool {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return false
	case ip == s.relayIP:
		return port == 0 || port >= int(s.cfg.MinPort) && port <= int(s.cfg.MaxPort)
	case s.local[ip]:
		return false
	}
	for _, p := range s.cfg.AllowPeers {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() {
		return false
	}
	for _, p := range refusedPeers {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// permit is pion's PermissionHandler: CreatePermission and ChannelBind
// for a refused peer get 403.
func (s *Server) permit(src net.Addr, peer net.IP) bool {
	ip, _ := netip.AddrFromSlice(peer)
	if s.peerOK(ip, 0) {
		return true
	}
	s.cfg.Logger.Info("turn peer refused", "peer", peer, "from", src)
	return false
}

// errRefused is a relay's answer to what the station does not relay.
var (
	errPeerRefused = errors.New("turn: peer refused")
	errNoTCP       = errors.New("turn: TCP relays are not offered")
)

// relayGen allocates relays in the port range on the relay address,
// refuses TCP relays and ports outside the range, and hands out relay
// sockets that send only where peerOK allows (permissions are per IP
// address; this adds the port).
func (s *Server) relayGen() turn.RelayAddressGenerator {
	return &relayGen{s: s, RelayAddressGeneratorPortRange: &turn.RelayAddressGeneratorPortRange{
		RelayAddress: s.cfg.RelayIP, Address: s.cfg.RelayIP.String(), MinPort: s.cfg.MinPort, MaxPort: s.cfg.MaxPort}}
}

type relayGen struct {
	*turn.RelayAddressGeneratorPortRange
	s *Server
}

func (g *relayGen) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if c.RequestedPort != 0 && (c.RequestedPort < int(g.s.cfg.MinPort) || c.RequestedPort > int(g.s.cfg.MaxPort)) {
		return nil, nil, fmt.Errorf("turn: relay port %d outside %d-%d", c.RequestedPort, g.s.cfg.MinPort, g.s.cfg.MaxPort)
	}
	if g.Net == nil {
		if err := g.Validate(); err != nil {
			return nil, nil, err
		}
	}
	pc, a, err := g.RelayAddressGeneratorPortRange.AllocatePacketConn(c)
	if err != nil {
		return nil, nil, err
	}
	return &relayConn{PacketConn: pc, s: g.s}, a, nil
}

func (g *relayGen) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCP
}

func (g *relayGen) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) { return nil, errNoTCP }

// relayConn is a relay socket that drops what peerOK refuses.
type relayConn struct {
	net.PacketConn
	s *Server
}

func (c *relayConn) WriteTo(p []byte, to net.Addr) (int, error) {
	ua, ok := to.(*net.UDPAddr)
	if !ok {
		return 0, errPeerRefused
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	if !c.s.peerOK(ip, ua.Port) {
		return 0, errPeerRefused
	}
	return c.PacketConn.WriteTo(p, to)
}
