package rtsp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
)

// DefaultTLSPort is the rtsps:// port when the URL names none (RFC 2326 §3.2).
const DefaultTLSPort = "322"

// CertificateError reports an rtsps camera whose certificate was refused.
// It carries the certificate's SHA-256 fingerprint so an installer can
// check it against the camera and pin it (Config.TLSFingerprint, the
// camera's tls_fingerprint key, `gateway probe -tls-fingerprint`).
type CertificateError struct {
	URL string // redacted
	// Fingerprint is the SHA-256 of the camera's leaf certificate, as
	// FormatFingerprint prints it; empty if the camera sent none.
	Fingerprint string
	// Pinned is true when Config.TLSFingerprint was set and did not match.
	Pinned bool
	// Err is the verification failure (an x509 error when not pinned).
	Err error
}

func (e *CertificateError) Error() string {
	fp := e.Fingerprint
	if fp == "" {
		fp = "none: no certificate sent"
	}
	if e.Pinned {
		return fmt.Sprintf("rtsp: %s: certificate not trusted (sha256 %s): it does not match tls_fingerprint; if the camera's certificate was replaced on purpose, pin the new one",
			e.URL, fp)
	}
	return fmt.Sprintf("rtsp: %s: certificate not trusted (sha256 %s); pin it with tls_fingerprint: %v", e.URL, fp, e.Err)
}

// Unwrap returns the verification failure.
func (e *CertificateError) Unwrap() error { return e.Err }

// errPinMismatch is CertificateError.Err for a pinned camera.
var errPinMismatch = errors.New("certificate fingerprint mismatch")

// ParseFingerprint reads a SHA-256 certificate fingerprint written as 64
// hex digits, optionally separated by colons (as openssl and browsers show
// it), in either case.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var fp [sha256.Size]byte
	h := strings.ReplaceAll(strings.TrimSpace(s), ":", "")
	if len(h) != 2*sha256.Size {
		return fp, fmt.Errorf("tls fingerprint has %d hex digits, want %d (a SHA-256, like AB:CD:...)", len(h), 2*sha256.Size)
	}
	if _, err := hex.Decode(fp[:], []byte(h)); err != nil {
		return fp, fmt.Errorf("tls fingerprint is not hexadecimal (a SHA-256, like AB:CD:...)")
	}
	return fp, nil
}

// FormatFingerprint returns the SHA-256 of a DER certificate as upper-case
// hex pairs joined by colons, the form ParseFingerprint reads and error
// messages show.
func FormatFingerprint(der []byte) string {
	return formatSum(sha256.Sum256(der))
}

func formatSum(sum [sha256.Size]byte) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, 3*len(sum)-1)
	for i, v := range sum {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[v>>4], digits[v&0x0f])
	}
	return string(b)
}

// tlsConfig verifies a camera either by the pinned leaf fingerprint or,
// without a pin, by the usual chain to RootCAs (nil: the system roots) and
// host name. Verification is never switched off: InsecureSkipVerify only
// hands the decision to the pin check.
func (c *Config) tlsConfig(serverName string, pin *[sha256.Size]byte) *tls.Config {
	tc := &tls.Config{ServerName: serverName, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	if pin != nil {
		want := *pin
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return &CertificateError{Pinned: true, Err: errPinMismatch}
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want[:]) {
				return &CertificateError{Fingerprint: formatSum(got), Pinned: true, Err: errPinMismatch}
			}
			return nil
		}
	}
	return tc
}

// handshake runs the TLS handshake on conn and turns a verification
// failure into a *CertificateError naming the certificate's fingerprint.
func (c *Client) handshake(ctx context.Context, conn net.Conn, serverName, redacted string) (net.Conn, error) {
	tc := tls.Client(conn, c.cfg.tlsConfig(serverName, c.pin))
	err := tc.HandshakeContext(ctx)
	if err == nil {
		return tc, nil
	}
	_ = conn.Close()
	var ce *CertificateError
	if errors.As(err, &ce) {
		ce.URL = redacted
		return nil, ce
	}
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		ce := &CertificateError{URL: redacted, Err: ve.Err}
		if len(ve.UnverifiedCertificates) > 0 {
			ce.Fingerprint = FormatFingerprint(ve.UnverifiedCertificates[0].Raw)
		}
		return nil, ce
	}
	return nil, fmt.Errorf("rtsp: tls handshake %s: %w", redacted, err)
}
