package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/console"
	"github.com/antt-gateway/antt/cmd/station/internal/turn"
	"github.com/antt-gateway/antt/cmd/station/internal/web"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Live view's part of the station (docs/live.md "From the console"): the
// embedded TURN server and the subscription to the gateways' trickled ICE
// candidates, handed to the web console together with the commands.

// liveFlags are the TURN server's flags and -live-session.
type liveFlags struct {
	udp, tls, relayIP, host, ports string
	perUser                        int
	allowPeers                     string
	session                        time.Duration
}

// Bounds of -live-session: the page renews at a third of it, at least
// every 5 s.
const (
	minLiveSession = 15 * time.Second
	maxLiveSession = 24 * time.Hour
)

const autoAddr = "auto"

func registerLiveFlags(fs *flag.FlagSet) *liveFlags {
	f := &liveFlags{}
	fs.StringVar(&f.udp, "turn", autoAddr, `live view: the embedded TURN server's UDP address ("auto": the broker's listen host, port 3478; "": no TURN server at all)`)
	fs.StringVar(&f.tls, "turn-tls", autoAddr, `live view: the TURN server's TLS address ("auto": the broker's listen host, port 5349; "": no TLS)`)
	fs.StringVar(&f.relayIP, "turn-relay-ip", "", "live view: the address relays are opened on (default: the TURN address's host, or this machine's first non-loopback IPv4 address)")
	fs.StringVar(&f.host, "turn-host", "", "live view: the name or address gateways and browsers reach the TURN server at (default: the relay address)")
	fs.StringVar(&f.ports, "turn-ports", turn.DefaultRelayPorts, "live view: the UDP ports relays use, MIN-MAX (bounds the relays open at once)")
	fs.IntVar(&f.perUser, "turn-per-user", turn.DefaultPerUser, "live view: relays one user (an officer's browser, a gateway) may hold at once")
	fs.StringVar(&f.allowPeers, "turn-allow-peers", "", "live view: networks (CIDR, comma-separated) relays may send to although private, e.g. the station LAN; loopback, private and link-local peers are refused by default")
	fs.DurationVar(&f.session, "live-session", 15*time.Minute, "live view: the station closes a console view not renewed for this long (15s to 24h); the page renews at a third of it or of the gateway's max_session, at most every minute")
	return f
}

// Files of the TURN server's own certificate in the data directory, made
// when the station has no other (see liveTLS).
const (
	turnCertFile = "turn-cert.pem"
	turnKeyFile  = "turn-key.pem"
)

// liveTLS finds the TURN server's certificate: the broker's (-tls-cert),
// the console's (-http-cert), the one the console made in the data
// directory, or its own there (made once, self-signed, for host).
func liveTLS(brokerCert, brokerKey, httpCert, httpKey, dataDir, host string) (*tls.Config, error) {
	cert, key, from := brokerCert, brokerKey, "-tls-cert"
	if cert == "" {
		cert, key, from = httpCert, httpKey, "-http-cert"
	}
	if cert == "" {
		cert, key = filepath.Join(dataDir, web.CertFile), filepath.Join(dataDir, web.KeyFile)
		if _, err := os.Stat(cert); errors.Is(err, os.ErrNotExist) {
			// Not the console's file: the console names its own for its
			// listen address when it needs one.
			cert, key = filepath.Join(dataDir, turnCertFile), filepath.Join(dataDir, turnKeyFile)
			if _, err := os.Stat(cert); errors.Is(err, os.ErrNotExist) {
				if err := makeCert(cert, key, host); err != nil {
					return nil, err
				}
			}
		}
	}
	c, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		if cert == brokerCert || cert == httpCert {
			return nil, fmt.Errorf("TURN certificate (%s): %w", from, err)
		}
		return nil, fmt.Errorf("TURN certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, nil
}

// makeCert makes a self-signed certificate for host (and localhost).
func makeCert(certPath, keyPath, host string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("TURN certificate: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	name, _ := os.Hostname()
	tmpl := &x509.Certificate{SerialNumber: serial,
		Subject:   pkix.Name{CommonName: "ANTT station console " + name, Organization: []string{"ANTT station"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if host != "" && ip == nil {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return fmt.Errorf("TURN certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("TURN certificate: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("TURN certificate: %w", err)
	}
	return os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// firstIPv4 is this machine's first non-loopback IPv4 address, or
// 127.0.0.1.
func firstIPv4() net.IP {
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.To4()
			}
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// startTURN starts the TURN server the flags ask for; nil when -turn "".
// listenHost is the broker's (or, with an external broker, the console's)
// listen host.
func startTURN(f *liveFlags, listenHost string, tlsCfg func(host string) (*tls.Config, error), logger *slog.Logger, stderr io.Writer) (*turn.Server, error) {
	if f.udp == "" {
		return nil, nil
	}
	addr := func(v string, port int) string {
		if v == autoAddr {
			return net.JoinHostPort(listenHost, strconv.Itoa(port))
		}
		return v
	}
	udp, tlsAddr := addr(f.udp, turn.DefaultUDPPort), addr(f.tls, turn.DefaultTLSPort)
	for _, a := range []string{udp, tlsAddr} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("-turn/-turn-tls %q: %w", a, err)
		}
	}
	lo, hi, err := turn.ParsePorts(f.ports)
	if err != nil {
		return nil, fmt.Errorf("-turn-ports: %w", err)
	}
	if f.perUser < 1 {
		return nil, fmt.Errorf("-turn-per-user %d: want at least 1", f.perUser)
	}
	var allow []netip.Prefix
	for _, c := range strings.Split(f.allowPeers, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("-turn-allow-peers %q: want CIDR networks like 192.168.1.0/24: %w", c, err)
		}
		allow = append(allow, p.Masked())
	}
	var relay net.IP
	switch h, _, _ := net.SplitHostPort(udp); {
	case f.relayIP != "":
		if relay = net.ParseIP(f.relayIP); relay == nil || relay.IsUnspecified() {
			return nil, fmt.Errorf("-turn-relay-ip %q: want an IP address", f.relayIP)
		}
	case net.ParseIP(h) != nil && !net.ParseIP(h).IsUnspecified():
		relay = net.ParseIP(h)
	default:
		relay = firstIPv4()
	}
	cfg := turn.Config{UDP: udp, TLS: tlsAddr, RelayIP: relay, MinPort: lo, MaxPort: hi, MaxAllocationsPerUser: f.perUser, AllowPeers: allow,
		Host: f.host, Logger: logger.With("component", "turn")}
	if tlsAddr != "" {
		if cfg.TLSConfig, err = tlsCfg(cmpOr(f.host, relay.String())); err != nil {
			return nil, err
		}
	}
	ts, err := turn.Start(cfg)
	if errors.Is(err, syscall.EADDRINUSE) && (f.udp == autoAddr || f.tls == autoAddr) {
		// The default ports are taken (another station, a coturn): like the
		// gateway's live UDP port, take free ones and say so.
		if f.udp == autoAddr {
			cfg.UDP = net.JoinHostPort(listenHost, "0")
		}
		if f.tls == autoAddr {
			cfg.TLS = net.JoinHostPort(listenHost, "0")
		}
		fmt.Fprintln(stderr, "station: WARNING: TURN's default ports are taken:", err, "- using free ones")
		ts, err = turn.Start(cfg)
	}
	if err != nil {
		return nil, err
	}
	msg := "station: TURN listening on udp " + fmt.Sprint(ts.UDPAddr())
	if a := ts.TLSAddr(); a != nil {
		msg += ", tls " + a.String()
	}
	fmt.Fprintln(stderr, msg+", relays on", relay.String()+":"+f.ports)
	return ts, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// stationLive is what the web console gets as its Commander: the
// console's commands, the TURN server's credentials and the gateways'
// candidates.
type stationLive struct {
	*console.Console
	turn    *turn.Server
	cands   *candidates
	session time.Duration // -live-session
}

var (
	_ web.LiveBackend    = (*stationLive)(nil)
	_ web.LiveEndWatcher = (*stationLive)(nil)
	_ web.LiveLifetime   = (*stationLive)(nil)
)

// LiveSessionLifetime is -live-session.
func (l *stationLive) LiveSessionLifetime() time.Duration { return l.session }

func (l *stationLive) ICEServers(user string, ttl time.Duration) []web.ICEServer {
	if l.turn == nil {
		return nil
	}
	var out []web.ICEServer
	for _, s := range l.turn.ICEServers(user, ttl) {
		out = append(out, web.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

func (l *stationLive) WatchCandidates(gw, session string, fn func(wire.LiveCandidateMsg)) func() {
	return l.cands.watch(gw, session, fn)
}

func (l *stationLive) WatchEnd(gw, session string, fn func(wire.LiveEndMsg)) func() {
	return l.cands.watchEnd(gw, session, fn)
}

// candidates hands the gateways' trickled candidates, read by its own
// MQTT client (clean session, QoS 1 on {prefix}/+/live/+/candidate), to
// the live views waiting for them; and the playbacks' end notices
// ({prefix}/+/live/+/end) likewise.
type candidates struct {
	prefix string
	log    *slog.Logger

	mu       sync.Mutex
	watchers map[string]func(wire.LiveCandidateMsg)
	ends     map[string]func(wire.LiveEndMsg)
}

func (c *candidates) watchEnd(gw, session string, fn func(wire.LiveEndMsg)) func() {
	key := gw + "/" + session
	c.mu.Lock()
	if c.ends == nil {
		c.ends = map[string]func(wire.LiveEndMsg){}
	}
	c.ends[key] = fn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.ends, key)
		c.mu.Unlock()
	}
}

// maxEndPayload bounds one end notice.
const maxEndPayload = 1024

// decodeEnd reads a message on {prefix}/{gw}/live/{session}/end; the
// error says what is wrong with it.
func decodeEnd(prefix, topic string, payload []byte) (gw string, m wire.LiveEndMsg, err error) {
	gw, session, err := liveTopic(prefix, topic, "end")
	if err != nil {
		return "", m, err
	}
	if len(payload) > maxEndPayload {
		return "", m, fmt.Errorf("end notice of %s: %d bytes, over %d", gw, len(payload), maxEndPayload)
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", m, fmt.Errorf("end notice of %s: %v", gw, err)
	}
	if m.Session != session {
		return "", m, fmt.Errorf("end notice of %s: session %.40q on the topic of %s", gw, m.Session, session)
	}
	if len(m.Reason) > 300 || strings.ContainsAny(m.Reason, "\r\n\x00") {
		return "", m, fmt.Errorf("end notice of %s: reason of %d bytes or with line breaks", gw, len(m.Reason))
	}
	return gw, m, nil
}

func (c *candidates) onEnd(_ paho.Client, msg paho.Message) {
	gw, m, err := decodeEnd(c.prefix, msg.Topic(), msg.Payload())
	if err != nil {
		c.log.Warn("live end notice dropped", "err", err)
		return
	}
	c.mu.Lock()
	fn := c.ends[gw+"/"+m.Session]
	c.mu.Unlock()
	if fn != nil {
		fn(m)
	}
}

// liveTopic splits {prefix}/{gw}/live/{session}/{leaf}.
func liveTopic(prefix, topic, leaf string) (gw, session string, err error) {
	gw, rest, ok := wire.Split(prefix, topic)
	if !ok {
		return "", "", fmt.Errorf("topic %.80q: not under %s/{gateway}/", topic, prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] != wire.TopicLive || parts[2] != leaf {
		return "", "", fmt.Errorf("topic %.80q: not a live %s topic", topic, leaf)
	}
	session = parts[1]
	if len(session) != 32 || strings.Trim(session, "0123456789abcdef") != "" {
		return "", "", fmt.Errorf("topic %.80q: %.40q is not a session id", topic, session)
	}
	return gw, session, nil
}

func (c *candidates) watch(gw, session string, fn func(wire.LiveCandidateMsg)) func() {
	key := gw + "/" + session
	c.mu.Lock()
	c.watchers[key] = fn
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.watchers, key)
		c.mu.Unlock()
	}
}

// maxCandidatePayload bounds one candidate message.
const maxCandidatePayload = 2048

// decodeCandidate reads a message on {prefix}/{gw}/live/{session}/candidate;
// the error says what is wrong with it.
func decodeCandidate(prefix, topic string, payload []byte) (gw string, m wire.LiveCandidateMsg, err error) {
	gw, rest, ok := wire.Split(prefix, topic)
	if !ok {
		return "", m, fmt.Errorf("topic %.80q: not under %s/{gateway}/", topic, prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] != wire.TopicLive || parts[2] != "candidate" {
		return "", m, fmt.Errorf("topic %.80q: not a live candidate topic", topic)
	}
	session := parts[1]
	if len(session) != 32 || strings.Trim(session, "0123456789abcdef") != "" {
		return "", m, fmt.Errorf("topic %.80q: %.40q is not a session id", topic, session)
	}
	if len(payload) > maxCandidatePayload {
		return "", m, fmt.Errorf("candidate of %s: %d bytes, over %d", gw, len(payload), maxCandidatePayload)
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", m, fmt.Errorf("candidate of %s: %v", gw, err)
	}
	if m.Session != session {
		return "", m, fmt.Errorf("candidate of %s: session %.40q on the topic of %s", gw, m.Session, session)
	}
	if m.Candidate != "" && (!strings.HasPrefix(m.Candidate, "candidate:") || len(m.Candidate) > 512 || strings.ContainsAny(m.Candidate, "\r\n")) {
		return "", m, fmt.Errorf("candidate of %s: %.60q is not an ICE candidate", gw, m.Candidate)
	}
	if len(m.SDPMid) > 32 || strings.ContainsAny(m.SDPMid, " \t\r\n") {
		return "", m, fmt.Errorf("candidate of %s: sdp_mid %.40q", gw, m.SDPMid)
	}
	return gw, m, nil
}

func (c *candidates) onMessage(_ paho.Client, msg paho.Message) {
	gw, m, err := decodeCandidate(c.prefix, msg.Topic(), msg.Payload())
	if err != nil {
		c.log.Warn("live candidate dropped", "err", err)
		return
	}
	c.mu.Lock()
	fn := c.watchers[gw+"/"+m.Session]
	c.mu.Unlock()
	if fn != nil {
		fn(m)
	}
}

// run subscribes with its own client until ctx ends: the station's
// persistent console session is left as it is, and candidates, which
// matter only for seconds, are never queued for a station that is away.
func (c *candidates) run(ctx context.Context, cc console.Config) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	filter := c.prefix + "/+/" + wire.TopicLive + "/+/candidate"
	endFilter := c.prefix + "/+/" + wire.TopicLive + "/+/end"
	o := paho.NewClientOptions().
		SetClientID(cc.ClientID + "-live-" + hex.EncodeToString(rnd[:])).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetUsername(cc.Username).
		SetPassword(cc.Password)
	if cc.Dial != nil {
		o.AddBroker("tcp://embedded")
		o.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) { return cc.Dial(ctx) })
	} else {
		o.AddBroker(cc.Broker)
		if cc.TLS != nil {
			o.SetTLSConfig(cc.TLS)
		}
	}
	o.SetOnConnectHandler(func(cl paho.Client) {
		go func() {
			tok := cl.SubscribeMultiple(map[string]byte{filter: 1, endFilter: 1}, func(cl paho.Client, m paho.Message) {
				if strings.HasSuffix(m.Topic(), "/end") {
					c.onEnd(cl, m)
				} else {
					c.onMessage(cl, m)
				}
			})
			if tok.WaitTimeout(10*time.Second) && tok.Error() != nil {
				c.log.Error("live candidates: subscribe", "err", tok.Error(), "filters", []string{filter, endFilter})
			}
		}()
	})
	cl := paho.NewClient(o)
	cl.Connect()
	<-ctx.Done()
	cl.Disconnect(250)
}

// liveEnv is what startLive needs of the station's other settings.
type liveEnv struct {
	console                        console.Config
	con                            *console.Console
	brokerListen                   string
	external                       bool
	web                            *web.Config
	brokerCert, brokerKey, dataDir string
}

// startLive starts the TURN server (unless -turn "") and the candidate
// subscription, and returns the console's Commander with live view.
func startLive(ctx context.Context, f *liveFlags, env liveEnv, logger *slog.Logger, stderr io.Writer) (*stationLive, func(), error) {
	if f.session < minLiveSession || f.session > maxLiveSession {
		return nil, nil, fmt.Errorf("-live-session %s: want %s to %s", f.session, minLiveSession, maxLiveSession)
	}
	host, _, _ := net.SplitHostPort(env.brokerListen)
	if env.external {
		host, _, _ = net.SplitHostPort(env.web.Listen)
	}
	tlsCfg := func(name string) (*tls.Config, error) {
		return liveTLS(env.brokerCert, env.brokerKey, env.web.CertFile, env.web.KeyFile, env.dataDir, name)
	}
	ts, err := startTURN(f, host, tlsCfg, logger, stderr)
	if err != nil {
		return nil, nil, err
	}
	cc := env.console
	cands := &candidates{prefix: cmpOr(cc.Prefix, wire.DefaultPrefix), log: logger.With("component", "live"),
		watchers: map[string]func(wire.LiveCandidateMsg){}}
	cc.ClientID = cmpOr(cc.ClientID, console.DefaultClientID)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cands.run(cctx, cc)
	}()
	return &stationLive{Console: env.con, turn: ts, cands: cands, session: f.session}, func() {
		cancel()
		<-done
		if ts != nil {
			_ = ts.Close()
		}
	}, nil
}
