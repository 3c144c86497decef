package turn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/antt-gateway/antt/device/devtest"
)

// Review (R2): the TURN port faces the internet and every officer and
// gateway holds a credential for it; these tests read it as an attacker.

// allocClient asks the server at addr for a UDP relay over UDP and keeps
// the client (for CreatePermission).
func allocClient(t *testing.T, addr, user, pass string) (*turn.Client, net.PacketConn) {
	t.Helper()
	c := udpClient(t, addr, user, pass)
	relay, err := c.Allocate()
	if err != nil {
		t.Fatal("allocate:", err)
	}
	return c, relay
}

// A credential is not an open relay: no permission for a peer on
// loopback (other than the relay address), in the private, carrier-grade
// NAT, link-local (the cloud metadata address) or multicast ranges; a
// public peer and the relay address itself (relay to relay) are allowed,
// and AllowPeers opens a chosen network.
func TestReviewPeersRefused(t *testing.T) {
	s := start(t, Config{UDP: "127.0.0.1:0", MinPort: 40200, MaxPort: 40299,
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("192.168.77.0/24")}})
	u, p, _ := s.Credentials("officer:tuan", time.Minute)
	c, _ := allocClient(t, s.UDPAddr().String(), u, p)
	for _, peer := range []string{"127.0.0.2", "10.0.0.1", "172.16.5.5", "192.168.1.1", "100.64.0.1",
		"169.254.169.254", "224.0.0.251", "0.0.0.1", "255.255.255.255"} {
		if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(peer), Port: 9}); err == nil {
			t.Errorf("permission granted for peer %s", peer)
		}
	}
	for _, peer := range []string{"203.0.113.7", "127.0.0.1", "192.168.77.9"} {
		if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(peer), Port: 9}); err != nil {
			t.Errorf("permission refused for peer %s: %v", peer, err)
		}
	}
}

// Relay to relay on the relay address works, but a relay sends nothing to
// the relay address's other ports: the station's own services there and
// the TURN port itself (a loop).
func TestReviewRelayOnlyToRelayPorts(t *testing.T) {
	s := start(t, Config{UDP: "127.0.0.1:0", MinPort: 40300, MaxPort: 40399})
	addr := s.UDPAddr().String()
	ua, pa, _ := s.Credentials("a", time.Minute)
	ub, pb, _ := s.Credentials("b", time.Minute)
	_, ra := allocClient(t, addr, ua, pa)
	_, rb := allocClient(t, addr, ub, pb)

	victim, err := net.ListenPacket("udp4", "127.0.0.1:0") // a service of the station's own
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	// B lets A in (the data of a permitted peer only).
	if _, err := rb.WriteTo([]byte("hello"), ra.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_, _ = ra.WriteTo([]byte("to the victim"), victim.LocalAddr())
	_, _ = ra.WriteTo([]byte("to the TURN port"), s.UDPAddr())
	// Relay to relay (the positive control, sent last).
	devtest.WaitFor(t, 5*time.Second, "A's packet through B's relay", func() bool {
		if _, err := ra.WriteTo([]byte("relay"), rb.LocalAddr()); err != nil {
			t.Fatal("relay to relay:", err)
		}
		_ = rb.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 64)
		n, _, err := rb.ReadFrom(buf)
		return err == nil && string(buf[:n]) == "relay"
	})
	_ = victim.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := victim.ReadFrom(make([]byte, 64)); err == nil {
		t.Errorf("the station's own UDP service got %d bytes from the relay %v", n, from)
	}
}

// No TCP relays (RFC 6062): a TCP allocation would let a credential
// connect to the broker, the console or any host of the station's LAN.
func TestReviewNoTCPAllocation(t *testing.T) {
	cert := selfSigned(t)
	s := start(t, Config{TLS: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, MinPort: 40400, MaxPort: 40499})
	u, p, _ := s.Credentials("officer:tuan", time.Minute)
	addr := s.TLSAddr().String()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's own server
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newClient(t, addr, turn.NewSTUNConn(conn), u, p, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a, err := c.AllocateTCPWithContext(ctx); err == nil {
		t.Fatalf("a TCP relay was allocated at %v", a.Addr())
	}
	g := s.relayGen()
	if _, err := g.AllocateConn(turn.AllocateConnConfig{Network: "tcp4",
		RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1883}}); err == nil {
		t.Error("the relay generator dials TCP")
	}
}

// A client cannot place a relay outside the port range (EVEN-PORT's
// reservation asks for the port after an even one): the range is what
// bounds the relays open at once.
func TestReviewRequestedPortInRange(t *testing.T) {
	s := start(t, Config{UDP: "127.0.0.1:0", MinPort: 40500, MaxPort: 40501})
	g := s.relayGen()
	for _, port := range []int{40499, 40502, 50000} {
		if pc, a, err := g.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp4", RequestedPort: port}); err == nil {
			_ = pc.Close()
			t.Errorf("relay allocated at %v, outside 40500-40501", a)
		}
	}
	pc, _, err := g.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp4", RequestedPort: 40501})
	if err != nil {
		t.Fatal("a port inside the range:", err)
	}
	_ = pc.Close()
}

// TLS clients that hold a connection open without a relay are dropped
// after a while, so an attacker's idle connections cannot fill the
// bounded TLS slots and lock the gateways out; a client with a relay keeps
// its connection.
func TestReviewTLSIdleDropped(t *testing.T) {
	old := tlsNoRelay
	tlsNoRelay = 300 * time.Millisecond
	t.Cleanup(func() { tlsNoRelay = old })
	cert := selfSigned(t)
	// Four ports: four TLS connections at once.
	s := start(t, Config{TLS: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, MinPort: 40600, MaxPort: 40603})
	addr := s.TLSAddr().String()
	dial := func() *tls.Conn {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's own server
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	closedByServer := func(c *tls.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	var idle []*tls.Conn
	for range 4 {
		idle = append(idle, dial())
	}
	u, p, _ := s.Credentials("gateway:cong-khu-3", time.Minute)
	conn := dial()
	c := newClient(t, addr, turn.NewSTUNConn(conn), u, p, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.AllocateWithContext(ctx); err != nil {
		t.Fatal("a gateway locked out by idle TLS connections:", err)
	}
	devtest.WaitFor(t, 5*time.Second, "idle TLS connections closed", func() bool {
		for _, ic := range idle {
			if !closedByServer(ic) {
				return false
			}
		}
		return true
	})
	// One more idle connection, opened after the relay: once it is dropped
	// the relay's connection has outlived the same wait.
	late := dial()
	devtest.WaitFor(t, 5*time.Second, "late idle connection closed", func() bool { return closedByServer(late) })
	if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP("203.0.113.7"), Port: 9}); err != nil {
		t.Fatal("the relay's own TLS connection was dropped:", err)
	}
}
