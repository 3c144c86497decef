package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The console's request limits over a real connection: headers over the
// limit get 431 before any handler runs, and a form (the login's, before
// any password check) or JSON body over 64 KiB is refused with 400, not
// read on.
func TestRequestSizeLimits(t *testing.T) {
	f := newFixture(t)
	base := serveFixture(t, f)
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	rq, _ := http.NewRequest("GET", base+"/login", nil)
	rq.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	r, err := c.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: %s, want 431", r.Status)
	}

	form := url.Values{"user": {"an"}, "password": {testPassword}, "pad": {strings.Repeat("a", 70<<10)}}
	rq, _ = http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err = c.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusBadRequest || len(r.Cookies()) != 0 {
		t.Errorf("a 70 KiB login form: %s, cookies %v; want 400 and no session", r.Status, r.Cookies())
	}

	// Just under the limit is served: the limit is the documented 64 KiB.
	form = url.Values{"user": {"an"}, "password": {testPassword}, "pad": {strings.Repeat("a", 60<<10)}}
	rq, _ = http.NewRequest("POST", base+"/login", strings.NewReader(form.Encode()))
	rq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r, err = c.Do(rq); err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Errorf("a 60 KiB login form: %s, want 303", r.Status)
	}
}
