package mqtttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PKI is a throw-away CA in a test temp dir with a server certificate for
// 127.0.0.1/localhost, issuing one client certificate per name asked for.
type PKI struct {
	dir                   string
	caKey                 *ecdsa.PrivateKey
	ca                    *x509.Certificate
	CA                    string // PEM file of the CA
	ServerCert, ServerKey string
}

// NewPKI makes the CA and the server certificate, valid for one day.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{dir: t.TempDir()}
	p.caKey, p.ca = p.issue(t, "antt test CA", "ca", nil)
	p.CA = filepath.Join(p.dir, "ca.pem")
	p.ServerCert, p.ServerKey = p.Files(t, "server")
	return p
}

// ServerTLS is the TLSFiles for a broker using the server certificate.
func (p *PKI) ServerTLS(requireClientCert bool) *TLSFiles {
	return &TLSFiles{CA: p.CA, Cert: p.ServerCert, Key: p.ServerKey, RequireClientCert: requireClientCert, IdentityAsUsername: requireClientCert}
}

// Files issues a certificate for common name cn (for "server": localhost and
// 127.0.0.1) and returns its PEM certificate and key files.
func (p *PKI) Files(t testing.TB, cn string) (cert, key string) {
	t.Helper()
	if cn == "server" {
		p.issue(t, "localhost", cn, []net.IP{net.IPv4(127, 0, 0, 1)})
	} else {
		p.issue(t, cn, cn, nil)
	}
	return filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+".key")
}

// ClientTLS is the TLS configuration of an MQTT client trusting the CA and,
// unless cn is "", presenting a certificate for cn.
func (p *PKI) ClientTLS(t testing.TB, cn string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cn != "" {
		cf, kf := p.Files(t, cn)
		pair, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

// issue makes a key and a certificate signed by the CA (self-signed for the
// CA itself, while p.ca is nil) and writes name.pem and name.key.
func (p *PKI) issue(t testing.TB, cn, name string, ips []net.IP) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  ips,
	}
	parent, parentKey := p.ca, p.caKey
	if p.ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
		parent, parentKey = tmpl, key
	} else {
		tmpl.DNSNames = []string{cn}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string]*pem.Block{
		name + ".pem": {Type: "CERTIFICATE", Bytes: der},
		name + ".key": {Type: "PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(filepath.Join(p.dir, f), pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return key, cert
}

// DialTLS connects a clean-session paho client over TLS without
// auto-reconnect, so a refused or dropped connection shows as an error
// rather than a retry.
func DialTLS(addr string, tc *tls.Config, user, pass, clientID string) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("ssl://" + addr).SetTLSConfig(tc).
		SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetOrderMatters(true)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

// WaitToken fails the test unless tok completes without error within 10 s.
func WaitToken(t testing.TB, tok paho.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("%s: no answer from the broker within 10 s", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Inbox records every message a client receives; Handle is its paho
// message handler.
type Inbox struct {
	mu   sync.Mutex
	msgs []Msg
}

// Msg is one received message.
type Msg struct {
	Topic   string
	Payload []byte
}

// Handle records m.
func (b *Inbox) Handle(_ paho.Client, m paho.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, Msg{m.Topic(), bytes.Clone(m.Payload())})
	b.mu.Unlock()
}

// Find returns the first message for which match holds.
func (b *Inbox) Find(match func(topic string, payload []byte) bool) (Msg, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs {
		if match(m.Topic, m.Payload) {
			return m, true
		}
	}
	return Msg{}, false
}

// WaitFor returns the first message for which match holds, waiting up to
// 15 s for it.
func (b *Inbox) WaitFor(t testing.TB, what string, match func(topic string, payload []byte) bool) Msg {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m, ok := b.Find(match); ok {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 15 s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// Msgs returns a copy of every message received so far.
func (b *Inbox) Msgs() []Msg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Msg(nil), b.msgs...)
}
