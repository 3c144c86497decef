package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
)

const wait = 5 * time.Second

// startBroker starts a broker on a free loopback port and stops it (and
// waits for it) when the test ends.
func startBroker(t *testing.T, o Options) (*Broker, string) {
	t.Helper()
	o.Listen = "127.0.0.1:0"
	if testing.Verbose() && o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := b.Start(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); b.Wait() })
	return b, addr
}

// writePasswd writes a password file with the given user:password pairs.
func writePasswd(t *testing.T, users ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "passwd")
	for _, up := range users {
		u, p, _ := strings.Cut(up, ":")
		if err := SetPassword(path, u, p, testIter); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// client is a paho client that records what it receives.
type client struct {
	paho.Client
	mu   sync.Mutex
	got  []paho.Message
	seen chan struct{} // signalled on each message
	conn net.Conn      // the TCP connection, to cut it abruptly
}

type clientOpt func(*paho.ClientOptions)

func dial(t *testing.T, addr, user, pass string, opts ...clientOpt) (*client, error) {
	t.Helper()
	c := &client{seen: make(chan struct{}, 1000)}
	// A gateway's client id is its gateway id (the user name without an
	// access file); station users get one of their own per connection.
	id := user
	if user == "station" || user == "console" {
		id = fmt.Sprintf("t-%s-%d", user, time.Now().UnixNano())
	}
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(user).SetPassword(pass).SetAutoReconnect(false).SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.record(m) })
	o.SetCustomOpenConnectionFn(func(u *url.URL, co paho.ClientOptions) (net.Conn, error) {
		var conn net.Conn
		var err error
		if co.TLSConfig != nil {
			conn, err = tls.Dial("tcp", u.Host, co.TLSConfig)
		} else {
			conn, err = net.Dial("tcp", u.Host)
		}
		c.mu.Lock()
		c.conn = conn
		c.mu.Unlock()
		return conn, err
	})
	for _, f := range opts {
		f(o)
	}
	c.Client = paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func mustDial(t *testing.T, addr, user, pass string, opts ...clientOpt) *client {
	t.Helper()
	c, err := dial(t, addr, user, pass, opts...)
	if err != nil {
		t.Fatalf("connect as %q: %v", user, err)
	}
	return c
}

func (c *client) record(m paho.Message) {
	c.mu.Lock()
	c.got = append(c.got, m)
	c.mu.Unlock()
	c.seen <- struct{}{}
}

func (c *client) topics() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.got {
		out = append(out, m.Topic())
	}
	return out
}

// waitFor waits until a message on topic has arrived and returns it.
func (c *client) waitFor(t *testing.T, topic string) paho.Message {
	t.Helper()
	deadline := time.After(wait)
	for {
		c.mu.Lock()
		for _, m := range c.got {
			if m.Topic() == topic {
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		select {
		case <-c.seen:
		case <-deadline:
			t.Fatalf("no message on %s; got %v", topic, c.topics())
		}
	}
}

// subscribe subscribes and returns the granted code (0x80 is refusal).
func (c *client) subscribe(t *testing.T, filter string, qos byte) byte {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func (c *client) publish(t *testing.T, topic string, qos byte, retain bool, payload string) error {
	t.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(wait) {
		return fmt.Errorf("publish %s timed out", topic)
	}
	return tok.Error()
}

func TestAuthentication(t *testing.T) {
	_, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "station:s3cret", "cong-khu-3:gw-pass")})
	mustDial(t, addr, "station", "s3cret")
	mustDial(t, addr, "cong-khu-3", "gw-pass")
	for _, c := range []struct{ user, pass string }{
		{"station", "wrong"}, {"cong-khu-3", "s3cret"}, {"nobody", "gw-pass"}, {"", ""}, {"station", ""},
	} {
		if _, err := dial(t, addr, c.user, c.pass); err == nil {
			t.Errorf("connect as %q/%q accepted", c.user, c.pass)
		}
	}
}

func TestAccessFileRoles(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access")
	os.WriteFile(access, []byte("station console\ngateway user7 truong-thcs\n"), 0o600)
	_, addr := startBroker(t, Options{
		PasswdFile: writePasswd(t, "console:a", "user7:b", "station:c"),
		AccessFile: access,
	})
	st := mustDial(t, addr, "console", "a")
	if code := st.subscribe(t, "antt/#", 1); code != 1 {
		t.Fatalf("console subscribe antt/#: %#x", code)
	}
	gw := mustDial(t, addr, "user7", "b", func(o *paho.ClientOptions) { o.SetClientID("truong-thcs") })
	if err := gw.publish(t, "antt/truong-thcs/event", 1, false, "{}"); err != nil {
		t.Fatal(err)
	}
	st.waitFor(t, "antt/truong-thcs/event")
	// "station" is in the password file but not the access file.
	if _, err := dial(t, addr, "station", "c"); err == nil {
		t.Fatal("user without a role connected")
	}
}

func TestGatewayIsolation(t *testing.T) {
	_, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "station:s", "gw-a:a", "gw-b:b")})
	st := mustDial(t, addr, "station", "s")
	if code := st.subscribe(t, "antt/#", 1); code != 1 {
		t.Fatalf("station subscribe: %#x", code)
	}
	a := mustDial(t, addr, "gw-a", "a")

	// QoS 0 publishes outside its own tree are dropped silently.
	for _, topic := range []string{"antt/gw-b/event", "antt/gw-b/status", "antt/gw-a/cmd/ping", "antt/gw-b/cmd/ping", "other/x"} {
		if err := a.publish(t, topic, 0, false, "forged"); err != nil {
			t.Fatal(err)
		}
	}
	a.publish(t, "antt/gw-a/event", 1, false, "marker-1")
	st.waitFor(t, "antt/gw-a/event")

	// A QoS 1 publish outside its tree gets the MQTT 3.1.1 answer: the
	// connection is closed, nothing delivered.
	a.publish(t, "antt/gw-b/event", 1, false, "forged")
	a2 := mustDial(t, addr, "gw-a", "a")
	a2.publish(t, "antt/gw-a/telemetry", 1, false, "marker-2")
	st.waitFor(t, "antt/gw-a/telemetry")
	if got := strings.Join(st.topics(), " "); got != "antt/gw-a/event antt/gw-a/telemetry" {
		t.Fatalf("station received %q", got)
	}

	// Subscriptions beyond its own cmd/# are refused.
	for _, f := range []string{"antt/gw-b/cmd/#", "antt/#", "antt/+/cmd/#", "antt/gw-a/#", "antt/gw-b/event", "#"} {
		if code := a2.subscribe(t, f, 1); code != 0x80 {
			t.Errorf("gw-a subscribe %s granted %#x", f, code)
		}
	}
	if code := a2.subscribe(t, "antt/gw-a/cmd/#", 1); code != 1 {
		t.Fatalf("gw-a own cmd/#: %#x", code)
	}
	b := mustDial(t, addr, "gw-b", "b")
	if code := b.subscribe(t, "antt/gw-b/cmd/+", 1); code != 1 {
		t.Fatalf("gw-b own cmd/+: %#x", code)
	}
	// The station commands both; each gateway sees only its own.
	st.publish(t, "antt/gw-b/cmd/ping", 1, false, `{"id":"1"}`)
	st.publish(t, "antt/gw-a/cmd/ping", 1, false, `{"id":"2"}`)
	a2.waitFor(t, "antt/gw-a/cmd/ping")
	b.waitFor(t, "antt/gw-b/cmd/ping")
	if got := strings.Join(a2.topics(), " "); got != "antt/gw-a/cmd/ping" {
		t.Fatalf("gw-a received %q", got)
	}
	if got := strings.Join(b.topics(), " "); got != "antt/gw-b/cmd/ping" {
		t.Fatalf("gw-b received %q", got)
	}

	// The station cannot forge gateway events either.
	st.publish(t, "antt/gw-a/event", 0, false, "forged")
	st.publish(t, "antt/gw-a/cmd/marker", 1, false, "{}")
	a2.waitFor(t, "antt/gw-a/cmd/marker")
	st.waitFor(t, "antt/gw-a/cmd/marker") // the station reads all of antt/#, its own commands too
	if n := strings.Count(strings.Join(st.topics(), " "), "antt/gw-a/event"); n != 1 {
		t.Fatalf("station forged an event: %v", st.topics())
	}
}

func TestWillAndClientIDChecks(t *testing.T) {
	_, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "station:s", "gw-a:a", "gw-b:b")})
	// A will on another gateway's status would forge it: refused.
	if _, err := dial(t, addr, "gw-a", "a", func(o *paho.ClientOptions) {
		o.SetWill("antt/gw-b/status", `{"online":false}`, 1, true)
	}); err == nil {
		t.Fatal("forged will accepted")
	}
	// Taking over another user's session id is refused.
	mustDial(t, addr, "station", "s", func(o *paho.ClientOptions) { o.SetClientID("antt-station").SetCleanSession(false) })
	if _, err := dial(t, addr, "gw-a", "a", func(o *paho.ClientOptions) { o.SetClientID("antt-station") }); err == nil {
		t.Fatal("session of another user taken over")
	}
}

func TestRetainedStatusAndWill(t *testing.T) {
	_, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "station:s", "gw-a:a")})
	a := mustDial(t, addr, "gw-a", "a", func(o *paho.ClientOptions) {
		o.SetWill("antt/gw-a/status", `{"online":false,"boot":"b1"}`, 1, true)
	})
	if err := a.publish(t, "antt/gw-a/status", 1, true, `{"online":true,"boot":"b1"}`); err != nil {
		t.Fatal(err)
	}
	// A station that subscribes later gets the retained birth.
	st := mustDial(t, addr, "station", "s")
	st.subscribe(t, "antt/+/status", 1)
	if m := st.waitFor(t, "antt/gw-a/status"); string(m.Payload()) != `{"online":true,"boot":"b1"}` || !m.Retained() {
		t.Fatalf("retained birth: %q retained=%v", m.Payload(), m.Retained())
	}
	// Cut the gateway's connection: the broker publishes its will, retained.
	a.mu.Lock()
	a.conn.Close()
	a.mu.Unlock()
	deadline := time.After(wait)
	for {
		st.mu.Lock()
		n := len(st.got)
		st.mu.Unlock()
		if n >= 2 {
			break
		}
		select {
		case <-st.seen:
		case <-deadline:
			t.Fatal("no will")
		}
	}
	st2 := mustDial(t, addr, "station", "s")
	st2.subscribe(t, "antt/+/status", 1)
	if m := st2.waitFor(t, "antt/gw-a/status"); string(m.Payload()) != `{"online":false,"boot":"b1"}` {
		t.Fatalf("retained will: %q", m.Payload())
	}
}

// waitCond polls cond until it holds or the deadline passes, for state
// that offers nothing to wait on.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(wait)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestPersistentSessionQoS1(t *testing.T) {
	b, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "station:s", "gw-a:a")})
	persistent := func(o *paho.ClientOptions) { o.SetClientID("antt-station").SetCleanSession(false) }
	st := mustDial(t, addr, "station", "s", persistent)
	st.subscribe(t, "antt/+/event", 1)
	st.Disconnect(100)
	// mochi's own races around a session being taken over are out of
	// scope here (see keepOrder): wait until it is idle on both sides.
	session := func() *mqtt.Client { c, _ := b.srv.Clients.Get("antt-station"); return c }
	waitCond(t, "station session closed", func() bool { return session() != nil && session().Closed() })

	a := mustDial(t, addr, "gw-a", "a")
	const n = 50
	for i := range n {
		if err := a.publish(t, "antt/gw-a/event", 1, false, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitCond(t, "messages queued", func() bool { return session().State.Inflight.Len() == n })
	// Back with the same session: the queued events arrive, in order. A
	// publish racing the disconnect may still reach the first connection
	// (and come again, marked dup, if it was not acknowledged), so both
	// connections' messages count, first copies only.
	old := st
	st = mustDial(t, addr, "station", "s", persistent)
	firsts := func() []string {
		old.mu.Lock()
		st.mu.Lock()
		defer old.mu.Unlock()
		defer st.mu.Unlock()
		var out []string
		seen := map[string]bool{}
		for _, m := range append(append([]paho.Message{}, old.got...), st.got...) {
			if m.Qos() != 1 {
				t.Errorf("message %q at QoS %d", m.Payload(), m.Qos())
			}
			if p := string(m.Payload()); !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		return out
	}
	deadline := time.After(wait)
	for len(firsts()) < n {
		select {
		case <-st.seen:
		case <-deadline:
			t.Fatalf("queued events: got %d of %d", len(firsts()), n)
		}
	}
	for i, p := range firsts() {
		if p != fmt.Sprint(i) {
			t.Fatalf("message %d is %q; all: %v", i, p, firsts())
		}
	}
}

func TestInternalDial(t *testing.T) {
	b, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "gw-a:a")})
	c := &client{seen: make(chan struct{}, 100)}
	o := paho.NewClientOptions().AddBroker("tcp://internal").SetClientID("antt-station").SetAutoReconnect(false).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.record(m) })
	o.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
		return b.Dial(context.Background())
	})
	c.Client = paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("internal connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	if code := c.subscribe(t, "antt/+/event", 1); code != 1 {
		t.Fatalf("internal subscribe: %#x", code)
	}
	if code := c.subscribe(t, "#", 1); code != 0x80 {
		t.Fatalf("internal client got #: %#x", code)
	}
	a := mustDial(t, addr, "gw-a", "a")
	a.publish(t, "antt/gw-a/event", 1, false, "{}")
	c.waitFor(t, "antt/gw-a/event")
}

func TestOpenMode(t *testing.T) {
	if _, err := New(Options{Listen: ":1883"}); err == nil {
		t.Fatal("open broker on all interfaces accepted without -insecure")
	}
	if _, err := New(Options{Listen: "192.0.2.1:1883"}); err == nil {
		t.Fatal("open broker on a LAN address accepted without -insecure")
	}
	for _, l := range []string{"127.0.0.1:1883", "[::1]:1883", "localhost:1883"} {
		if _, err := New(Options{Listen: l}); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	if b, err := New(Options{Listen: ":1883", Insecure: true}); err != nil || !b.Open() {
		t.Fatalf("insecure: %v", err)
	}
	_, addr := startBroker(t, Options{})
	c := mustDial(t, addr, "anyone", "")
	if code := c.subscribe(t, "#", 1); code != 1 {
		t.Fatalf("open mode subscribe: %#x", code)
	}
}

func TestOptionErrors(t *testing.T) {
	for name, o := range map[string]Options{
		"access without passwd": {Listen: "127.0.0.1:0", AccessFile: "x"},
		"cert without key":      {Listen: "127.0.0.1:0", CertFile: "x"},
		"ca without cert":       {Listen: "127.0.0.1:0", ClientCAFile: "x"},
		"cn without ca":         {Listen: "127.0.0.1:0", RequireCNMatch: true},
		"bad prefix":            {Listen: "127.0.0.1:0", Prefix: "a/#"},
		"missing passwd":        {Listen: "127.0.0.1:0", PasswdFile: "/nonexistent/passwd"},
		"bad listen":            {Listen: "nocolon"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// pki is a throwaway CA with server and client certificates, as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPool *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ANTT test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{dir: t.TempDir(), ca: ca, caKey: key, caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes name.pem and name.key and returns the key pair.
func (p *pki) issue(t *testing.T, name string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(p.dir, name+".pem"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(p.dir, name+".key"), "EC PRIVATE KEY", kder)
	cert, err := tls.LoadX509KeyPair(filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	p.issue(t, "station-server", true)
	gwCert := p.issue(t, "gw-a", false)
	_, addr := startBroker(t, Options{
		PasswdFile:     writePasswd(t, "gw-a:a", "gw-b:b"),
		CertFile:       filepath.Join(p.dir, "station-server.pem"),
		KeyFile:        filepath.Join(p.dir, "station-server.key"),
		ClientCAFile:   filepath.Join(p.dir, "ca.pem"),
		RequireCNMatch: true,
	})
	withTLS := func(certs ...tls.Certificate) clientOpt {
		return func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: p.caPool, Certificates: certs, MinVersion: tls.VersionTLS12})
		}
	}
	c := mustDial(t, addr, "gw-a", "a", withTLS(gwCert))
	if code := c.subscribe(t, "antt/gw-a/cmd/#", 1); code != 1 {
		t.Fatalf("subscribe over mTLS: %#x", code)
	}
	if _, err := dial(t, addr, "gw-a", "a", withTLS()); err == nil {
		t.Fatal("client without a certificate accepted")
	}
	if _, err := dial(t, addr, "gw-a", "a"); err == nil {
		t.Fatal("plain TCP client accepted on the TLS port")
	}
	// A valid certificate for another name: refused when CN must match.
	if _, err := dial(t, addr, "gw-b", "b", withTLS(gwCert)); err == nil {
		t.Fatal("certificate of gw-a accepted for gw-b")
	}
	// A certificate from another CA is refused.
	other := newPKI(t)
	if _, err := dial(t, addr, "gw-a", "a", withTLS(other.issue(t, "gw-a", false))); err == nil {
		t.Fatal("certificate from an unknown CA accepted")
	}
}
