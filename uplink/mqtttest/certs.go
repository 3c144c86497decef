package mqtttest

import "testing"

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
	p := NewPKI(t)
	c := &Certs{CA: p.CA, ServerCert: p.ServerCert, ServerKey: p.ServerKey}
	c.ClientCert, c.ClientKey = p.Files(t, clientCN)
	return c
}

// ServerTLS is the TLSFiles for a broker using these certificates.
func (c *Certs) ServerTLS(requireClientCert bool) *TLSFiles {
	return &TLSFiles{CA: c.CA, Cert: c.ServerCert, Key: c.ServerKey, RequireClientCert: requireClientCert, IdentityAsUsername: requireClientCert}
}
