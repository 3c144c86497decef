package broker

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// guardedConn is a network client's connection. Until its CONNACK is
// written it holds the connect deadline against mochi, which replaces the
// deadline by the client's keepalive (or by none, for keepalive 0) as soon
// as it has read the CONNECT, before the password check; and it reads the
// CONNECT's fixed header as it passes, so a CONNECT announcing more than
// maxConnectSize bytes is refused before mochi allocates a buffer of that
// size (mochi allocates the announced length, up to 256 MiB, then reads).
type guardedConn struct {
	net.Conn
	key      string // address key (see addrKey)
	deadline time.Time
	g        *guard

	hdr     connectHeader // touched by Read only (mochi's one reader)
	scanned bool
	fr      *framedReader // charges each packet to the guard's in-flight budget
	gone    chan struct{} // closed by Close: a read waiting for the budget gives up
	close   sync.Once

	mu      sync.Mutex
	acked   bool      // CONNACK written: deadlines pass through
	want    time.Time // the deadline mochi asked for meanwhile
	settled bool      // no longer pending in g
	counted bool      // counted in g.clients
}

func newGuardedConn(c net.Conn, key string, deadline time.Time, g *guard) *guardedConn {
	gc := &guardedConn{Conn: c, key: key, deadline: deadline, g: g, gone: make(chan struct{})}
	if g.inflight != nil {
		gc.fr = newFramedReader(g.inflight, g.lim.MaxPacketSize, gc.gone)
	}
	return gc
}

// Read passes data through, checking the first packet's fixed header, one
// packet at a time through the in-flight budget (see framedReader).
func (c *guardedConn) Read(p []byte) (int, error) {
	if c.fr != nil {
		return c.fr.read(p, c.read)
	}
	return c.read(p)
}

// Close also ends a read waiting for the in-flight budget.
func (c *guardedConn) Close() error {
	c.close.Do(func() { close(c.gone) })
	return c.Conn.Close()
}

func (c *guardedConn) read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.scanned && n > 0 {
		done, herr := c.hdr.feed(p[:n])
		if herr != nil {
			c.g.refusals.refuse(c.key, "bad CONNECT", "remote", c.RemoteAddr().String(), "error", herr.Error())
			c.Conn.Close()
			return 0, herr
		}
		c.scanned = done
	}
	return n, err
}

// SetDeadline keeps the connect deadline until the CONNACK is written.
func (c *guardedConn) SetDeadline(t time.Time) error {
	return c.setDeadline(t, c.Conn.SetDeadline)
}

// SetReadDeadline: as SetDeadline.
func (c *guardedConn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(t, c.Conn.SetReadDeadline)
}

// SetWriteDeadline: as SetDeadline.
func (c *guardedConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(t, c.Conn.SetWriteDeadline)
}

func (c *guardedConn) setDeadline(t time.Time, set func(time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acked {
		return set(t)
	}
	c.want = t
	if t.IsZero() || t.After(c.deadline) {
		t = c.deadline
	}
	return set(t)
}

// connacked is called once the CONNACK is written: the connection is no
// longer pending, and the deadline mochi asked for takes over.
func (c *guardedConn) connacked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acked {
		return
	}
	c.acked = true
	c.settleLocked()
	_ = c.Conn.SetDeadline(c.want)
}

// loggedIn reports whether the CONNACK was written.
func (c *guardedConn) loggedIn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked
}

// count records that the connection holds one of the MaxClients slots.
func (c *guardedConn) count() {
	c.mu.Lock()
	c.counted = true
	c.mu.Unlock()
}

// ended is called by the listener when the connection is over.
func (c *guardedConn) ended() {
	if c.fr != nil {
		c.fr.end()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.settleLocked()
	if c.counted {
		c.counted = false
		c.g.clients.Add(-1)
	}
}

func (c *guardedConn) settleLocked() {
	if !c.settled {
		c.settled = true
		c.g.settle(c.key)
	}
}

// connectHeader reads the fixed header of a connection's first packet
// (MQTT 3.1.1 and 5: one type byte, then the remaining length in one to
// four bytes of seven bits each, low bits first), fed in pieces.
type connectHeader struct {
	n      int    // header bytes seen
	length uint32 // remaining length so far
}

// feed consumes the bytes of b that belong to the header. It reports done
// once the header is complete, and an error when the first packet is not
// a CONNECT, its length is malformed, or the packet would exceed
// maxConnectSize.
func (h *connectHeader) feed(b []byte) (done bool, err error) {
	for _, x := range b {
		if h.n == 0 {
			h.n = 1
			if x>>4 != 1 {
				return false, fmt.Errorf("first packet is of type %d, not CONNECT", x>>4)
			}
			continue
		}
		h.length |= uint32(x&0x7f) << (7 * (h.n - 1))
		h.n++
		if total := uint64(h.length) + uint64(h.n); total > maxConnectSize {
			return false, fmt.Errorf("CONNECT announces at least %d bytes; the limit is %d", total, maxConnectSize)
		}
		if x&0x80 == 0 {
			return true, nil
		}
		if h.n == 5 {
			return false, fmt.Errorf("CONNECT length longer than four bytes")
		}
	}
	return false, nil
}
