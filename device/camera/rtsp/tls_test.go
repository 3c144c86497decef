package rtsp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
)

// serveTLS is serve behind TLS with cert; it returns the rtsps:// URL.
func serveTLS(t *testing.T, cert tls.Certificate, handle func(f *fakeConn)) string {
	t.Helper()
	return "rtsps://" + serveOn(t, rtsptest.ListenTLS(t, cert), handle)
}

// streamingCamera is camera sending RTP and RTCP every few milliseconds
// after PLAY, until the connection ends.
func streamingCamera(f *fakeConn) {
	stop := make(chan struct{})
	defer close(stop)
	camera(f, 60, func(f *fakeConn) {
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // pacing like a camera
			}
			if f.frame(0, []byte{0x80, 96, byte(seq >> 8), byte(seq), 0, 0, 0, 0, 0, 0, 0, 1, 0x41, 0x9a}) != nil ||
				f.frame(1, []byte{0x81, 200, 0, 6}) != nil {
				return
			}
		}
	})
}

// receive runs c until it delivered some RTP and RTCP.
func receive(t *testing.T, ctx context.Context, c *Client) {
	t.Helper()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var rtpN, rtcpN int
	err := c.Run(rctx, func(p Packet) {
		if p.RTCP {
			rtcpN++
		} else {
			rtpN++
		}
		if rtpN >= 5 && rtcpN >= 1 {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) || rtpN < 5 || rtcpN < 1 {
		t.Fatalf("Run = %v after rtp=%d rtcp=%d, want it cancelled after 5 and 1", err, rtpN, rtcpN)
	}
}

func TestTLSPinnedSession(t *testing.T) {
	cert := rtsptest.Issue(t, nil, false, "cam.test") // self-signed, and not even for this host
	u := serveTLS(t, cert, streamingCamera)
	fp := FormatFingerprint(cert.Certificate[0])
	// Lower case without colons, as some camera web pages show it.
	pin := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, d := start(t, ctx, u+"/cam", Config{TLSFingerprint: pin})
	if got := d.Medias[0].Control.String(); got != u+"/cam/stream=0" {
		t.Errorf("video control = %s", got)
	}
	if _, ok := c.conn.(*tls.Conn); !ok {
		t.Fatalf("connection is %T, not TLS", c.conn)
	}
	receive(t, ctx, c)
}

func TestTLSWrongPin(t *testing.T) {
	cert := rtsptest.Issue(t, nil, false, "127.0.0.1")
	other := rtsptest.Issue(t, nil, false, "127.0.0.1")
	u := serveTLS(t, cert, streamingCamera)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, strings.Replace(u, "://", "://admin:hunter2@", 1)+"/cam",
		Config{TLSFingerprint: FormatFingerprint(other.Certificate[0])})
	t.Log(err)
	var ce *CertificateError
	if !errors.As(err, &ce) || !ce.Pinned {
		t.Fatalf("err = %v, want a pinned *CertificateError", err)
	}
	fp := FormatFingerprint(cert.Certificate[0])
	msg := err.Error()
	if ce.Fingerprint != fp || !strings.Contains(msg, "sha256 "+fp) || !strings.Contains(msg, "tls_fingerprint") {
		t.Errorf("err = %q, want the camera's fingerprint %s", msg, fp)
	}
	if strings.Contains(msg, "hunter2") || !strings.Contains(msg, "rtsps://***@127.0.0.1:") {
		t.Errorf("err = %q, want the redacted url", msg)
	}
}

func TestTLSUntrustedWithoutPin(t *testing.T) {
	cert := rtsptest.Issue(t, nil, false, "127.0.0.1")
	u := serveTLS(t, cert, streamingCamera)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, u+"/cam", Config{})
	t.Log(err)
	var ce *CertificateError
	if !errors.As(err, &ce) || ce.Pinned {
		t.Fatalf("err = %v, want an unpinned *CertificateError", err)
	}
	fp := FormatFingerprint(cert.Certificate[0])
	want := "rtsp: " + u + "/cam: certificate not trusted (sha256 " + fp + "); pin it with tls_fingerprint"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q\nwant it to start %q", err, want)
	}
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Errorf("err = %v, want it to wrap x509.UnknownAuthorityError", err)
	}
}

func TestTLSRootCAs(t *testing.T) {
	ca := rtsptest.Issue(t, nil, true)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Leaf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	good := serveTLS(t, rtsptest.Issue(t, &ca, false, "127.0.0.1"), streamingCamera)
	c, _ := start(t, ctx, good+"/cam", Config{RootCAs: pool})
	receive(t, ctx, c)

	// Signed by the CA but for another name: the host name still counts.
	misnamed := rtsptest.Issue(t, &ca, false, "cam.test")
	u := serveTLS(t, misnamed, streamingCamera)
	_, err := Dial(ctx, u+"/cam", Config{RootCAs: pool})
	t.Log(err)
	var ce *CertificateError
	var he x509.HostnameError
	if !errors.As(err, &ce) || ce.Fingerprint != FormatFingerprint(misnamed.Certificate[0]) || !errors.As(err, &he) {
		t.Fatalf("err = %v, want a host name *CertificateError with the leaf's fingerprint", err)
	}
}

func TestTLSRefusesUDP(t *testing.T) {
	var conns atomic.Int32
	u := serveTLS(t, rtsptest.Issue(t, nil, false, "127.0.0.1"), func(f *fakeConn) { conns.Add(1) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, strings.Replace(u, "://", "://admin:hunter2@", 1)+"/cam", Config{Transport: UDP})
	if err == nil {
		t.Fatal("UDP with rtsps accepted")
	}
	t.Log(err)
	msg := err.Error()
	for _, want := range []string{"rtsps://***@127.0.0.1:", "/cam", "UDP", "SRTP", "use TCP"} {
		if !strings.Contains(msg, want) {
			t.Errorf("err = %q, want it to say %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("err = %q leaks the password", msg)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections made before refusing", n)
	}
}

func TestTLSRedirects(t *testing.T) {
	cert := rtsptest.Issue(t, nil, false, "127.0.0.1")
	pin := FormatFingerprint(cert.Certificate[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	redirector := func(to string) func(f *fakeConn) {
		return func(f *fakeConn) {
			for {
				r, err := f.read()
				if err != nil {
					return
				}
				f.reply(r, "302 Moved", "Location: "+to)
			}
		}
	}

	// rtsps -> rtsp would send the session (and credentials) in clear.
	var plainConns atomic.Int32
	plain := serve(t, func(f *fakeConn) { plainConns.Add(1); camera(f, 60, nil) })
	hop := serveTLS(t, cert, redirector(plain+"/real"))
	c, err := Dial(ctx, hop+"/cam", Config{TLSFingerprint: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Options(ctx)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "downgrade") {
		t.Fatalf("rtsps -> rtsp redirect: err = %v, want it refused as a downgrade", err)
	}
	if n := plainConns.Load(); n != 0 {
		t.Errorf("%d connections to the plain camera", n)
	}

	// rtsp -> rtsps is an upgrade, verified as usual (here by a CA).
	ca := rtsptest.Issue(t, nil, true)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Leaf)
	secure := serveTLS(t, rtsptest.Issue(t, &ca, false, "127.0.0.1"), func(f *fakeConn) { camera(f, 60, nil) })
	up := serve(t, redirector(secure+"/real"))
	_, d := start(t, ctx, up+"/cam", Config{RootCAs: pool})
	if got := d.Control.String(); got != secure+"/real/" {
		t.Fatalf("aggregate control after the redirect = %s, want %s/real/", got, secure)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	ctx := context.Background()
	fp := strings.Repeat("ab:", 31) + "ab"
	for _, tc := range []struct{ url, pin, want string }{
		{"rtsp://127.0.0.1:1/x", fp, "needs an rtsps:// url"},
		{"rtsps://127.0.0.1:1/x", "ab:cd", "has 4 hex digits, want 64"},
		{"rtsps://127.0.0.1:1/x", strings.Repeat("zz", 32), "not hexadecimal"},
		{"http://127.0.0.1:1/x", "", `scheme "http" not supported (want rtsp or rtsps)`},
	} {
		_, err := Dial(ctx, tc.url, Config{TLSFingerprint: tc.pin})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dial(%s, pin %q) = %v, want %q", tc.url, tc.pin, err, tc.want)
		}
	}
}

func TestFingerprintFormat(t *testing.T) {
	cert := rtsptest.Issue(t, nil, false, "127.0.0.1")
	fp := FormatFingerprint(cert.Certificate[0])
	if len(fp) != 95 || strings.ToUpper(fp) != fp || strings.Count(fp, ":") != 31 {
		t.Fatalf("FormatFingerprint = %q, want 32 upper-case hex pairs joined by ':'", fp)
	}
	for _, in := range []string{fp, strings.ToLower(fp), strings.ReplaceAll(fp, ":", ""), " " + fp + "\n"} {
		got, err := ParseFingerprint(in)
		if err != nil || formatSum(got) != fp {
			t.Errorf("ParseFingerprint(%q) = %X, %v; want %s", in, got, err, fp)
		}
	}
}

func TestDialAddress(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://cam/x":         "cam:554",
		"rtsps://cam/x":        "cam:322",
		"RTSPS://cam/x":        "cam:322",
		"rtsps://cam:8322/x":   "cam:8322",
		"rtsps://[fe80::1]/x":  "[fe80::1]:322",
		"rtsp://u:p@cam:8554/": "cam:8554",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := dialAddress(u); got != want {
			t.Errorf("dialAddress(%s) = %s, want %s", in, got, want)
		}
	}
}
