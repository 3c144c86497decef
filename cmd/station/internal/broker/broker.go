// Package broker is the station's embedded MQTT broker: mochi-mqtt with the
// access rules of protocol v1 (see Allowed), password authentication
// (PBKDF2-SHA256 password file), optional TLS and mutual TLS, retained
// messages and QoS 1 delivery.
//
// Security decisions the rules alone do not cover:
//   - a client's will message is checked like a publish when it connects, so
//     a gateway cannot leave a forged retained status for another gateway;
//   - a gateway's client id must be its gateway id: no other user can take
//     it or squat it with a persistent session, the gateway cannot use
//     another, and its owner always takes it over (the new connection
//     replaces the old); a station user may use any id that is not a
//     gateway's, another user's or the station's own client's; a session
//     another user left under an id is discarded, never inherited (see
//     authHook);
//   - queued QoS 1 messages of a resumed session are resent in the order
//     they were queued (mochi v2.7.9 may shuffle them; see keepOrder);
//   - a QoS 1 message published while its subscriber resumes its session
//     is delivered, not lost in the old session object (see takeoverHook);
//   - a SUBSCRIBE is not refused because its packet id equals the id of a
//     message the broker is delivering to that client (mochi v2.7.9 does;
//     see packetIDHook);
//   - at shutdown a listener's clients are disconnected without mochi's
//     Clients.GetByListener, which can deadlock (see disconnectListener),
//     a connection starting meanwhile does not race mochi's wait for its
//     clients (see netListener.clientsWg; the race detector saw it), and
//     connections not yet logged in, which mochi does not know, are closed
//     rather than waited for until their deadline;
//   - open mode (no password file) accepts anyone and checks nothing; it is
//     refused unless the listener is loopback or Insecure is set.
//
// The network port faces the internet (4G), so what a client can cost is
// bounded (Limits; the station's own in-process client is exempt):
//   - a connection must have its CONNACK written within ConnectTimeout
//     (10 s) of being accepted, TLS handshake and password check included;
//     mochi sets no deadline before CONNECT and replaces any deadline by
//     the keepalive as soon as it has read one, so the listener's
//     guardedConn holds it; an idle or half-sent socket is closed then;
//   - a CONNECT may announce at most 16 KiB and any later packet
//     MaxPacketSize (default 4 MiB + 64 KiB: the largest snapshot plus
//     headroom); both are refused from the fixed header, before anything
//     of that size is allocated (mochi allocates what a header announces);
//   - at most MaxClients (2,000) clients logged in, MaxPending (1,024)
//     connections before their CONNACK, 256 of them per address;
//   - a keepalive of 0 or above 30 minutes becomes 30 minutes, so no
//     logged-in socket idles forever;
//   - failed logins put an address on cooldown and password checks run in
//     a few slots, with recently verified logins recognised without PBKDF2
//     (see Limits), so a flood of wrong passwords costs little CPU and
//     keeps no gateway out;
//   - refusals are logged with their reason, once per address and reason,
//     then summed up every 30 s (see refusalLog); never a password;
//   - a failing accept (EMFILE) is retried, never stops the listener.
//
// Retained messages and sessions live in memory: a restart of the station
// forgets them, and gateways re-publish their retained status on reconnect.
package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/antt-gateway/antt/uplink/wire"
)

// DefaultListen is where the broker listens unless told otherwise.
const DefaultListen = ":1883"

// SessionExpiry is how long a disconnected persistent session (and the
// QoS 1 messages queued for it) is kept, in seconds.
const SessionExpiry = 7 * 24 * 3600

const (
	tcpListenerID      = "tcp"
	internalListenerID = "internal"
)

// Options configures a Broker. Zero values mean: listen on DefaultListen,
// prefix wire.DefaultPrefix, plain TCP, open mode.
type Options struct {
	Listen string
	Prefix string

	// CertFile and KeyFile turn on TLS. ClientCAFile turns on mutual TLS:
	// every client must present a certificate signed by one of its CAs.
	CertFile, KeyFile string
	ClientCAFile      string
	// RequireCNMatch (with mutual TLS) refuses a client whose certificate
	// common name differs from its MQTT user name.
	RequireCNMatch bool

	// PasswdFile holds the users; empty means open mode. AccessFile maps
	// users to roles (see ParseAccess); empty means DefaultIdentity.
	PasswdFile string
	AccessFile string
	// Insecure allows open mode on a non-loopback listener.
	Insecure bool

	// Limits bounds what network clients can cost (see Limits); zero
	// fields take the defaults.
	Limits Limits

	// Ingest, if set, stores the claimed publishes of gateways before the
	// broker acknowledges them (see Ingester).
	Ingest Ingester

	Logger *slog.Logger
}

// Broker is one embedded broker. Start it once; it runs until the context
// given to Start ends, and Wait returns when it has fully stopped.
type Broker struct {
	opts  Options
	users *table // nil in open mode
	tls   *tls.Config
	log   *slog.Logger

	srv      *mqtt.Server
	tcp      *netListener
	internal *netListener
	pipe     *pipeListener
	guard    *guard        // the network listener's limits
	logged   chan struct{} // closed when the refusal log's flusher ends
	ingest   *ingestHook   // nil without Options.Ingest

	startOnce sync.Once
	done      chan struct{}
}

// New checks the options and reads the files they name.
func New(o Options) (*Broker, error) {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.Prefix == "" {
		o.Prefix = wire.DefaultPrefix
	}
	if !ValidPrefix(o.Prefix) {
		return nil, fmt.Errorf("topic prefix %q: want non-empty levels without wildcards or '$'", o.Prefix)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	lim, err := o.Limits.withDefaults()
	if err != nil {
		return nil, err
	}
	o.Limits = lim
	b := &Broker{opts: o, log: o.Logger, done: make(chan struct{})}

	if o.PasswdFile != "" {
		u, err := loadUsers(o.PasswdFile, o.AccessFile)
		if err != nil {
			return nil, err
		}
		b.users = &table{}
		b.users.Store(u)
	} else {
		if o.AccessFile != "" {
			return nil, errors.New("an access file needs a password file (-passwd)")
		}
		loop, err := isLoopback(o.Listen)
		if err != nil {
			return nil, err
		}
		if !loop && !o.Insecure {
			return nil, fmt.Errorf("no password file: an open broker on %s (not loopback) needs -insecure", o.Listen)
		}
	}

	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("TLS needs both a certificate and a key")
	}
	if o.ClientCAFile != "" && o.CertFile == "" {
		return nil, errors.New("a client CA (mutual TLS) needs a server certificate and key")
	}
	if o.RequireCNMatch && o.ClientCAFile == "" {
		return nil, errors.New("requiring the certificate name to match the user needs a client CA")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load TLS key pair %s, %s: %w", o.CertFile, o.KeyFile, err)
		}
		b.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if o.ClientCAFile != "" {
			pem, err := os.ReadFile(o.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("read client CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("client CA %s: no PEM certificate found", o.ClientCAFile)
			}
			b.tls.ClientCAs = pool
			b.tls.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return b, nil
}

// Open reports whether the broker runs without authentication.
func (b *Broker) Open() bool { return b.users == nil }

// isLoopback reports whether a listen address only accepts local clients.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// Start listens and serves until ctx ends. It returns the address actually
// bound (useful with port 0) once clients can connect.
func (b *Broker) Start(ctx context.Context) (addr string, err error) {
	started := false
	b.startOnce.Do(func() { started = true })
	if !started {
		return "", errors.New("broker already started")
	}
	ln, err := net.Listen("tcp", b.opts.Listen)
	if err != nil {
		close(b.done)
		return "", fmt.Errorf("listen on %s: %w", b.opts.Listen, err)
	}
	if b.tls != nil {
		ln = tls.NewListener(ln, b.tls)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumSessionExpiryInterval = SessionExpiry
	// mochi refuses a packet whose fixed header announces more than this
	// before allocating it; without it, it allocates whatever is announced.
	caps.MaximumPacketSize = uint32(b.opts.Limits.MaxPacketSize)
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       slog.New(mochiLog{b.log.Handler()}).With("lib", "mochi"),
	})
	b.guard = newGuard(b.opts.Limits, b.log)
	b.tcp = newNetListener(tcpListenerID, ln)
	b.tcp.guard = b.guard
	b.pipe = newPipeListener()
	b.internal = newNetListener(internalListenerID, b.pipe)
	hook := &authHook{users: b.users, prefix: b.opts.Prefix, requireCN: b.opts.RequireCNMatch, srv: b.srv, guard: b.guard}
	takeover := newTakeoverHook(b.srv.Clients)
	b.tcp.ended, b.internal.ended = takeover.connEnded, takeover.connEnded
	b.tcp.disconnect, b.internal.disconnect = b.disconnectListener, b.disconnectListener
	b.tcp.clientsWg, b.internal.clientsWg = &b.srv.Listeners.ClientsWg, &b.srv.Listeners.ClientsWg
	err = errors.Join(
		b.srv.AddHook(hook, nil),
		b.srv.AddHook(&packetIDHook{}, nil),
		b.srv.AddHook(takeover, nil),
		b.addIngest(),
		b.srv.AddListener(b.tcp),
		b.srv.AddListener(b.internal),
	)
	if err == nil {
		err = b.srv.Serve()
	}
	if err != nil {
		ln.Close()
		b.pipe.Close()
		close(b.done)
		return "", fmt.Errorf("start broker: %w", err)
	}
	addr = ln.Addr().String()
	if b.users == nil {
		b.log.Warn("broker is OPEN: no password file, any client may connect and publish or subscribe anywhere", "listen", addr)
	}
	b.log.Info("broker listening", "addr", addr, "tls", b.tls != nil, "mtls", b.opts.ClientCAFile != "", "prefix", b.opts.Prefix)
	b.logged = make(chan struct{})
	go func() {
		defer close(b.logged)
		b.guard.refusals.run(ctx)
	}()
	go func() {
		<-ctx.Done()
		b.shutdown()
	}()
	return addr, nil
}

// disconnectListener disconnects the clients of one listener at shutdown.
// It stands in for mochi v2.7.9's closeListenerClients, whose
// Clients.GetByListener takes the clients' read lock twice: with a client
// being registered or removed meanwhile (a writer waiting between the two)
// it deadlocks, and the station never stops. GetAll takes it once.
func (b *Broker) disconnectListener(id string) {
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener == id && !cl.Closed() {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

func (b *Broker) shutdown() {
	defer close(b.done)
	b.srv.Close() // closes the listeners, which disconnect their clients
	b.tcp.wait()
	b.internal.wait()
	b.ingest.wait()
	<-b.logged
	b.log.Info("broker stopped")
}

// Wait blocks until the broker has stopped: every listener closed and every
// connection goroutine ended. It returns at once if Start failed.
func (b *Broker) Wait() { <-b.done }

// table holds the current Users; Reload replaces them while connections
// read them.
type table = atomic.Pointer[Users]

func loadUsers(passwdFile, accessFile string) (*Users, error) {
	pw, err := LoadPasswords(passwdFile)
	if err != nil {
		return nil, err
	}
	var access map[string]Identity
	if accessFile != "" {
		if access, err = LoadAccess(accessFile); err != nil {
			return nil, err
		}
	}
	return NewUsers(pw, access), nil
}

// Reload reads the password and access files again, so users can be added,
// removed, given a new password or a new role without restarting the
// station (which would disconnect every gateway). New connections and every
// later publish and subscription use the new table. Connected clients whose
// user was removed or whose password changed are disconnected: they must
// log in again. A file with an error changes nothing; the error names it.
// In open mode there is nothing to reload.
func (b *Broker) Reload() error {
	if b.users == nil {
		return errors.New("reload: the broker is open (no password file)")
	}
	u, err := loadUsers(b.opts.PasswdFile, b.opts.AccessFile)
	if err != nil {
		return fmt.Errorf("reload: %w (the previous users stay in force)", err)
	}
	old := b.users.Swap(u)
	if b.srv == nil {
		return nil
	}
	b.guard.forget()
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener != tcpListenerID || cl.Closed() {
			continue
		}
		user := string(cl.Properties.Username)
		if _, ok := u.Identity(user); ok && old.SamePassword(u, user) {
			continue
		}
		b.log.Warn("disconnecting client: its user was removed or its password changed", "client", cl.ID, "user", user)
		cl.Stop(packets.ErrNotAuthorized)
	}
	b.log.Info("users reloaded", "passwd", b.opts.PasswdFile, "access", b.opts.AccessFile)
	return nil
}

// Dial opens an in-process connection to the broker with the station role,
// for the station's own MQTT client (see paho's SetCustomOpenConnectionFn).
// It needs no credentials: only this process can reach it.
func (b *Broker) Dial(ctx context.Context) (net.Conn, error) {
	if b.pipe == nil {
		return nil, errors.New("embedded broker is not started")
	}
	return b.pipe.Dial(ctx)
}
