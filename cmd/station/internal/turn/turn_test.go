package turn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// selfSigned is a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.RelayIP == nil {
		cfg.RelayIP = net.IPv4(127, 0, 0, 1)
	}
	if cfg.MinPort == 0 {
		cfg.MinPort, cfg.MaxPort = 40000, 40099
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newClient makes a listening TURN client of the server at addr over
// conn (a UDP socket, or turn.NewSTUNConn of a TLS connection) with the
// credential user, pass; rto is its retransmission timeout (0: pion's).
// It is closed when the test ends.
func newClient(t *testing.T, addr string, conn net.PacketConn, user, pass string, rto time.Duration) *turn.Client {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: user, Password: pass, Realm: DefaultRealm, RTO: rto})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}

// udpClient is newClient over a UDP socket of its own, retransmitting
// after 100 ms.
func udpClient(t *testing.T, addr, user, pass string) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return newClient(t, addr, conn, user, pass, 100*time.Millisecond)
}

// allocate asks the server at addr for a UDP relay over UDP.
func allocate(t *testing.T, addr, user, pass string) (net.PacketConn, error) {
	t.Helper()
	return udpClient(t, addr, user, pass).Allocate()
}

// A fresh TURN REST credential gets a relay inside the port range and on
// the relay address; an expired one, a forged one and a malformed user name
// do not.
func TestCredentials(t *testing.T) {
	clk := &clock{now: time.Now()}
	s := start(t, Config{UDP: "127.0.0.1:0", Now: clk.Now})
	addr := s.UDPAddr().String()

	user, pass, exp := s.Credentials("officer:tuan", time.Minute)
	if !strings.HasSuffix(user, ":officer_tuan") || exp.Before(clk.Now()) {
		t.Fatalf("credential %q expires %v", user, exp)
	}
	relay, err := allocate(t, addr, user, pass)
	if err != nil {
		t.Fatal("fresh credential refused:", err)
	}
	ra := relay.LocalAddr().(*net.UDPAddr)
	if !ra.IP.Equal(net.IPv4(127, 0, 0, 1)) || ra.Port < 40000 || ra.Port > 40099 {
		t.Errorf("relay %v outside 127.0.0.1:40000-40099", ra)
	}
	if n := s.Allocations(); n != 1 {
		t.Errorf("allocations %d, want 1", n)
	}

	if _, err := allocate(t, addr, user, pass+"x"); err == nil {
		t.Error("a wrong password got a relay")
	}
	if _, err := allocate(t, addr, "officer", pass); err == nil {
		t.Error("a user name without an expiry got a relay")
	}
	old, oldPass, _ := s.Credentials("gw", time.Minute)
	clk.add(2 * time.Minute)
	if _, err := allocate(t, addr, old, oldPass); err == nil {
		t.Error("an expired credential got a relay")
	}
	// Another server's secret (a restart) makes other passwords.
	other := start(t, Config{UDP: "127.0.0.1:0", MinPort: 40100, MaxPort: 40199})
	u2, p2, _ := other.Credentials("gw", time.Minute)
	if _, err := allocate(t, addr, u2, p2); err == nil {
		t.Error("a credential of another server's secret got a relay")
	}
}

// One user holds at most MaxAllocationsPerUser relays; others are not
// affected.
func TestQuota(t *testing.T) {
	s := start(t, Config{UDP: "127.0.0.1:0", MaxAllocationsPerUser: 2})
	addr := s.UDPAddr().String()
	for i := range 2 {
		u, p, _ := s.Credentials("tuan", time.Minute)
		if _, err := allocate(t, addr, u, p); err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
	}
	u, p, _ := s.Credentials("tuan", time.Minute)
	_, err := allocate(t, addr, u, p)
	if err == nil || !strings.Contains(err.Error(), "486") {
		t.Fatalf("third allocation of one user: %v, want 486 Allocation Quota Reached", err)
	}
	u, p, _ = s.Credentials("an", time.Minute)
	if _, err := allocate(t, addr, u, p); err != nil {
		t.Fatal("another user refused:", err)
	}
}

// Over TLS (turns:) with the station's certificate.
func TestTLS(t *testing.T) {
	cert := selfSigned(t)
	s := start(t, Config{TLS: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	ice := s.ICEServers("tuan", time.Minute)
	if len(ice) != 1 || len(ice[0].URLs) != 1 || !strings.HasPrefix(ice[0].URLs[0], "turns:127.0.0.1:") {
		t.Fatalf("ICE servers %+v", ice)
	}
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	addr := s.TLSAddr().String()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newClient(t, addr, turn.NewSTUNConn(conn), ice[0].Username, ice[0].Credential, 0)
	if _, err := c.Allocate(); err != nil {
		t.Fatal("allocation over TLS:", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "neither"},
		{Config{UDP: "127.0.0.1:0", RelayIP: net.IPv4zero, MinPort: 1, MaxPort: 2}, "concrete IP"},
		{Config{UDP: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), MinPort: 5, MaxPort: 2}, "relay ports"},
		{Config{TLS: "127.0.0.1:0", RelayIP: net.IPv4(127, 0, 0, 1), MinPort: 1, MaxPort: 2}, "certificate"},
	} {
		if _, err := Start(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	for _, s := range []string{"", "1", "a-b", "10-5", "0-5", "1-70000"} {
		if _, _, err := ParsePorts(s); err == nil {
			t.Errorf("ParsePorts(%q) accepted", s)
		}
	}
	if lo, hi, err := ParsePorts("49160-49359"); err != nil || lo != 49160 || hi != 49359 {
		t.Errorf("ParsePorts: %d %d %v", lo, hi, err)
	}
}

func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1767225600:tuan", ":", "x:y", "1:", "99999999999999999999:a", "1767225600:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exp, user, err := ParseUsername(s)
		if err == nil && (user == "" || exp.Unix() <= 0) {
			t.Fatalf("%q accepted as %v %q", s, exp, user)
		}
	})
}

// An expired credential opens no new relay, but an existing allocation
// may still be refreshed for RefreshGrace (a renewed live view keeps its
// relay); after that, nothing.
func TestRefreshGrace(t *testing.T) {
	clk := &clock{now: time.Now()}
	s := start(t, Config{UDP: "127.0.0.1:0", Now: clk.Now, RefreshGrace: time.Hour})
	user, _, _ := s.Credentials("gateway:cong-khu-3", time.Minute)
	const allocate, refresh = true, false
	check := func(alloc bool) bool {
		ra := &turn.RequestAttributes{Username: user, Realm: DefaultRealm}
		ra.Method = 0x004 // STUN Refresh
		if alloc {
			ra.Method = 0x003 // STUN Allocate
		}
		_, _, ok := s.auth(ra)
		return ok
	}
	if !check(allocate) || !check(refresh) {
		t.Fatal("a fresh credential refused")
	}
	clk.add(2 * time.Minute)
	if check(allocate) {
		t.Error("an expired credential may allocate")
	}
	if !check(refresh) {
		t.Error("an expired credential within the grace may not refresh")
	}
	clk.add(time.Hour)
	if check(refresh) {
		t.Error("a credential past the grace may refresh")
	}
}

// A TLS client that never completes its handshake is dropped at the
// handshake deadline, not kept.
func TestTLSHandshakeBounded(t *testing.T) {
	old := tlsHandshake
	tlsHandshake = 300 * time.Millisecond
	t.Cleanup(func() { tlsHandshake = old })
	s := start(t, Config{TLS: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}})
	c, err := net.Dial("tcp", s.TLSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a silent client: %v, want the connection closed by the server", err)
	}
}
