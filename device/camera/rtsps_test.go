package camera

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
)

// tlsHangUp listens on loopback with a fresh self-signed certificate,
// completes each TLS handshake and hangs up. It returns the rtsps:// URL
// (with credentials) and the certificate's fingerprint.
func tlsHangUp(t *testing.T) (string, string) {
	t.Helper()
	cert := rtsptest.Issue(t, nil, false, "127.0.0.1")
	ln := rtsptest.ListenTLS(t, cert)
	rtsptest.Serve(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_ = c.(*tls.Conn).Handshake()
	})
	return "rtsps://admin:hunter2@" + ln.Addr().String() + "/cam", rtsp.FormatFingerprint(cert.Certificate[0])
}

// Open takes rtsps:// URLs and hands Transport and TLSFingerprint to the
// RTSP client.
func TestOpenRTSPS(t *testing.T) {
	u, fp := tlsHangUp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wrong := strings.Repeat("00:", 31) + "00"
	for _, tc := range []struct {
		name string
		opts Options
		want func(error) bool
	}{
		{"udp", Options{Transport: rtsp.UDP}, func(err error) bool { return strings.Contains(err.Error(), "SRTP") }},
		{"no pin", Options{}, func(err error) bool {
			var ce *rtsp.CertificateError
			return errors.As(err, &ce) && !ce.Pinned && ce.Fingerprint == fp
		}},
		{"wrong pin", Options{TLSFingerprint: wrong}, func(err error) bool {
			var ce *rtsp.CertificateError
			return errors.As(err, &ce) && ce.Pinned && ce.Fingerprint == fp
		}},
		// Trusted by the pin, the session gets as far as OPTIONS, which
		// the hanging-up server never answers.
		{"pin", Options{TLSFingerprint: fp}, func(err error) bool {
			var ce *rtsp.CertificateError
			return !errors.As(err, &ce) && strings.Contains(err.Error(), "rtsp OPTIONS")
		}},
	} {
		tc.opts.Timeout = 5 * time.Second
		_, err := Open(ctx, u, tc.opts)
		if err == nil || !tc.want(err) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: Open = %v", tc.name, err)
		}
	}
}
