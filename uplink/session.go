// Package uplink is the gateway's MQTT session with its station: it drains the
// outbox onto the event topic, keeps the retained status (birth, will, clean
// stop), publishes telemetry and answers commands.
//
// What it promises:
//
//   - At-least-once, in-order delivery of the Queue. A message is acknowledged
//     in the Queue only after its own PUBACK arrived. After every connection
//     loss the window restarts from the oldest message still in the Queue, so a
//     loss costs at most Window duplicates and never a gap.
//   - paho is used as a wire codec only: AutoReconnect and ConnectRetry are
//     off, the session is clean and the paho store is in memory. Every
//     connection uses a fresh paho client, so no token, message id or stored
//     packet of an earlier connection can complete (or falsely complete) a
//     publish of a later one. Tokens outstanding when a connection dies are
//     abandoned, never waited for.
//   - The retained status topic always ends up telling the truth: a birth on
//     every connection (with the outbox's epoch), the will when the TCP
//     connection dies, and an explicit offline status on a clean stop.
//   - Bounded memory with large messages (snapshots): at most 256 messages
//     or 1 MiB are read ahead of the window, and at most Window messages or
//     4 MiB are in flight; a single larger message still goes, alone.
//
// Commands arrive on cmd/{name} as {"id":R, ...args} and are answered on
// reply/{R}. A command whose id cannot be used as a topic level is answered on
// reply/_ (see ReplyInvalid).
package uplink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Message is one stored event as the Queue hands it out.
type Message struct {
	Seq     uint64
	Payload []byte // the event JSON, published as is
	// Attachment (a camera snapshot), nil when none, is published on
	// snapshot/{seq} right after the event; the message is acked only once
	// both are PUBACKed.
	Attachment []byte
}

// Queue is the part of the outbox the session needs. Implementations must be
// safe for use by one session goroutine while others append.
type Queue interface {
	// Peek returns up to max of the oldest messages with Seq > after, in
	// ascending Seq order, without removing them. It stops early once the
	// messages' payloads and attachments reach maxBytes, but always returns
	// at least one message when there is one.
	Peek(after uint64, max int, maxBytes int64) ([]Message, error)
	// Ack removes delivered messages. Seqs may come in any order and may name
	// messages already gone.
	Ack(seqs ...uint64) error
	// Notify is signalled (a non-blocking send on a buffered channel is
	// enough) after new messages are committed.
	Notify() <-chan struct{}
}

// Defaults applied by New to zero Config fields.
const (
	DefaultKeepAlive         = 30 * time.Second
	DefaultTelemetryInterval = 60 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	// DefaultWindow is sized for a broker that PUBACKs only after its
	// store committed (the station's): every commit costs the station a
	// fixed ~11 pages and two fsyncs however few events it holds, and a
	// window of 512 (of which ~110 wait for the outbox's own ack commit)
	// left it ~150 events per commit. 1,024 is the station's bound per
	// client (broker.MaxUnacked), so its read loop never waits on it;
	// measured in docs/performance.md. It bounds a crash's duplicates.
	DefaultWindow     = 1024
	DefaultBackoffMin = 500 * time.Millisecond
	DefaultBackoffMax = 60 * time.Second
)

// Config says where and how to connect. Zero fields take the Default values.
type Config struct {
	Broker   *url.URL // mqtt://host[:1883] or mqtts://host[:8883]
	Prefix   string   // first topic level, wire.DefaultPrefix if empty
	Gateway  string   // gateway id, must satisfy wire.ValidID
	ClientID string   // MQTT client id, the gateway id if empty (the station's broker requires it)
	Username string
	Password string      // never logged
	TLS      *tls.Config // used for mqtts; nil means system roots
	// KeepAlive is the MQTT keepalive; a dead connection is noticed within
	// about 1.5 of it.
	KeepAlive         time.Duration
	TelemetryInterval time.Duration
	ConnectTimeout    time.Duration // TCP + TLS + CONNACK
	Window            int           // max QoS 1 events in flight
	Version, Boot     string        // carried in the birth (and will) status
	Epoch             string        // the outbox's epoch, carried in the birth
	Started           time.Time
	// Backoff bounds the reconnect delay: capped exponential with full
	// jitter, reset after a connection that stayed up min(Max, 1 min).
	Backoff struct{ Min, Max time.Duration }
}

// State is a snapshot of the session for status pages and the status command.
type State struct {
	Connected       bool      `json:"connected"`
	Since           time.Time `json:"since,omitzero"` // when Connected last changed
	LastError       string    `json:"last_error,omitempty"`
	Reconnects      int       `json:"reconnects"` // successful connections after the first
	InFlight        int       `json:"in_flight"`
	Published       uint64    `json:"published"` // event publishes, re-sends included
	Acked           uint64    `json:"acked"`     // events acknowledged in the Queue
	Commands        uint64    `json:"commands"`
	CommandsDropped uint64    `json:"commands_dropped,omitempty"` // arrived while the command queue was full
}

// Session is one gateway's MQTT session. Create it with New and call Run once.
type Session struct {
	cfg    Config
	topics wire.Topics
	q      Queue
	router *Router
	tele   func() wire.Telemetry
	log    *slog.Logger

	cmds chan inbound // paho callback → dispatcher

	mu         sync.Mutex
	client     mqtt.Client // current connected client, nil when down
	connected  bool
	since      time.Time
	lastErr    string
	connects   int
	inFlight   atomic.Int64
	published  atomic.Uint64
	acked      atomic.Uint64
	commands   atomic.Uint64
	cmdDropped atomic.Uint64

	// lastLoop is when a loop of Run last went round, in nanoseconds since
	// loopBase (0: not yet); see LastLoop.
	loopBase time.Time
	lastLoop atomic.Int64
}

// New prepares a session; nothing happens until Run. r may be nil; the
// built-in ping and status commands are added to it unless already handled.
// tele may be nil (no telemetry).
func New(cfg Config, q Queue, r *Router, tele func() wire.Telemetry, log *slog.Logger) *Session {
	if cfg.Prefix == "" {
		cfg.Prefix = wire.DefaultPrefix
	}
	if cfg.ClientID == "" {
		cfg.ClientID = cfg.Gateway
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.TelemetryInterval <= 0 {
		cfg.TelemetryInterval = DefaultTelemetryInterval
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Backoff.Min <= 0 {
		cfg.Backoff.Min = DefaultBackoffMin
	}
	if cfg.Backoff.Max <= 0 {
		cfg.Backoff.Max = DefaultBackoffMax
	}
	if cfg.Backoff.Max < cfg.Backoff.Min {
		cfg.Backoff.Max = cfg.Backoff.Min
	}
	if r == nil {
		r = NewRouter()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		cfg:    cfg,
		topics: wire.Topics{Prefix: cfg.Prefix, Gateway: cfg.Gateway},
		q:      q,
		router: r,
		tele:   tele,
		log:    log,
		cmds:   make(chan inbound, cmdQueueLen),

		loopBase: time.Now(),
	}
	r.handleDefault("ping", s.ping)
	r.handleDefault("status", s.status)
	return s
}

// State returns a snapshot of the session.
func (s *Session) State() State {
	s.mu.Lock()
	st := State{Connected: s.connected, Since: s.since, LastError: s.lastErr}
	if s.connects > 1 {
		st.Reconnects = s.connects - 1
	}
	s.mu.Unlock()
	st.InFlight = int(s.inFlight.Load())
	st.Published = s.published.Load()
	st.Acked = s.acked.Load()
	st.Commands = s.commands.Load()
	st.CommandsDropped = s.cmdDropped.Load()
	return st
}

// LastLoop is when the publisher loop or the reconnect loop (including its
// backoff wait) last went round; the zero time before Run. A session that is
// down and retrying counts as making progress: what it tells a watchdog is
// that Run is not stuck, not that the broker is reachable. While Run runs it
// advances at least every MaxLoopGap. The result carries a monotonic
// reading, so time.Since on it is immune to the wall clock being set (as
// NTP does after a boot at 1970).
func (s *Session) LastLoop() time.Time {
	n := s.lastLoop.Load()
	if n == 0 {
		return time.Time{}
	}
	return s.loopBase.Add(time.Duration(n))
}

// MaxLoopGap is the longest LastLoop may stand still while Run works
// normally. The longest waits are a connection attempt given up on (connect
// timeout, plus the time allowed for a late CONNACK to be torn down) and an
// idle publisher loop, which goes round at least every ackTimeout/3 and then
// may wait up to the connect timeout for paho to report the loss.
func (s *Session) MaxLoopGap() time.Duration {
	ct := s.cfg.ConnectTimeout
	connecting := 2*ct + 6*time.Second
	connected := s.ackTimeout()/3 + ct
	return max(connecting, connected, loopBeat)
}

// loopBeat is how often the backoff wait stamps LastLoop.
const loopBeat = time.Second

// beat stamps LastLoop.
func (s *Session) beat() {
	s.lastLoop.Store(max(int64(time.Since(s.loopBase)), 1))
}

// ackTimeout bounds the wait for a PUBACK on a live connection.
func (s *Session) ackTimeout() time.Duration { return max(3*s.cfg.KeepAlive, 30*time.Second) }

// Run owns the connection until ctx ends: connect, publish, back off and
// reconnect on any failure. When ctx ends it publishes the offline status (if
// connected), disconnects, waits for running command handlers and returns
// nil. It returns an error only for a configuration it cannot use.
func (s *Session) Run(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.dispatch(ctx) })

	stable := min(s.cfg.Backoff.Max, time.Minute)
	attempt := 0
	for {
		s.beat()
		up, err := s.connection(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if up >= stable {
			attempt = 0
		}
		s.setDown(err)
		d := backoff(s.cfg.Backoff.Min, s.cfg.Backoff.Max, attempt)
		attempt++
		s.log.Warn("uplink down", "broker", s.cfg.Broker.Redacted(), "err", err, "retry_in", d.Round(time.Millisecond))
		if !s.pause(ctx, d) {
			return nil
		}
	}
}

// pause waits d for the next attempt, stamping LastLoop meanwhile; it
// reports false when ctx ended first.
func (s *Session) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	beat := time.NewTicker(loopBeat)
	defer beat.Stop()
	for {
		s.beat()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-beat.C:
		}
	}
}

func (s *Session) check() error {
	if s.q == nil {
		return errors.New("uplink: no queue")
	}
	if s.cfg.Broker == nil {
		return errors.New("uplink: no broker URL")
	}
	switch s.cfg.Broker.Scheme {
	case "mqtt", "tcp", "mqtts", "ssl", "tls":
	default:
		return fmt.Errorf("uplink: broker %s: scheme must be mqtt or mqtts", s.cfg.Broker.Redacted())
	}
	if s.cfg.Broker.Hostname() == "" {
		return fmt.Errorf("uplink: broker %s: no host", s.cfg.Broker.Redacted())
	}
	if !wire.ValidID(s.cfg.Gateway) {
		return fmt.Errorf("uplink: gateway id %q: want [a-z0-9][a-z0-9-]{0,62}", s.cfg.Gateway)
	}
	return nil
}

// backoff is capped exponential with full jitter: uniform in (0, min(max, lo·2^attempt)].
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := hi
	if attempt < 30 && lo<<attempt < hi && lo<<attempt > 0 {
		d = lo << attempt
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

func (s *Session) setDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected {
		s.since = time.Now()
	}
	s.connected = false
	s.client = nil
	if err != nil {
		s.lastErr = err.Error()
	}
	s.inFlight.Store(0)
}

func (s *Session) setUp(c mqtt.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connected = true
	s.since = time.Now()
	s.client = c
	s.connects++
}

func (s *Session) current() mqtt.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

func (s *Session) brokerAddr() string {
	u := s.cfg.Broker
	port := u.Port()
	if port == "" {
		port = "1883"
		if s.tlsScheme() {
			port = "8883"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (s *Session) tlsScheme() bool {
	switch s.cfg.Broker.Scheme {
	case "mqtts", "ssl", "tls":
		return true
	}
	return false
}

func (s *Session) statusPayload(online bool) []byte {
	st := wire.Status{Online: online, Boot: s.cfg.Boot}
	if online {
		st.Version, st.Started, st.Epoch = s.cfg.Version, s.cfg.Started, s.cfg.Epoch
	}
	b, _ := json.Marshal(st) // cannot fail: plain struct
	return b
}

// conn is what one connection attempt shares with paho's callbacks.
type conn struct {
	lost chan error // connection-lost handler → connection loop

	mu  sync.Mutex
	raw net.Conn // the socket paho writes to, closed by abort
}

// abort kills the socket without an MQTT DISCONNECT, so the broker publishes
// the will and paho runs its connection-lost path.
func (c *conn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw != nil {
		c.raw.Close()
	}
}

// connection runs one connection from dial to loss. It returns how long the
// connection was up and why it ended.
func (s *Session) connection(ctx context.Context) (time.Duration, error) {
	cn := &conn{lost: make(chan error, 1)}
	dialCtx, cancelDial := context.WithCancel(ctx)
	defer cancelDial()

	opts := mqtt.NewClientOptions().
		AddBroker("tcp://"+s.brokerAddr()).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetStore(mqtt.NewMemoryStore()).
		SetOrderMatters(true).
		SetKeepAlive(s.cfg.KeepAlive).
		SetPingTimeout(max(s.cfg.KeepAlive/2, time.Second)).
		SetConnectTimeout(s.cfg.ConnectTimeout).
		SetWriteTimeout(s.cfg.ConnectTimeout).
		SetBinaryWill(s.topics.Status(), s.statusPayload(false), 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case cn.lost <- err:
			default:
			}
		}).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
			c, err := s.dial(dialCtx)
			if err != nil {
				return nil, err
			}
			cn.mu.Lock()
			cn.raw = c
			cn.mu.Unlock()
			return c, nil
		})
	client := mqtt.NewClient(opts)

	tok := client.Connect()
	// paho bounds the attempt by ConnectTimeout; the extra timer only guards
	// against a token that never completes.
	if err := waitToken(ctx, tok, cn.lost, s.cfg.ConnectTimeout+5*time.Second, false); err != nil {
		cancelDial()
		cn.abort()
		// A Connect that completes after we gave up must not stay connected.
		if tok.WaitTimeout(s.cfg.ConnectTimeout+time.Second) && tok.Error() == nil {
			client.Disconnect(0)
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("connect to %s: %w", s.cfg.Broker.Redacted(), err)
	}
	start := time.Now()
	s.log.Info("uplink connected", "broker", s.cfg.Broker.Redacted(), "client_id", s.cfg.ClientID)

	err := s.session(ctx, client, cn)
	up := time.Since(start)
	if ctx.Err() != nil {
		s.stop(client, cn)
		return up, ctx.Err()
	}
	// Abandon everything: close the socket (the broker then sends the will,
	// which the next birth overrides) and let paho tear itself down. Its
	// tokens are dropped with this client and never waited for.
	s.setDown(err)
	cn.abort()
	select {
	case <-cn.lost:
	case <-time.After(s.cfg.ConnectTimeout):
	}
	return up, err
}

// stop is the clean stop: offline status, then DISCONNECT (which discards the
// will, the offline status already said it).
func (s *Session) stop(client mqtt.Client, cn *conn) {
	s.setDown(nil)
	tok := client.Publish(s.topics.Status(), 1, true, s.statusPayload(false))
	if err := waitToken(context.Background(), tok, cn.lost, 2*time.Second, true); err != nil {
		s.log.Warn("uplink: offline status not confirmed", "err", err)
	}
	client.Disconnect(250)
	s.log.Info("uplink stopped")
}

func (s *Session) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	d := &net.Dialer{KeepAlive: s.cfg.KeepAlive}
	addr := s.brokerAddr()
	if !s.tlsScheme() {
		return d.DialContext(ctx, "tcp", addr)
	}
	cfg := s.cfg.TLS
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	td := &tls.Dialer{NetDialer: d, Config: cfg}
	return td.DialContext(ctx, "tcp", addr)
}

// waitToken waits for tok without trusting it to ever complete: it also gives
// up on connection loss (when watchLost), on ctx and after limit.
func waitToken(ctx context.Context, tok mqtt.Token, lost chan error, limit time.Duration, watchLost bool) error {
	t := time.NewTimer(limit)
	defer t.Stop()
	var lostC chan error
	if watchLost {
		lostC = lost
	}
	select {
	case <-tok.Done():
		return tok.Error()
	case err := <-lostC:
		lost <- err // leave it for the connection loop
		return fmt.Errorf("connection lost: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("no answer from broker")
	}
}

// flight is one event publish waiting for its PUBACK, and for the PUBACK of
// its snapshot when it has one (snap is nil otherwise).
type flight struct {
	seq  uint64
	size int64
	tok  mqtt.Token
	snap mqtt.Token
	at   time.Time
}

// pending is the Done channel of the first of its publishes not yet
// finished; nil when both are.
func (f flight) pending() <-chan struct{} {
	for _, t := range []mqtt.Token{f.tok, f.snap} {
		if t == nil {
			continue
		}
		select {
		case <-t.Done():
		default:
			return t.Done()
		}
	}
	return nil
}

// err is the first publish error of a finished flight.
func (f flight) err() error {
	if err := f.tok.Error(); err != nil {
		return err
	}
	if f.snap != nil {
		if err := f.snap.Error(); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	return nil
}

// session runs a connected client: birth, subscription, then the publisher
// loop until the connection fails or ctx ends.
func (s *Session) session(ctx context.Context, client mqtt.Client, cn *conn) error {
	s.beat()
	birth := client.Publish(s.topics.Status(), 1, true, s.statusPayload(true))
	if err := waitToken(ctx, birth, cn.lost, s.cfg.ConnectTimeout, true); err != nil {
		return fmt.Errorf("publish birth status: %w", err)
	}
	sub := client.Subscribe(s.topics.CmdFilter(), 1, s.onCommand)
	if err := waitToken(ctx, sub, cn.lost, s.cfg.ConnectTimeout, true); err != nil {
		return fmt.Errorf("subscribe %s: %w", s.topics.CmdFilter(), err)
	}
	if st, ok := sub.(*mqtt.SubscribeToken); ok {
		if q := st.Result()[s.topics.CmdFilter()]; q == 0x80 {
			return fmt.Errorf("subscribe %s: refused by broker", s.topics.CmdFilter())
		}
	}
	s.setUp(client)

	tele := time.NewTicker(s.cfg.TelemetryInterval)
	defer tele.Stop()
	// A PUBACK that never comes on a live connection means the connection is
	// not really live; paho's keepalive normally notices first.
	ackTimeout := s.ackTimeout()
	stall := time.NewTicker(ackTimeout / 3)
	defer stall.Stop()

	topic := s.topics.Event()
	window := s.cfg.Window
	// Acks are committed (fsynced) by the acker, behind the publisher.
	acker := newAcker(s, window)
	defer acker.close()
	inflight := make([]flight, 0, window)
	acks := make([]uint64, 0, window)
	var (
		last     uint64    // highest seq read from the queue on this connection
		ahead    []Message // read, not yet published, in seq order
		more     = true    // the queue may hold messages after last
		awaiting int       // PUBACKed, handed to the acker, not yet committed
		flying   int64     // bytes of the messages in inflight
	)
	for {
		s.beat()
		if len(ahead) == 0 && more && len(inflight)+awaiting < window {
			// Read ahead of the window: one read transaction serves many
			// publishes while a backlog drains.
			msgs, err := s.q.Peek(last, readAhead, readAheadBytes)
			if err != nil {
				// The outbox is broken, not the connection; retry on the
				// next notification or stall tick.
				s.log.Error("uplink: read outbox", "err", err)
				more = false
			} else {
				ahead = append(ahead[:0], msgs...)
				if len(msgs) > 0 {
					last = msgs[len(msgs)-1].Seq
				}
				// A short read may also mean the byte bound was reached.
				var n int64
				for _, m := range msgs {
					n += m.size()
				}
				more = len(msgs) == readAhead || n >= readAheadBytes
			}
		}
		// The window bounds the messages in flight, flightBytes their bytes
		// (snapshots are large); one message always goes.
		n := 0
		for n < min(window-len(inflight)-awaiting, len(ahead)) {
			size := ahead[n].size()
			if len(inflight)+n > 0 && flying+size > flightBytes {
				break
			}
			flying += size
			n++
		}
		if n > 0 {
			now := time.Now()
			for _, m := range ahead[:n] {
				f := flight{seq: m.Seq, size: m.size(), tok: client.Publish(topic, 1, false, m.Payload), at: now}
				if m.Attachment != nil {
					// After the event on the same connection, so the station
					// sees the event first.
					f.snap = client.Publish(s.topics.Snapshot(m.Seq), 1, false, m.Attachment)
				}
				inflight = append(inflight, f)
			}
			ahead = ahead[n:]
			s.published.Add(uint64(n))
			s.inFlight.Store(int64(len(inflight)))
		}
		var head <-chan struct{}
		if len(inflight) > 0 {
			if head = inflight[0].pending(); head == nil {
				// Already finished: sweep at once.
				done := make(chan struct{})
				close(done)
				head = done
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-cn.lost:
			cn.lost <- err // connection() drains it after abort
			return fmt.Errorf("connection lost: %w", err)
		case <-s.q.Notify():
			more = true
		case n := <-acker.committed:
			awaiting -= n
		case <-head:
			// Sweep every completed token, not only the head: PUBACKs may
			// come out of order and each is acknowledged when done.
			var failed error
			keep := inflight[:0]
			for _, f := range inflight {
				if f.pending() != nil {
					keep = append(keep, f)
					continue
				}
				flying -= f.size
				if err := f.err(); err != nil {
					failed = firstErr(failed, fmt.Errorf("publish seq %d: %w", f.seq, err))
				} else {
					acks = append(acks, f.seq)
				}
			}
			inflight = keep
			s.inFlight.Store(int64(len(inflight)))
			if len(acks) > 0 {
				acker.add(acks)
				awaiting += len(acks)
				acks = acks[:0]
			}
			if failed != nil {
				// Order can only be kept by starting over from the queue.
				return failed
			}
		case <-tele.C:
			if s.tele != nil {
				if b, err := json.Marshal(s.tele()); err != nil {
					s.log.Error("uplink: encode telemetry", "err", err)
				} else {
					client.Publish(s.topics.Telemetry(), 0, false, b) // QoS 0: not waited for
				}
			}
		case <-stall.C:
			if len(inflight) > 0 && time.Since(inflight[0].at) > ackTimeout {
				return fmt.Errorf("no PUBACK for seq %d in %s", inflight[0].seq, ackTimeout)
			}
			more = true
		}
	}
}

// readAhead is how many messages one Peek reads ahead of the window, and
// readAheadBytes how many bytes: 256 snapshots of a few hundred KiB each
// would be far too much memory for a Pi Zero, 256 plain events are 80 KiB.
const (
	readAhead      = 256
	readAheadBytes = 1 << 20
)

// flightBytes bounds the bytes of the messages in flight (paho holds them
// until their PUBACK), beside the window's count.
const flightBytes = 4 << 20

// size is what m costs in memory while read ahead or in flight.
func (m Message) size() int64 { return int64(len(m.Payload) + len(m.Attachment)) }

// firstErr keeps the first error.
func firstErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// acker commits PUBACKed seqs to the Queue from its own goroutine, so the
// publisher does not wait for the outbox's fsync after every sweep; seqs
// handed over while an Ack runs are merged into the next one. Until an ack
// is committed its event still counts against the window: after a crash
// everything not yet removed is sent again, and the window is what bounds
// those duplicates.
type acker struct {
	s         *Session
	mu        sync.Mutex
	pending   []uint64
	wake      chan struct{}
	committed chan int // how many acks each finished Ack covered
	quit      chan struct{}
	done      chan struct{}
}

func newAcker(s *Session, window int) *acker {
	a := &acker{
		s:         s,
		wake:      make(chan struct{}, 1),
		committed: make(chan int, window+1), // one send per Ack, each covering ≥ 1 of ≤ window acks
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go a.run()
	return a
}

// add hands seqs over; it never blocks on the Queue.
func (a *acker) add(seqs []uint64) {
	a.mu.Lock()
	a.pending = append(a.pending, seqs...)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// close commits what is still pending and waits for the goroutine.
func (a *acker) close() {
	close(a.quit)
	<-a.done
}

func (a *acker) run() {
	defer close(a.done)
	var batch []uint64
	for {
		quitting := false
		select {
		case <-a.wake:
		case <-a.quit:
			quitting = true
		}
		a.mu.Lock()
		batch, a.pending = a.pending, batch[:0]
		a.mu.Unlock()
		if len(batch) > 0 {
			if err := a.s.q.Ack(batch...); err != nil {
				// Not fatal: they stay queued and go again after the
				// next reconnect (duplicates, never losses).
				a.s.log.Error("uplink: ack outbox", "err", err, "n", len(batch))
			} else {
				a.s.acked.Add(uint64(len(batch)))
			}
			a.committed <- len(batch)
		}
		if quitting {
			return
		}
	}
}
