package main

import (
	"bytes"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/antt-gateway/antt/device/camera/rtsp"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
)

// tlsFront puts TLS with a fresh self-signed certificate in front of the
// plain camera at rawURL (as a camera's own rtsps port would be) and returns
// the rtsps:// URL and the certificate's fingerprint.
func tlsFront(t *testing.T, rawURL string) (string, string) {
	t.Helper()
	target := strings.TrimPrefix(rawURL, "rtsp://")
	target, path, _ := strings.Cut(target, "/")
	cert := rtsptest.Issue(t, nil, false, "127.0.0.1")
	ln := rtsptest.ListenTLS(t, cert)
	rtsptest.Serve(t, ln, func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer up.Close()
		// Either side ending ends both: closing c and up unblocks the other copy.
		var pair sync.WaitGroup
		pair.Go(func() { _, _ = io.Copy(up, c); _ = up.Close(); _ = c.Close() })
		pair.Go(func() { _, _ = io.Copy(c, up); _ = up.Close(); _ = c.Close() })
		pair.Wait()
	})
	return "rtsps://" + ln.Addr().String() + "/" + path, rtsp.FormatFingerprint(cert.Certificate[0])
}

func TestProbeRTSPS(t *testing.T) {
	u, fp := tlsFront(t, startCamera(t, "--auth", "digest", "--width", "320", "--height", "180"))
	withPass := strings.Replace(u, "rtsps://", "rtsps://viewer:secret@", 1)

	// Not trusted: the error carries the fingerprint to pin.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"probe", "-duration", "1s", withPass}, &stdout, &stderr); code != 1 {
		t.Fatalf("untrusted certificate: exit %d, want 1:\n%s", code, stderr.String())
	}
	msg := stderr.String()
	t.Log(msg)
	if !strings.Contains(msg, "certificate not trusted (sha256 "+fp+")") || !strings.Contains(msg, "-tls-fingerprint "+fp) || strings.Contains(msg, "secret") {
		t.Errorf("stderr %q should name the fingerprint %s and not the password", msg, fp)
	}

	// Pinned (as an installer copies it, lower case): the whole probe runs over TLS.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"probe", withPass, "-duration", "1500ms", "-tls-fingerprint", strings.ToLower(fp)}, &stdout, &stderr); code != 0 {
		t.Fatalf("pinned: exit %d:\n%s", code, stderr.String())
	}
	out := stdout.String()
	t.Log(out)
	for _, re := range []string{`video H264 320x180 \d+\.\d\d fps`, `audio PCMA 8000 Hz`, `rtsps://\*\*\*@127\.0\.0\.1:\d+/cam`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s", re)
		}
	}

	// UDP cannot carry rtsps media; a pin needs rtsps.
	for _, args := range [][]string{
		{"probe", u, "-transport", "udp"},
		{"probe", strings.Replace(u, "rtsps://", "rtsp://", 1), "-tls-fingerprint", fp},
	} {
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "rtsps") {
			t.Errorf("%q: exit %d, stderr %q; want 1 and a word on rtsps", args, code, stderr.String())
		}
	}
}
