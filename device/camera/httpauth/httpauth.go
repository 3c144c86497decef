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
func ParseChallenges(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		scheme = strings.ToLower(scheme)
		if scheme != "basic" && scheme != "digest" {
			continue
		}
		out = append(out, Challenge{Scheme: scheme, Params: ParseParams(rest)})
	}
	return out
}

// parseAuthParams parses `k=v, k="v, with comma"` lists.
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

// Reset forgets the challenge, for a new server (after a redirect).
func (a *Responder) Reset() { a.ch = nil }

// Count is the nonce count of the last Digest answer to this challenge.
func (a *Responder) Count() uint32 { return a.nc }
