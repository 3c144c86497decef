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

// handshakeTimeout bounds how long a TLS client may take to say hello, so
// idle connections cannot pile up goroutines.
const handshakeTimeout = 10 * time.Second

// netListener adapts a net.Listener to mochi's Listener. Unlike mochi's own
// TCP listener it owns every goroutine it starts and waits for them in
// wait, which lets the broker shut down cleanly, and it finishes the TLS
// handshake before handing the connection to the broker.
type netListener struct {
	id  string
	ln  net.Listener
	log *slog.Logger
	// ended, if set, is told when a connection is over (see takeoverHook).
	ended func(net.Conn)
	// disconnect, if set, replaces mochi's closeClients at Close (see
	// Broker.disconnectListener).
	disconnect func(listenerID string)

	wg   sync.WaitGroup // the Serve loop and one per connection being established
	once sync.Once
	done chan struct{}
}

var _ listeners.Listener = (*netListener)(nil)

func newNetListener(id string, ln net.Listener) *netListener {
	return &netListener{id: id, ln: ln, done: make(chan struct{})}
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
// goroutine.
func (l *netListener) Serve(establish listeners.EstablishFn) {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
			default:
				l.log.Error("accept failed; listener stops", "error", err)
			}
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if tc, ok := c.(*tls.Conn); ok {
				ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
				err := tc.HandshakeContext(ctx)
				cancel()
				if err != nil {
					l.log.Warn("TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
					c.Close()
					return
				}
			}
			err := establish(l.id, c)
			if l.ended != nil {
				l.ended(c)
			}
			if err != nil && !errors.Is(err, net.ErrClosed) {
				l.log.Debug("client connection ended", "remote", c.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

// Close stops accepting and disconnects this listener's clients.
func (l *netListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
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
