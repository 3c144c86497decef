package snapshot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFetchDigestOfferedInOneValue: a camera (or a proxy joining header
// lines) lists Basic and Digest in one WWW-Authenticate value. Digest must
// be used: Basic would send the password in clear.
func TestFetchDigestOfferedInOneValue(t *testing.T) {
	digest := digestHandler(t, "admin", "s3cret", testJPEG)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
			t.Error("password sent in clear although Digest was offered")
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="cam", Digest realm="cam", nonce="abc123nonce", qop="auth", algorithm=MD5`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		digest.ServeHTTP(w, r)
	}))
	defer srv.Close()
	got, err := (&Fetcher{}).Fetch(context.Background(), strings.Replace(srv.URL, "http://", "http://admin:s3cret@", 1)+"/ISAPI/Streaming/channels/101/picture")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(testJPEG) {
		t.Fatalf("got %x", got)
	}
}
