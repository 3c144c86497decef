package snapshot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func basicHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(testJPEG)
	})
}

// FetchAuth tells when the password went as Basic over plain http, and only then.
func TestFetchAuthReportsBasicInClear(t *testing.T) {
	plain := httptest.NewServer(basicHandler())
	defer plain.Close()
	secure := httptest.NewTLSServer(basicHandler())
	defer secure.Close()
	digest := httptest.NewServer(digestHandler(t, "admin", "pw", testJPEG))
	defer digest.Close()
	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(testJPEG)
	}))
	defer open.Close()
	cred := func(u, pw string) string {
		return strings.Replace(strings.Replace(u, "http://", "http://admin:"+pw+"@", 1), "https://", "https://admin:"+pw+"@", 1) + "/snap.jpg"
	}
	for _, tc := range []struct {
		name   string
		f      *Fetcher
		url    string
		basic  bool
		failed bool
	}{
		{"basic over http", &Fetcher{}, cred(plain.URL, "pw"), true, false},
		{"basic over http, wrong password", &Fetcher{}, cred(plain.URL, "nope"), true, true},
		{"basic over https", &Fetcher{Client: secure.Client()}, cred(secure.URL, "pw"), false, false},
		{"digest over http", &Fetcher{}, cred(digest.URL, "pw"), false, false},
		{"no challenge", &Fetcher{}, cred(open.URL, "pw"), false, false},
	} {
		jpeg, basic, err := tc.f.FetchAuth(context.Background(), tc.url)
		if basic != tc.basic || (err != nil) != tc.failed || (err == nil && string(jpeg) != string(testJPEG)) {
			t.Errorf("%s: basicInClear %v err %v; want %v, failed %v", tc.name, basic, err, tc.basic, tc.failed)
		}
	}
}

// Credentials in the path or query never reach the error.
func TestFetchErrorMasksParams(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	for _, u := range []string{
		srv.URL + "/user=admin&password=S3cr3t/snap.jpg",
		srv.URL + "/cgi-bin/api.cgi?cmd=Snap&user=admin&password=S3cr3t",
	} {
		_, err := (&Fetcher{}).Fetch(context.Background(), u)
		if err == nil || strings.Contains(err.Error(), "S3cr3t") || !strings.Contains(err.Error(), "404") {
			t.Errorf("Fetch(%s) error %v: want a 404 without the password", u, err)
		}
	}
}
