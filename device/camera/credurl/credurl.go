// Package credurl finds and hides the credentials a camera URL carries: the
// password in its user info, and the parameters camera vendors take them in,
// in the query (Hikvision's ?auth=, Reolink's ?user=&password= or ?token=,
// Foscam's ?usr=&pwd=, ONVIF snapshot URLs) or in the path (XMEye DVRs'
// rtsp://host/user=admin&password=...&channel=1&stream=0.sdp).
//
// Every place a camera URL can be shown (config output, errors, logs, the
// probe) masks it with Mask, after handling the user info its own way.
// Names are matched without regard to case; user names are credentials (Find
// reports them) but are not secret and stay visible, as in the user info.
package credurl

import (
	"net/url"
	"strings"
)

// Masked is what a secret parameter's value is shown as, like the password
// of url.URL.Redacted.
const Masked = "xxxxx"

// secretExact are parameter names whose value is a secret.
var secretExact = map[string]bool{
	"pass": true, "pwd": true, "psw": true, "pw": true, "passw": true, "loginpas": true,
	"auth": true, "authkey": true, "authorization": true, "key": true, "sig": true,
}

// secretParts make any parameter name containing them secret
// (rtsp_password, accessToken, api_key ...).
var secretParts = []string{"password", "passwd", "token", "secret", "apikey", "api_key", "credential", "signature"}

// userNames are parameter names holding a user name: a credential, but shown.
var userNames = map[string]bool{
	"user": true, "username": true, "usr": true, "uname": true, "login": true, "loginuse": true, "account": true,
}

// IsSecret reports whether a parameter of this name holds a secret.
func IsSecret(name string) bool {
	n := strings.ToLower(name)
	if secretExact[n] {
		return true
	}
	for _, p := range secretParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// Found is what credentials a URL carries.
type Found struct {
	// UserInfo: the URL has user info (a user name, perhaps a password),
	// which an RTSP or HTTP client sends only to answer a challenge.
	UserInfo bool
	// Params names the parameters holding a user name or a secret, in the
	// order they appear; they are sent with every request, as written.
	Params []string
}

// Any reports whether any credential was found.
func (f Found) Any() bool { return f.UserInfo || len(f.Params) > 0 }

// Find reports the credentials u carries.
func Find(u *url.URL) Found {
	var f Found
	f.UserInfo = u.User != nil && (u.User.Username() != "" || hasPassword(u.User))
	visit := func(s string, inPath bool) {
		eachParam(s, inPath, func(name string, _, _ int) {
			if IsSecret(name) || userNames[strings.ToLower(name)] {
				f.Params = append(f.Params, name)
			}
		})
	}
	visit(u.EscapedPath(), true)
	visit(u.RawQuery, false)
	visit(u.EscapedFragment(), false)
	return f
}

func hasPassword(ui *url.Userinfo) bool {
	_, ok := ui.Password()
	return ok
}

// Mask returns a copy of u with the value of every secret parameter in its
// path, query and fragment replaced by Masked (an empty value stays empty,
// so "not set" stays visible). The user info is left as it is: callers
// show it their own way (url.URL.Redacted, or not at all).
func Mask(u *url.URL) *url.URL {
	c := *u
	// Masked in their escaped forms: a value may hold an escaped separator
	// (%2F, %26), which would split it once unescaped.
	if p := u.EscapedPath(); maskParams(p, true) != p {
		m := maskParams(p, true)
		c.Path, c.RawPath = unescaped(m, url.PathUnescape), m
	}
	c.RawQuery = maskParams(c.RawQuery, false)
	if f := u.EscapedFragment(); maskParams(f, false) != f {
		m := maskParams(f, false)
		c.Fragment, c.RawFragment = unescaped(m, url.PathUnescape), m
	}
	return &c
}

// unescaped is s unescaped, or s itself if it does not unescape (it came
// from a parsed URL's escaped form, so it does).
func unescaped(s string, unescape func(string) (string, error)) string {
	if v, err := unescape(s); err == nil {
		return v
	}
	return s
}

// maskParams masks the secret values in s.
func maskParams(s string, inPath bool) string {
	var b strings.Builder
	last := 0
	eachParam(s, inPath, func(name string, vs, ve int) {
		if ve == vs || !IsSecret(name) {
			return
		}
		b.WriteString(s[last:vs])
		b.WriteString(Masked)
		last = ve
	})
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// eachParam calls fn for every name=value pair in s with the value's
// bounds. Pairs are separated by & or ; (and, in a path, by / too: a
// value in a query may hold a /, a path segment may not). A name is
// unescaped when it can be.
func eachParam(s string, inPath bool, fn func(name string, vs, ve int)) {
	sep := "&;"
	if inPath {
		sep = "&;/"
	}
	for start := 0; start <= len(s); {
		end := strings.IndexAny(s[start:], sep)
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		pair := s[start:end]
		if i := strings.IndexByte(pair, '='); i > 0 {
			name := pair[:i]
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			// A path segment may start with ? or a query with ? (seen in
			// hand-written URLs); the name is what follows.
			name = name[strings.LastIndexByte(name, '?')+1:]
			fn(name, start+i+1, end)
		}
		start = end + 1
	}
}
