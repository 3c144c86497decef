package snapshot

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/device/camera/httpauth"
)

// fuzzCamera is a camera played in process: it challenges a request
// without Authorization with the fuzzed WWW-Authenticate values and answers
// one with it with the fuzzed Content-Type and body.
type fuzzCamera struct {
	challenges []string
	ct         string
	body       []byte
	reqs       int
	authz      string
}

func (c *fuzzCamera) RoundTrip(r *http.Request) (*http.Response, error) {
	c.reqs++
	h := http.Header{}
	if c.authz = r.Header.Get("Authorization"); c.authz == "" {
		for _, v := range c.challenges {
			h.Add("WWW-Authenticate", v)
		}
		return &http.Response{StatusCode: http.StatusUnauthorized, Status: "401 Unauthorized", Header: h,
			Body: io.NopCloser(strings.NewReader("<html>401</html>")), ContentLength: -1, Request: r}, nil
	}
	h.Set("Content-Type", c.ct)
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: h,
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: -1, Request: r}, nil
}

// FuzzFetch plays a camera answering with any challenges (one per line of
// the first argument), Content-Type and body: Fetch must not panic, must
// make at most the challenge round trip, must return exactly a JPEG body
// or an error, must prefer a usable Digest over sending the password in
// clear, and must never put the password in an error.
func FuzzFetch(f *testing.F) {
	f.Add(`Digest realm="cam", nonce="abc", qop="auth"`, "image/jpeg", testJPEG)
	f.Fuzz(func(t *testing.T, challenges, contentType string, body []byte) {
		const pass = "pw-s3cret"
		cam := &fuzzCamera{challenges: strings.Split(challenges, "\n"), ct: contentType, body: body}
		fetcher := &Fetcher{Client: &http.Client{Transport: cam}, MaxBytes: 64 << 10}
		got, err := fetcher.Fetch(context.Background(), "http://admin:"+pass+"@cam.invalid/cgi-bin/snapshot.cgi?channel=1")
		if cam.reqs > 2 {
			t.Fatalf("%d requests", cam.reqs)
		}
		if err != nil {
			if strings.Contains(err.Error(), pass) {
				t.Fatalf("password in error: %v", err)
			}
			return
		}
		if !bytes.Equal(got, body) || !bytes.HasPrefix(got, []byte{0xFF, 0xD8, 0xFF}) || len(got) > 64<<10 {
			t.Fatalf("returned %d bytes %.8x for a body of %d bytes %.8x", len(got), got, len(body), body)
		}
		if cam.reqs != 2 {
			t.Fatalf("%d requests; want the challenge round trip", cam.reqs)
		}
		for _, c := range httpauth.ParseChallenges(cam.challenges) {
			if alg := strings.ToUpper(c.Params["algorithm"]); c.Scheme == "digest" && (alg == "" || alg == "MD5") && !strings.HasPrefix(cam.authz, "Digest ") {
				t.Fatalf("answered %q although Digest was offered", cam.authz)
			}
		}
	})
}
