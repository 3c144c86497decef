package mqtttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are PEM files of a throw-away CA, a server certificate for
// 127.0.0.1/localhost and a client certificate, all in a test temp dir.
type Certs struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string // CN is the clientCN given to NewCerts
}

// NewCerts makes a CA and certificates signed by it, valid for one day.
func NewCerts(t testing.TB, clientCN string) *Certs {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caDER := newCert(t, nil, nil, "antt test CA", true, nil)
	c := &Certs{CA: filepath.Join(dir, "ca.pem")}
	writePEM(t, c.CA, "CERTIFICATE", caDER)
	srvKey, _, srvDER := newCert(t, caKey, caCert, "localhost", false, []net.IP{net.IPv4(127, 0, 0, 1)})
	c.ServerCert, c.ServerKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writePEM(t, c.ServerCert, "CERTIFICATE", srvDER)
	writeKey(t, c.ServerKey, srvKey)
	cliKey, _, cliDER := newCert(t, caKey, caCert, clientCN, false, nil)
	c.ClientCert, c.ClientKey = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writePEM(t, c.ClientCert, "CERTIFICATE", cliDER)
	writeKey(t, c.ClientKey, cliKey)
	return c
}

// ServerTLS is the TLSFiles for a broker using these certificates.
func (c *Certs) ServerTLS(requireClientCert bool) *TLSFiles {
	return &TLSFiles{CA: c.CA, Cert: c.ServerCert, Key: c.ServerKey, RequireClientCert: requireClientCert, IdentityAsUsername: requireClientCert}
}

func newCert(t testing.TB, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, cn string, isCA bool, ips []net.IP) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
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
	if !isCA {
		tmpl.DNSNames = []string{cn}
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, der
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
