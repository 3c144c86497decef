package rtsp

import (
	"github.com/antt-gateway/antt/device/camera/httpauth"

	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transport selects how RTP reaches the client.
type Transport int

const (
	// TCP carries RTP and RTCP inside the RTSP connection ($-framed). It is
	// the default: it passes NAT and firewalls and never loses packets. With
	// rtsps:// the media is then inside TLS too.
	TCP Transport = iota
	// UDP receives RTP and RTCP on a pair of local ports. It is refused for
	// rtsps:// URLs: the media would need SRTP, which this client lacks, and
	// sending it in clear beside an encrypted session would defeat rtsps.
	UDP
)

func (t Transport) String() string {
	if t == UDP {
		return "udp"
	}
	return "tcp"
}

// Defaults for Config fields left zero.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultStallTimeout   = 10 * time.Second
	DefaultSessionTimeout = 60 * time.Second
	DefaultMaxRedirects   = 3
	defaultUserAgent      = "antt-gateway"
)

// Config tunes a Client. The zero value is usable.
type Config struct {
	Transport Transport
	// Timeout bounds every request/response step (connect, each request).
	Timeout time.Duration
	// StallTimeout ends Run with ErrStalled when no RTP arrives for this long.
	StallTimeout time.Duration
	// MaxRedirects bounds 3xx redirects followed by Options and Describe.
	MaxRedirects int
	// MaxHeaderBytes and MaxBodyBytes bound each message read from the server.
	MaxHeaderBytes int
	MaxBodyBytes   int
	UserAgent      string
	Logger         *slog.Logger
	// TLSFingerprint pins an rtsps:// camera's own certificate: the SHA-256
	// of its leaf certificate in hex, colons and case ignored (see
	// ParseFingerprint). When set it replaces chain and host name
	// verification, which is what a camera with a self-signed certificate
	// needs; a certificate that does not match is refused, also after a
	// redirect to another host. It is an error with an rtsp:// URL, where
	// it would protect nothing.
	TLSFingerprint string
	// RootCAs verifies rtsps:// cameras when TLSFingerprint is empty; nil
	// means the system's roots. The host name is always checked.
	RootCAs *x509.CertPool
}

func (c *Config) fill() {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MaxRedirects <= 0 {
		c.MaxRedirects = DefaultMaxRedirects
	}
	if c.UserAgent == "" {
		c.UserAgent = defaultUserAgent
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors callers may test for with errors.Is.
var (
	// ErrUnauthorized: the camera refused the credentials (or none were given).
	ErrUnauthorized = errors.New("rtsp: unauthorized")
	// ErrStalled: the session was up but no RTP arrived for StallTimeout.
	ErrStalled = errors.New("rtsp: no media received")
)

// StatusError is a non-success answer from the camera.
type StatusError struct {
	Method string
	URL    string // redacted
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("rtsp %s %s: %d %s", e.Method, e.URL, e.Code, e.Reason)
}

// Is makes a 401 match ErrUnauthorized.
func (e *StatusError) Is(target error) bool { return target == ErrUnauthorized && e.Code == 401 }

// Packet is one RTP or RTCP packet. Data is only valid during the handler
// call; it is reused for the next packet.
type Packet struct {
	Track int // index of the Setup call that created the stream, from 0
	RTCP  bool
	Data  []byte
}

type track struct {
	media      Media
	rtp, rtcp  *net.UDPConn
	serverAddr netip.Addr
}

type chanTarget struct {
	track int16
	rtcp  bool
	ok    bool
}

// Client is one RTSP session with one camera. Its methods are used in the
// order Options, Describe, Setup (per media), Play, Run, Close; they are not
// safe for concurrent use, except that Close may be called at any time.
type Client struct {
	cfg    Config
	url    *url.URL // request URL, without user information
	auth   httpauth.Responder
	hasPwd bool
	secure bool               // the connection is TLS (rtsps)
	basic  atomic.Bool        // credentials went as Basic over a connection without TLS
	pin    *[sha256.Size]byte // parsed Config.TLSFingerprint; nil without one

	conn net.Conn
	rd   *reader
	wmu  sync.Mutex // guards wbuf, cseq and writes on conn
	wbuf bytes.Buffer
	cseq int

	public   string
	desc     *Description
	session  string
	sessTO   time.Duration
	tracks   []track
	chans    [256]chanTarget
	closeMu  sync.Mutex
	closed   bool
	playing  bool
	lastRecv atomic.Int64 // nanoseconds since runStart
}

// BasicInClear reports whether the client has sent the URL's credentials
// as Basic authentication over a connection without TLS: the camera asked
// for Basic on rtsp://, so anyone on the path could read the password. Only
// the camera's answer tells which scheme it wants. Safe to call at any time.
func (c *Client) BasicInClear() bool { return c.basic.Load() }

// Dial connects to the camera at rawURL (rtsp://[user:pass@]host[:port]/path,
// or rtsps:// for RTSP over TLS, port 322 by default). Credentials in the
// URL are used for authentication and never sent or logged otherwise. A
// camera whose certificate is refused gives a *CertificateError.
func Dial(ctx context.Context, rawURL string, cfg Config) (*Client, error) {
	cfg.fill()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rtsp: parse url %s: %w", Redact(rawURL), errors.Unwrap(err))
	}
	c := &Client{cfg: cfg}
	if cfg.TLSFingerprint != "" {
		if !strings.EqualFold(u.Scheme, "rtsps") {
			return nil, fmt.Errorf("rtsp: url %s: a tls fingerprint needs an rtsps:// url", Redact(rawURL))
		}
		pin, err := ParseFingerprint(cfg.TLSFingerprint)
		if err != nil {
			return nil, fmt.Errorf("rtsp: url %s: %w", Redact(rawURL), err)
		}
		c.pin = &pin
	}
	if err := c.connect(ctx, u); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) connect(ctx context.Context, u *url.URL) error {
	secure := strings.EqualFold(u.Scheme, "rtsps")
	c.secure = secure
	if !secure && !strings.EqualFold(u.Scheme, "rtsp") {
		return fmt.Errorf("rtsp: url %s: scheme %q not supported (want rtsp or rtsps)", Redact(u.String()), u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("rtsp: url %s has no host", Redact(u.String()))
	}
	if secure && c.cfg.Transport == UDP {
		return fmt.Errorf("rtsp: url %s: UDP transport is not supported with rtsps (the media would need SRTP, which is not supported); use TCP", Redact(u.String()))
	}
	if u.User != nil {
		c.auth = httpauth.Responder{User: u.User.Username()}
		c.auth.Pass, c.hasPwd = u.User.Password()
		c.hasPwd = true
	}
	clean := *u
	clean.User = nil
	c.url = &clean
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", dialAddress(u))
	if err != nil {
		return fmt.Errorf("rtsp: connect %s: %w", Redact(u.String()), err)
	}
	if secure {
		if conn, err = c.handshake(dctx, conn, u.Hostname(), Redact(u.String())); err != nil {
			return err
		}
	}
	c.conn = conn
	c.rd = newReader(conn, c.cfg.MaxHeaderBytes, c.cfg.MaxBodyBytes)
	return nil
}

// dialAddress is u's host:port, with the scheme's default port.
func dialAddress(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "554"
	if strings.EqualFold(u.Scheme, "rtsps") {
		port = DefaultTLSPort
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// URL returns the current request URL (after redirects), without credentials.
func (c *Client) URL() string { return c.url.String() }

// SessionTimeout is the keep-alive deadline the camera announced (default 60 s).
func (c *Client) SessionTimeout() time.Duration { return c.sessTO }

// Description returns the last DESCRIBE answer.
func (c *Client) Description() *Description { return c.desc }

// stepDeadline bounds one request/response exchange by the step timeout and
// the context, and unblocks a pending read when the context ends.
func (c *Client) stepDeadline(ctx context.Context) func() {
	d := time.Now().Add(c.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
		d = dl
	}
	_ = c.conn.SetDeadline(d)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

func (c *Client) writeRequest(q *request) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.cseq++
	c.wbuf.Reset()
	authz := c.auth.Header(q.method, q.url)
	if authz != "" && !c.secure && c.auth.Scheme() == "basic" {
		c.basic.Store(true)
	}
	q.write(&c.wbuf, c.cseq, c.cfg.UserAgent, c.session, authz)
	_, err := c.conn.Write(c.wbuf.Bytes())
	return c.cseq, err
}

// roundTrip sends q and returns the matching response, answering an
// authentication challenge once (again when the nonce went stale).
func (c *Client) roundTrip(ctx context.Context, q *request) (*response, error) {
	done := c.stepDeadline(ctx)
	defer done()
	wrap := func(what string, err error) error {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("rtsp %s %s: %s: %w", q.method, Redact(q.url), what, err)
	}
	for attempt := 0; ; attempt++ {
		cseq, err := c.writeRequest(q)
		if err != nil {
			return nil, wrap("write", err)
		}
		var resp *response
		for resp == nil {
			m, err := c.rd.next(nil)
			if err != nil {
				return nil, wrap("read response", err)
			}
			if m.reqMethod != "" {
				c.answerServer(m)
				continue
			}
			if got := m.resp.CSeq(); got != cseq && got != -1 {
				continue // answer to an earlier request (a keep-alive)
			}
			resp = m.resp
		}
		if resp.StatusCode != 401 {
			return resp, nil
		}
		se := &StatusError{Method: q.method, URL: Redact(q.url), Code: 401, Reason: resp.Reason}
		cs := httpauth.ParseChallenges(resp.Header.Values("Www-Authenticate"))
		ch := httpauth.Pick(cs)
		switch {
		case !c.hasPwd:
			return nil, fmt.Errorf("%w: camera requires credentials and the url has none", se)
		case ch == nil:
			return nil, fmt.Errorf("%w: no supported authentication scheme offered", se)
		case attempt >= 3:
			return nil, fmt.Errorf("%w: authentication did not converge", se)
		case c.auth.Answering() && attempt > 0 && !strings.EqualFold(ch.Params["stale"], "true"):
			return nil, fmt.Errorf("%w: wrong user name or password", se)
		}
		c.auth.SetChallenge(ch)
	}
}

// answerServer replies to requests a camera sends to its client.
func (c *Client) answerServer(m message) {
	code := "501 Not Implemented"
	if m.reqMethod == "OPTIONS" || m.reqMethod == "GET_PARAMETER" {
		code = "200 OK"
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
	fmt.Fprintf(c.conn, "RTSP/1.0 %s\r\nCSeq: %s\r\n\r\n", code, strings.TrimSpace(m.reqCSeq))
}

func (c *Client) expectOK(q *request, resp *response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &StatusError{Method: q.method, URL: Redact(q.url), Code: resp.StatusCode, Reason: resp.Reason}
}

// follow performs q, following up to MaxRedirects redirects to a new URL
// (reconnecting when the host changes).
func (c *Client) follow(ctx context.Context, method string, header [][2]string) (*response, error) {
	for hops := 0; ; hops++ {
		q := &request{method: method, url: c.url.String(), header: header}
		resp, err := c.roundTrip(ctx, q)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return resp, c.expectOK(q, resp)
		}
		loc := resp.Header.Get("Location")
		if loc == "" {
			return nil, fmt.Errorf("%w (redirect without Location)", c.expectOK(q, resp))
		}
		if hops >= c.cfg.MaxRedirects {
			return nil, fmt.Errorf("rtsp %s %s: more than %d redirects", method, Redact(q.url), c.cfg.MaxRedirects)
		}
		nu, err := c.url.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("%w: redirect Location %s", ErrMalformed, Redact(loc))
		}
		if strings.EqualFold(c.url.Scheme, "rtsps") && !strings.EqualFold(nu.Scheme, "rtsps") {
			return nil, fmt.Errorf("rtsp %s %s: redirect to %s refused: it would drop TLS (downgrade from rtsps)", method, Redact(q.url), Redact(nu.String()))
		}
		c.cfg.Logger.Info("rtsp redirect", "from", Redact(q.url), "to", Redact(nu.String()))
		if nu.User == nil && c.hasPwd {
			nu.User = url.UserPassword(c.auth.User, c.auth.Pass)
		}
		_ = c.conn.Close()
		c.auth.Reset()
		if err := c.connect(ctx, nu); err != nil {
			return nil, err
		}
	}
}

// Options asks what the camera supports; the answer picks the keep-alive method.
func (c *Client) Options(ctx context.Context) error {
	resp, err := c.follow(ctx, "OPTIONS", nil)
	if err != nil {
		return err
	}
	c.public = resp.Header.Get("Public")
	return nil
}

// Describe fetches and parses the session description.
func (c *Client) Describe(ctx context.Context) (*Description, error) {
	resp, err := c.follow(ctx, "DESCRIBE", [][2]string{{"Accept", "application/sdp"}})
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/sdp") {
		return nil, fmt.Errorf("rtsp DESCRIBE %s: content type %q is not application/sdp", Redact(c.url.String()), ct)
	}
	base := c.url
	for _, h := range []string{"Content-Base", "Content-Location"} {
		if v := resp.Header.Get(h); v != "" {
			u, err := c.url.Parse(v)
			if err != nil {
				return nil, fmt.Errorf("%w: %s %.80q", ErrMalformed, h, Redact(v))
			}
			u.User = nil
			base = u
			break
		}
	}
	d, err := ParseDescription(resp.Body, base)
	if err != nil {
		return nil, fmt.Errorf("rtsp DESCRIBE %s: %w", Redact(c.url.String()), err)
	}
	c.desc = d
	return d, nil
}

// Setup asks the camera to send one media, over the configured transport,
// and returns its track number (the Track of its packets in Run).
func (c *Client) Setup(ctx context.Context, m Media) (int, error) {
	if len(c.tracks) >= 127 {
		return 0, errors.New("rtsp: too many tracks")
	}
	idx := len(c.tracks)
	t := track{media: m}
	var tr string
	if c.cfg.Transport == UDP {
		local := c.conn.LocalAddr().(*net.TCPAddr).IP
		rtp, rtcp, err := listenPair(local)
		if err != nil {
			return 0, fmt.Errorf("rtsp SETUP %s: %w", Redact(m.Control.String()), err)
		}
		t.rtp, t.rtcp = rtp, rtcp
		p := rtp.LocalAddr().(*net.UDPAddr).Port
		tr = fmt.Sprintf("RTP/AVP;unicast;client_port=%d-%d", p, p+1)
	} else {
		tr = fmt.Sprintf("RTP/AVP/TCP;unicast;interleaved=%d-%d", 2*idx, 2*idx+1)
	}
	closeUDP := func() {
		if t.rtp != nil {
			_ = t.rtp.Close()
			_ = t.rtcp.Close()
		}
	}
	q := &request{method: "SETUP", url: stripUser(m.Control), header: [][2]string{{"Transport", tr}}}
	resp, err := c.roundTrip(ctx, q)
	if err == nil {
		err = c.expectOK(q, resp)
	}
	if err != nil {
		closeUDP()
		return 0, err
	}
	if err := c.parseSession(resp.Header.Get("Session")); err != nil {
		closeUDP()
		return 0, err
	}
	got := parseTransport(resp.Header.Get("Transport"))
	if c.cfg.Transport == TCP {
		a, b, ok := got.interleaved()
		if !ok {
			return 0, fmt.Errorf("rtsp SETUP %s: camera answered transport %.80q, not interleaved TCP", Redact(q.url), resp.Header.Get("Transport"))
		}
		c.chans[a] = chanTarget{track: int16(idx), ok: true}
		c.chans[b] = chanTarget{track: int16(idx), rtcp: true, ok: true}
	} else {
		if _, _, ok := got.interleaved(); ok {
			closeUDP()
			return 0, fmt.Errorf("rtsp SETUP %s: camera answered interleaved TCP to a UDP request", Redact(q.url))
		}
		t.serverAddr = c.conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		if src := got["source"]; src != "" {
			if a, err := netip.ParseAddr(src); err == nil {
				t.serverAddr = a.Unmap()
			}
		}
	}
	c.tracks = append(c.tracks, t)
	return idx, nil
}

func (c *Client) parseSession(v string) error {
	if v == "" {
		if c.session == "" {
			return fmt.Errorf("%w: SETUP answer has no Session header", ErrMalformed)
		}
		return nil
	}
	id, params, _ := strings.Cut(v, ";")
	id = strings.TrimSpace(id)
	if id == "" || len(id) > 256 {
		return fmt.Errorf("%w: Session header %.80q", ErrMalformed, v)
	}
	c.session = id
	c.sessTO = DefaultSessionTimeout
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "timeout") {
			if n, err := strconv.Atoi(val); err == nil && n > 0 && n < 86400 {
				c.sessTO = time.Duration(n) * time.Second
			}
		}
	}
	return nil
}

type transportParams map[string]string

func parseTransport(v string) transportParams {
	t := transportParams{}
	first, _, _ := strings.Cut(v, ",") // the camera picks one; take the first
	for _, p := range strings.Split(first, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		t[strings.ToLower(k)] = val
	}
	return t
}

func (t transportParams) interleaved() (byte, byte, bool) {
	v, ok := t["interleaved"]
	if !ok {
		return 0, 0, false
	}
	as, bs, found := strings.Cut(v, "-")
	a, err := strconv.ParseUint(as, 10, 8)
	if err != nil {
		return 0, 0, false
	}
	b := a + 1
	if found {
		if b, err = strconv.ParseUint(bs, 10, 8); err != nil {
			return 0, 0, false
		}
	}
	if b > 255 {
		return 0, 0, false
	}
	return byte(a), byte(b), true
}

func listenPair(ip net.IP) (*net.UDPConn, *net.UDPConn, error) {
	var lastErr error
	for range 32 {
		a, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p >= 65535 {
			_ = a.Close()
			continue
		}
		b, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p + 1})
		if err != nil {
			lastErr = err
			_ = a.Close()
			continue
		}
		_ = a.SetReadBuffer(1 << 20)
		return a, b, nil
	}
	return nil, nil, fmt.Errorf("no free even/odd udp port pair: %v", lastErr)
}

// Play starts the stream.
func (c *Client) Play(ctx context.Context) error {
	if len(c.tracks) == 0 {
		return errors.New("rtsp: PLAY before any SETUP")
	}
	q := &request{method: "PLAY", url: stripUser(c.desc.Control), header: [][2]string{{"Range", "npt=0.000-"}}}
	resp, err := c.roundTrip(ctx, q)
	if err != nil {
		return err
	}
	if err := c.expectOK(q, resp); err != nil {
		return err
	}
	c.playing = true
	return nil
}

func (c *Client) keepAliveRequest() *request {
	if strings.Contains(strings.ToUpper(c.public), "GET_PARAMETER") {
		return &request{method: "GET_PARAMETER", url: stripUser(c.desc.Control)}
	}
	return &request{method: "OPTIONS", url: stripUser(c.desc.Control)}
}

// Run delivers packets to handle until ctx ends or the session fails. It
// keeps the session alive (before the camera's session timeout) and returns
// ErrStalled when no RTP arrives for StallTimeout. handle is never called
// concurrently. Run returns ctx's error when the context ended it.
func (c *Client) Run(ctx context.Context, handle func(Packet)) error {
	if !c.playing {
		return errors.New("rtsp: Run before PLAY")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	c.lastRecv.Store(0)
	var hmu sync.Mutex
	deliver := func(p Packet) {
		if !p.RTCP {
			c.lastRecv.Store(int64(time.Since(start)))
		}
		hmu.Lock()
		handle(p)
		hmu.Unlock()
	}
	_ = c.conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	var wg sync.WaitGroup
	wg.Go(func() { cancel(c.readTCP(deliver)) })
	for i := range c.tracks {
		t := &c.tracks[i]
		if t.rtp == nil {
			continue
		}
		for j, conn := range []*net.UDPConn{t.rtp, t.rtcp} {
			stopU := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
			defer stopU()
			wg.Go(func() { cancel(c.readUDP(conn, i, j == 1, t.serverAddr, deliver)) })
		}
	}
	wg.Go(func() { cancel(c.keepAlive(ctx, start)) })
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func (c *Client) readTCP(deliver func(Packet)) error {
	onFrame := func(ch byte, data []byte) {
		t := c.chans[ch]
		if t.ok {
			deliver(Packet{Track: int(t.track), RTCP: t.rtcp, Data: data})
		}
	}
	for {
		m, err := c.rd.next(onFrame)
		if err != nil {
			return fmt.Errorf("rtsp %s: read: %w", Redact(c.url.String()), err)
		}
		if m.reqMethod != "" {
			c.answerServer(m)
			continue
		}
		r := m.resp
		switch {
		case r.StatusCode == 401:
			// Some cameras renew the nonce on keep-alives.
			if ch := httpauth.Pick(httpauth.ParseChallenges(r.Header.Values("Www-Authenticate"))); ch != nil && c.hasPwd {
				c.wmu.Lock()
				c.auth.SetChallenge(ch)
				c.wmu.Unlock()
			}
		case r.StatusCode == 454:
			return fmt.Errorf("rtsp %s: keep-alive: %d %s (session gone)", Redact(c.url.String()), r.StatusCode, r.Reason)
		case r.StatusCode >= 300:
			c.cfg.Logger.Debug("rtsp keep-alive answered", "url", Redact(c.url.String()), "status", r.StatusCode)
		}
	}
}

func (c *Client) readUDP(conn *net.UDPConn, tr int, rtcp bool, from netip.Addr, deliver func(Packet)) error {
	buf := make([]byte, 65536)
	for {
		n, addr, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("rtsp %s: read udp: %w", Redact(c.url.String()), err)
		}
		if from.IsValid() && addr.Addr().Unmap() != from {
			continue // not from the camera: ignore rather than inject
		}
		deliver(Packet{Track: tr, RTCP: rtcp, Data: buf[:n]})
	}
}

func (c *Client) keepAlive(ctx context.Context, start time.Time) error {
	interval := c.sessTO / 2
	if interval < time.Second {
		interval = time.Second
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastKA := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			if time.Duration(int64(time.Since(start))-c.lastRecv.Load()) > c.cfg.StallTimeout {
				return fmt.Errorf("rtsp %s: %w for %v", Redact(c.url.String()), ErrStalled, c.cfg.StallTimeout)
			}
			if now.Sub(lastKA) < interval {
				continue
			}
			lastKA = now
			_ = c.conn.SetWriteDeadline(now.Add(c.cfg.Timeout))
			if _, err := c.writeRequest(c.keepAliveRequest()); err != nil {
				return fmt.Errorf("rtsp %s: keep-alive: %w", Redact(c.url.String()), err)
			}
		}
	}
}

// Close ends the session: a best-effort TEARDOWN, then the connection and
// UDP sockets are closed. Safe to call more than once.
func (c *Client) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.session != "" && c.desc != nil {
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.writeRequest(&request{method: "TEARDOWN", url: stripUser(c.desc.Control)})
	}
	for _, t := range c.tracks {
		if t.rtp != nil {
			_ = t.rtp.Close()
			_ = t.rtcp.Close()
		}
	}
	return c.conn.Close()
}
