// Package httpauth answers the Basic and Digest challenges of HTTP and RTSP
// servers (RFC 7617; RFC 7616 with MD5 and qop=auth, as IP cameras use
// them). The RTSP client and the snapshot fetcher share it.
package httpauth

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Challenge is one parsed WWW-Authenticate header.
type Challenge struct {
	Scheme string // "basic" or "digest"
	Params map[string]string
}

// ParseChallenges reads every WWW-Authenticate value; unknown schemes are skipped.
// One value may hold several challenges (RFC 7235 §4.1), as a server or a
// proxy joining header lines may send them.
func ParseChallenges(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		for _, c := range splitChallenges(v) {
			scheme, rest := c, ""
			if k := strings.IndexAny(c, " \t"); k >= 0 {
				scheme, rest = c[:k], c[k+1:]
			}
			scheme = strings.ToLower(scheme)
			if scheme != "basic" && scheme != "digest" {
				continue
			}
			out = append(out, Challenge{Scheme: scheme, Params: ParseParams(rest)})
		}
	}
	return out
}

// splitChallenges cuts one header value into its challenges. Challenges and
// their parameters are both separated by commas; a list element that starts
// with a token not followed by "=" (`Basic realm="x"`, a bare `Negotiate`)
// begins a new challenge, anything else (`nonce="a, b"`) continues the
// current one.
func splitChallenges(v string) []string {
	var out []string
	cur := -1 // start of the current challenge
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
			j++
		}
		if startsChallenge(v[j:]) {
			if cur >= 0 {
				out = append(out, strings.TrimRight(v[cur:i], " \t,"))
			}
			cur = j
		}
		i = nextElement(v, j)
	}
	if cur >= 0 {
		out = append(out, strings.TrimRight(v[cur:], " \t,"))
	}
	return out
}

// startsChallenge reports whether list element s begins with an auth-scheme
// rather than an auth-param.
func startsChallenge(s string) bool {
	n := 0
	for n < len(s) && isTokenChar(s[n]) {
		n++
	}
	if n == 0 {
		return false
	}
	rest := strings.TrimLeft(s[n:], " \t")
	switch {
	case rest == "" || rest[0] == ',':
		return true // a scheme without parameters
	case rest[0] == '=':
		return false // a parameter, maybe with spaces around "="
	default:
		return len(rest) < len(s[n:]) // scheme, whitespace, then its parameters
	}
}

// nextElement returns the index just past the comma that ends the list
// element starting at i, skipping commas inside quoted strings.
func nextElement(v string, i int) int {
	quoted := false
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			return i + 1
		}
	}
	return len(v)
}

// isTokenChar reports whether c may appear in an RFC 7230 token.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// ParseParams parses `k=v, k="v, with comma"` lists.
func ParseParams(s string) map[string]string {
	p := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		k := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var v string
		if strings.HasPrefix(s, `"`) {
			s = s[1:]
			var b strings.Builder
			i := 0
			for ; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if s[i] == '"' {
					break
				}
				b.WriteByte(s[i])
			}
			v = b.String()
			if i < len(s) {
				i++
			}
			s = s[i:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		p[k] = v
	}
	return p
}

// Responder answers challenges for one connection (or request). The password lives only
// here and in the Authorization header on the wire.
type Responder struct {
	User, Pass string
	ch         *Challenge
	nc         uint32
	cnonce     string
}

// Pick chooses Digest over Basic, since Basic sends the password in clear.
func Pick(cs []Challenge) *Challenge {
	var basic *Challenge
	for i := range cs {
		if cs[i].Scheme == "digest" {
			alg := strings.ToUpper(cs[i].Params["algorithm"])
			if alg == "" || alg == "MD5" {
				return &cs[i]
			}
		} else if basic == nil {
			basic = &cs[i]
		}
	}
	return basic
}

// SetChallenge makes c the challenge answered from now on, with a fresh
// client nonce and count.
func (a *Responder) SetChallenge(c *Challenge) {
	a.ch = c
	a.nc = 0
	var b [8]byte
	_, _ = rand.Read(b[:])
	a.cnonce = hex.EncodeToString(b[:])
}

// Header returns the Authorization value for one request, or "" before
// any Challenge was seen.
func (a *Responder) Header(method, uri string) string {
	if a.ch == nil {
		return ""
	}
	if a.ch.Scheme == "basic" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.User+":"+a.Pass))
	}
	p := a.ch.Params
	realm, nonce := p["realm"], p["nonce"]
	ha1 := MD5Hex(a.User + ":" + realm + ":" + a.Pass)
	ha2 := MD5Hex(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, quote(a.User), quote(realm), quote(nonce), quote(uri))
	if hasToken(p["qop"], "auth") {
		a.nc++
		nc := fmt.Sprintf("%08x", a.nc)
		resp := MD5Hex(ha1 + ":" + nonce + ":" + nc + ":" + a.cnonce + ":auth:" + ha2)
		fmt.Fprintf(&b, `, response="%s", qop=auth, nc=%s, cnonce="%s"`, resp, nc, a.cnonce)
	} else {
		fmt.Fprintf(&b, `, response="%s"`, MD5Hex(ha1+":"+nonce+":"+ha2))
	}
	if alg := p["algorithm"]; alg != "" {
		fmt.Fprintf(&b, ", algorithm=%s", alg)
	}
	if op, ok := p["opaque"]; ok {
		fmt.Fprintf(&b, `, opaque="%s"`, quote(op))
	}
	return b.String()
}

func hasToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

func quote(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }

// MD5Hex is the hex MD5 of s, the digest primitive (exported for tests of
// servers that check responses).
func MD5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// Answering reports whether a challenge is being answered (SetChallenge was
// called since the last Reset): a second 401 then means wrong credentials,
// unless the server says the nonce was stale.
func (a *Responder) Answering() bool { return a.ch != nil }

// Scheme is the scheme of the challenge being answered, "basic" or
// "digest", or "" when none is. With "basic" the password goes in every
// request, readable by anyone on the path unless the connection is TLS.
func (a *Responder) Scheme() string {
	if a.ch == nil {
		return ""
	}
	return a.ch.Scheme
}

// Reset forgets the challenge, for a new server (after a redirect).
func (a *Responder) Reset() { a.ch = nil }

// Count is the nonce count of the last Digest answer to this challenge.
func (a *Responder) Count() uint32 { return a.nc }
