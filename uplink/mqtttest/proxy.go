package mqtttest

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections from its loopback listener to a target and
// can cut them, to simulate a network that drops.
type Proxy struct {
	ln     net.Listener
	target string
	cuts   atomic.Int64
	down   atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	stop  chan struct{}
	once  sync.Once
}

// NewProxy listens on 127.0.0.1 and forwards to target (host:port).
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, stop: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cuts counts the Cut calls (manual or chaos) that severed at least one connection.
func (p *Proxy) Cuts() int { return int(p.cuts.Load()) }

// SetDown makes the proxy close new connections at once (true) or forward
// them again (false). Existing connections are not touched; use Cut.
func (p *Proxy) SetDown(down bool) { p.down.Store(down) }

// Cut closes every current connection (both sides, no goodbye) and returns
// how many client connections it severed.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	n := 0
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
		n++
	}
	p.mu.Unlock()
	if n > 0 {
		p.cuts.Add(1)
	}
	return n / 2
}

// Chaos cuts all connections at random intervals uniform in [lo, hi) until
// the returned stop function is called (stop waits for it).
func (p *Proxy) Chaos(lo, hi time.Duration) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			d := lo
			if hi > lo {
				d += time.Duration(rand.Int64N(int64(hi - lo)))
			}
			t := time.NewTimer(d)
			select {
			case <-quit:
				t.Stop()
				return
			case <-p.stop:
				t.Stop()
				return
			case <-t.C:
				p.Cut()
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(quit); wg.Wait() }) }
}

// Close stops listening, cuts everything and waits for the copy goroutines.
func (p *Proxy) Close() {
	p.once.Do(func() {
		close(p.stop)
		p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		select {
		case <-p.stop:
			p.mu.Unlock()
			c.Close()
			u.Close()
			return
		default:
		}
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(c, u) })
		p.wg.Go(func() { p.pipe(u, c) })
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	// One direction ended: end both, like a dropped link would.
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
