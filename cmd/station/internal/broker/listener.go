package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// netListener adapts a net.Listener to mochi's Listener. Unlike mochi's own
// TCP listener it owns every goroutine it starts and waits for them in
// wait, which lets the broker shut down cleanly, and it finishes the TLS
// handshake before handing the connection to the broker. With a guard (the
// network listener) it applies the Limits before the broker sees a
// connection: pending connections per address and in all, the connect
// deadline from accept to CONNACK, the CONNECT size (see guardedConn).
type netListener struct {
	id    string
	ln    net.Listener
	log   *slog.Logger
	guard *guard // nil: no limits (the in-process listener)
	// ended, if set, is told when a connection is over (see takeoverHook).
	ended func(net.Conn)
	// disconnect, if set, replaces mochi's closeClients at Close (see
	// Broker.disconnectListener).
	disconnect func(listenerID string)
	// clientsWg, if set, is mochi's Listeners.ClientsWg, which its Close
	// waits on after closing the listeners. mochi adds to it in each
	// connection's goroutine, so a connection starting while Close waits
	// on a zero counter is a WaitGroup misuse (the race detector reports
	// it). Each connection holds a count of its own from before Close (see
	// gate), so mochi's Add never starts from zero then.
	clientsWg *sync.WaitGroup
	gate      sync.Mutex
	closed    bool                      // guarded by gate: no connection may start
	pending   map[*guardedConn]struct{} // guarded by gate: closed at Close if not yet logged in

	wg   sync.WaitGroup // the Serve loop and one per connection being established
	once sync.Once
	done chan struct{}
}

var _ listeners.Listener = (*netListener)(nil)

func newNetListener(id string, ln net.Listener) *netListener {
	return &netListener{id: id, ln: ln, done: make(chan struct{}), pending: map[*guardedConn]struct{}{}}
}

// Init counts the Serve loop in wg: the broker always calls Serve after
// Init, and counting here rather than in Serve keeps wait from racing it.
func (l *netListener) Init(log *slog.Logger) error {
	l.log = log
	l.wg.Add(1)
	return nil
}

func (l *netListener) ID() string       { return l.id }
func (l *netListener) Address() string  { return l.ln.Addr().String() }
func (l *netListener) Protocol() string { return "tcp" }

// Serve accepts until the listener is closed. mochi runs it in its own
// goroutine. An accept error other than the listener closing (EMFILE under
// a flood of connections) is retried after a pause, up to a second, rather
// than leaving the station deaf.
func (l *netListener) Serve(establish listeners.EstablishFn) {
	defer l.wg.Done()
	var pause time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			l.log.Error("accept failed; retrying", "error", err, "pause", pause.String())
			select {
			case <-l.done:
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		var key string
		if l.guard != nil {
			key = addrKey(c.RemoteAddr())
			if why := l.guard.admit(key); why != "" {
				l.guard.refusals.refuse(key, why, "remote", c.RemoteAddr().String())
				c.Close()
				continue
			}
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.serveConn(c, key, establish)
		}()
	}
}

// serveConn runs one connection, from its TLS handshake to its end.
func (l *netListener) serveConn(c net.Conn, key string, establish listeners.EstablishFn) {
	conn := c
	var gc *guardedConn
	deadline := time.Now().Add(DefaultConnectTimeout)
	if l.guard != nil {
		deadline = time.Now().Add(l.guard.lim.ConnectTimeout)
		gc = newGuardedConn(c, key, deadline, l.guard)
		defer gc.ended()
		conn = gc
		_ = c.SetDeadline(deadline)
		// Known to Close until it ends: mochi disconnects only the clients
		// that logged in, and shutdown would wait for the others' deadline.
		l.gate.Lock()
		if l.closed {
			l.gate.Unlock()
			c.Close()
			return
		}
		l.pending[gc] = struct{}{}
		l.gate.Unlock()
		defer func() {
			l.gate.Lock()
			delete(l.pending, gc)
			l.gate.Unlock()
		}()
	}
	if tc, ok := c.(*tls.Conn); ok {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			if l.guard != nil {
				l.guard.refusals.refuse(key, "TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err.Error())
			} else {
				l.log.Warn("TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
			}
			c.Close()
			return
		}
	}
	if l.clientsWg != nil {
		l.gate.Lock()
		if l.closed {
			l.gate.Unlock()
			c.Close()
			return
		}
		l.clientsWg.Add(1)
		l.gate.Unlock()
		defer l.clientsWg.Done()
	}
	err := establish(l.id, conn)
	if l.ended != nil {
		l.ended(conn)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		l.log.Debug("client connection ended", "remote", c.RemoteAddr().String(), "error", err)
	}
}

// Close stops accepting and disconnects this listener's clients.
func (l *netListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		l.gate.Lock()
		l.closed = true
		for gc := range l.pending {
			if !gc.loggedIn() {
				gc.Conn.Close()
			}
		}
		l.gate.Unlock()
		close(l.done)
		l.ln.Close()
		if l.disconnect != nil {
			l.disconnect(l.id)
		} else {
			closeClients(l.id)
		}
	})
}

// wait returns once Serve and every connection goroutine have ended.
// Called only after Close, so no new goroutine can be added.
func (l *netListener) wait() { l.wg.Wait() }

// pipeListener is an in-process net.Listener: Dial hands one end of a
// connected socket pair to Accept. The station's own MQTT client connects
// through it, so it uses the same code path as against an external broker
// without opening a port or needing credentials. A kernel socket pair
// rather than net.Pipe: mochi writes a resumed session's queued messages
// before it starts reading, and an unbuffered pipe deadlocks as soon as
// the client answers one of them.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeListener) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial returns a new connection to the broker, or an error once closed.
func (p *pipeListener) Dial(ctx context.Context) (net.Conn, error) {
	client, server, err := connPair()
	if err != nil {
		return nil, fmt.Errorf("connect to embedded broker: %w", err)
	}
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	return nil, errors.New("embedded broker is not running")
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "internal" }
