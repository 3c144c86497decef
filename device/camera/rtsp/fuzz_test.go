package rtsp

import (
	"github.com/antt-gateway/antt/device/camera/httpauth"

	"bytes"
	"errors"
	"io"
	"net/url"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the connection reader: responses,
// server requests and interleaved frames in any mix. It must never panic,
// never accept a body over the limit, and always end (every message
// consumes input).
func FuzzReader(f *testing.F) {
	f.Add([]byte("RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nabc$\x00\x00\x02hi"))
	f.Add([]byte("GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 4\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReader(bytes.NewReader(data), 4096, 1024)
		for range 10000 {
			m, err := r.next(func(ch byte, p []byte) {
				if len(p) > 65535 {
					t.Fatalf("frame of %d bytes", len(p))
				}
			})
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrMalformed) {
					return
				}
				t.Fatalf("unexpected error kind: %v", err)
			}
			if m.resp != nil {
				if len(m.resp.Body) > 1024 {
					t.Fatalf("body of %d bytes over the limit", len(m.resp.Body))
				}
				_ = m.resp.CSeq()
				_ = parseTransport(m.resp.Header.Get("Transport"))
				if ch := httpauth.Pick(httpauth.ParseChallenges(m.resp.Header.Values("Www-Authenticate"))); ch != nil {
					a := httpauth.Responder{User: "u", Pass: "p"}
					a.SetChallenge(ch)
					_ = a.Header("DESCRIBE", "rtsp://x/")
				}
				var c Client
				_ = c.parseSession(m.resp.Header.Get("Session"))
			}
		}
		t.Fatal("reader did not end")
	})
}

// FuzzParseDescription checks SDP handling: any answer is either a
// description with resolved controls or an error.
func FuzzParseDescription(f *testing.F) {
	f.Add([]byte(testSDP))
	base, _ := url.Parse("rtsp://127.0.0.1:8554/cam/")
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseDescription(body, base)
		if err != nil {
			return
		}
		if len(d.Medias) == 0 || d.Control == nil {
			t.Fatal("description without media or control")
		}
		for _, m := range d.Medias {
			if m.Control == nil || m.ClockRate <= 0 {
				t.Fatalf("media %+v", m)
			}
		}
	})
}

// FuzzParseFingerprint checks the reading of a configured certificate pin:
// anything accepted formats back to a form that parses to the same value.
func FuzzParseFingerprint(f *testing.F) {
	f.Add("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89")
	f.Add("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
	f.Add("ab:cd")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		back, err := ParseFingerprint(formatSum(fp))
		if err != nil || back != fp {
			t.Fatalf("%q parsed to %X, which formats to %q and parses to %X, %v", s, fp, formatSum(fp), back, err)
		}
	})
}
