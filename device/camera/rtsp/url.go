package rtsp

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/antt-gateway/antt/device/camera/credurl"
)

// Redact returns rawURL with any user information removed and secret
// parameters in its path and query masked (credurl.Mask), for logs and
// errors. An unparsable URL is reduced to its scheme so nothing leaks.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		if i := strings.Index(rawURL, "://"); i > 0 && i < 16 {
			return rawURL[:i] + "://(unparsable)"
		}
		return "(unparsable url)"
	}
	u = credurl.Mask(u)
	if u.User == nil {
		return u.String()
	}
	u.User = nil
	s := u.String()
	if i := strings.Index(s, "://"); i >= 0 {
		return s[:i+3] + "***@" + s[i+3:]
	}
	return s
}

// stripUser returns u's string form without user information, as sent on
// the wire in request lines.
func stripUser(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func isAbsoluteRTSP(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "rtsp://") || strings.HasPrefix(l, "rtsps://") || strings.HasPrefix(l, "rtspu://")
}

// resolveControl applies RFC 2326 §C.1.1: a control attribute is either an
// absolute URL, "*" (the base itself), or relative to the base. Relative
// controls are appended to the base as a string, which is what cameras mean
// even when the base has a query (Dahua: ".../realmonitor?channel=1/" +
// "trackID=0"); a leading "/" makes the control host-relative.
func resolveControl(base *url.URL, control string) (*url.URL, error) {
	control = strings.TrimSpace(control)
	switch {
	case control == "" || control == "*":
		c := *base
		return &c, nil
	case isAbsoluteRTSP(control):
		u, err := url.Parse(control)
		if err != nil {
			return nil, fmt.Errorf("%w: control url %.80q", ErrMalformed, control)
		}
		return u, nil
	case strings.HasPrefix(control, "/"):
		u, err := url.Parse(base.Scheme + "://" + base.Host + control)
		if err != nil {
			return nil, fmt.Errorf("%w: control %.80q", ErrMalformed, control)
		}
		return u, nil
	}
	b := stripUser(base)
	if !strings.HasSuffix(b, "/") {
		b += "/"
	}
	u, err := url.Parse(b + control)
	if err != nil {
		return nil, fmt.Errorf("%w: control %.80q against base %s", ErrMalformed, control, Redact(b))
	}
	return u, nil
}
