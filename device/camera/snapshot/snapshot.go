// Package snapshot takes a JPEG still from an IP camera's HTTP(S) snapshot
// URL (the usual vendor URLs), answering a Basic or Digest challenge with the
// credentials of the URL. It is separate from the RTSP client because a
// snapshot must not depend on the video session being up: the snapshot on a
// sensor event is wanted most when the stream is broken.
package snapshot

import (
	"github.com/antt-gateway/antt/device/camera/credurl"
	"github.com/antt-gateway/antt/device/camera/httpauth"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"
)

// Defaults used when a Fetcher field is zero.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxBytes = 4 << 20
)

// ErrNotJPEG is returned when the body is neither labelled image/jpeg nor
// starts with the JPEG SOI marker; cameras answer login pages with 200.
var ErrNotJPEG = errors.New("not a JPEG")

// ErrTooLarge is returned when the body exceeds MaxBytes, which bounds the
// outbox space one event may take.
var ErrTooLarge = errors.New("snapshot too large")

// Fetcher takes snapshots. The zero value is ready to use.
type Fetcher struct {
	// Client is the HTTP client; nil means a client of its own. Its
	// redirect policy applies; credentials are not sent across redirects by
	// net/http to other hosts.
	Client *http.Client
	// Timeout bounds the whole fetch, the challenge round trip included.
	Timeout time.Duration
	// MaxBytes bounds the JPEG size.
	MaxBytes int64
}

// Fetch GETs rawURL and returns the JPEG. Credentials in the URL's userinfo
// are used only to answer a 401 challenge (Digest preferred over Basic) and
// never appear in the returned error.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	jpeg, _, err := f.FetchAuth(ctx, rawURL)
	return jpeg, err
}

// FetchAuth is Fetch that also reports whether the camera asked for Basic
// authentication over plain http://, so that the password was sent in
// clear (also when the fetch then failed).
func (f *Fetcher) FetchAuth(ctx context.Context, rawURL string) (jpeg []byte, basicInClear bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the input, which may hold the password.
		return nil, false, errors.New("snapshot: invalid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, false, fmt.Errorf("snapshot: unsupported scheme %q", u.Scheme)
	}
	jpeg, err = f.fetch(ctx, u, &basicInClear)
	return jpeg, basicInClear, err
}

func (f *Fetcher) fetch(ctx context.Context, u *url.URL, basicInClear *bool) ([]byte, error) {
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	// Some vendors take credentials in the query: errors name only
	// scheme, host and path (secret parameters in it masked).
	where := u.Scheme + "://" + u.Host + credurl.Mask(u).Path
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := f.Client
	if client == nil {
		client = &http.Client{}
	}

	resp, err := get(ctx, client, u, "")
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", where, err)
	}
	if resp.StatusCode == http.StatusUnauthorized && user != "" {
		ch := httpauth.Pick(httpauth.ParseChallenges(resp.Header.Values("WWW-Authenticate")))
		drain(resp)
		if ch == nil {
			return nil, fmt.Errorf("snapshot %s: 401 without a Basic or Digest challenge", where)
		}
		a := &httpauth.Responder{User: user, Pass: pass}
		a.SetChallenge(ch)
		*basicInClear = a.Scheme() == "basic" && u.Scheme == "http"
		resp, err = get(ctx, client, u, a.Header(http.MethodGet, u.RequestURI()))
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", where, err)
		}
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return nil, fmt.Errorf("snapshot %s: authentication failed (%s)", where, resp.Status)
		}
		return nil, fmt.Errorf("snapshot %s: %s", where, resp.Status)
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("snapshot %s: %w: %d bytes, limit %d", where, ErrTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: read body: %w", where, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("snapshot %s: %w: over %d bytes", where, ErrTooLarge, limit)
	}
	if !isJPEG(resp.Header.Get("Content-Type"), body) {
		return nil, fmt.Errorf("snapshot %s: %w (Content-Type %q, %d bytes)", where, ErrNotJPEG, resp.Header.Get("Content-Type"), len(body))
	}
	return body, nil
}

func get(ctx context.Context, client *http.Client, u *url.URL, authz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// The caller names the (credential-free) URL already.
			return nil, ue.Err
		}
		return nil, err
	}
	return resp, nil
}

// drain lets the connection be reused; bounded so a hostile server cannot
// hold the fetch.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// isJPEG accepts a body that starts with the SOI marker whatever its label
// (some cameras send application/octet-stream), and rejects one that does
// not even when labelled image/jpeg, since it would not display.
func isJPEG(contentType string, body []byte) bool {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt != "image/jpeg" && mt != "application/octet-stream" && mt != "image/jpg" {
		return false
	}
	return len(body) >= 3 && bytes.HasPrefix(body, []byte{0xFF, 0xD8, 0xFF})
}
