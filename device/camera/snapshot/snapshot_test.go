package snapshot

import (
	"github.com/antt-gateway/antt/device/camera/httpauth"

	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testJPEG = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, []byte("fake jpeg body")...)

func hexMD5(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// digestHandler checks RFC 2617 Digest (MD5, qop=auth) the way cameras do.
func digestHandler(t *testing.T, user, pass string, body []byte) http.Handler {
	const realm, nonce = "cam", "abc123nonce"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if !strings.HasPrefix(h, "Digest ") {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm=%q, nonce=%q, qop="auth", algorithm=MD5`, realm, nonce))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		p := httpauth.ParseParams(strings.TrimPrefix(h, "Digest "))
		ha1 := hexMD5(user + ":" + realm + ":" + pass)
		ha2 := hexMD5(r.Method + ":" + p["uri"])
		want := hexMD5(ha1 + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
		if p["username"] != user || p["uri"] != r.URL.RequestURI() || p["response"] != want {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(body)
	})
}

func TestFetchDigest(t *testing.T) {
	srv := httptest.NewServer(digestHandler(t, "admin", "s3cret", testJPEG))
	defer srv.Close()
	got, err := (&Fetcher{}).Fetch(context.Background(), strings.Replace(srv.URL, "http://", "http://admin:s3cret@", 1)+"/cgi-bin/snapshot.cgi?channel=1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(testJPEG) {
		t.Fatalf("got %x", got)
	}
}

func TestFetchBasic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "admin" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(testJPEG)
	}))
	defer srv.Close()
	got, err := (&Fetcher{}).Fetch(context.Background(), strings.Replace(srv.URL, "http://", "http://admin:pw@", 1)+"/snap.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(testJPEG) {
		t.Fatalf("got %x", got)
	}
}

func TestFetchWrongPasswordHidesCredentials(t *testing.T) {
	srv := httptest.NewServer(digestHandler(t, "admin", "right", testJPEG))
	defer srv.Close()
	_, err := (&Fetcher{}).Fetch(context.Background(), strings.Replace(srv.URL, "http://", "http://admin:wrongpw@", 1)+"/snap")
	if err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrongpw") || strings.Contains(err.Error(), "admin") {
		t.Fatalf("credentials leaked: %v", err)
	}
}

func TestFetchNotJPEG(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>login</html>"))
	}))
	defer srv.Close()
	_, err := (&Fetcher{}).Fetch(context.Background(), srv.URL)
	if !errors.Is(err, ErrNotJPEG) {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchTooLarge(t *testing.T) {
	big := append(append([]byte{}, testJPEG...), make([]byte, 2048)...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		// Chunked, so the limit is enforced while reading, not from Content-Length.
		for i := 0; i < len(big); i += 100 {
			_, _ = w.Write(big[i:min(i+100, len(big))])
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	_, err := (&Fetcher{MaxBytes: 1024}).Fetch(context.Background(), srv.URL)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	_, err := (&Fetcher{Timeout: 50 * time.Millisecond}).Fetch(context.Background(), srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := strings.Replace(srv.URL, "http://", "http://admin:topsecret@", 1)
	srv.Close()
	_, err := (&Fetcher{}).Fetch(context.Background(), u)
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("err = %v", err)
	}
}

func TestFetchBadURLHidesCredentials(t *testing.T) {
	_, err := (&Fetcher{}).Fetch(context.Background(), "http://admin:pa ss@%zz/")
	if err == nil || strings.Contains(err.Error(), "pa ss") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Digest realm="cam", nonce="abc", qop="auth,auth-int", algorithm=MD5, opaque="x"`)
	f.Add(`Basic realm="a\"b"`)
	f.Add(`Digest realm=unquoted,nonce=`)
	f.Fuzz(func(t *testing.T, v string) {
		cs := httpauth.ParseChallenges([]string{v})
		if c := httpauth.Pick(cs); c != nil {
			a := &httpauth.Responder{User: "u", Pass: "p"}
			a.SetChallenge(c)
			if h := a.Header(http.MethodGet, "/x"); h == "" {
				t.Fatal("empty Authorization for a challenge")
			}
		}
	})
}
