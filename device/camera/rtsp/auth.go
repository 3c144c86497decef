package rtsp

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// challenge is one parsed WWW-Authenticate header.
type challenge struct {
	scheme string // "basic" or "digest"
	params map[string]string
}

// parseChallenges reads every WWW-Authenticate value; unknown schemes are skipped.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		scheme = strings.ToLower(scheme)
		if scheme != "basic" && scheme != "digest" {
			continue
		}
		out = append(out, challenge{scheme: scheme, params: parseAuthParams(rest)})
	}
	return out
}

// parseAuthParams parses `k=v, k="v, with comma"` lists.
func parseAuthParams(s string) map[string]string {
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

// authState answers challenges for one connection. The password lives only
// here and in the Authorization header on the wire.
type authState struct {
	user, pass string
	ch         *challenge
	nc         uint32
	cnonce     string
}

// pick chooses Digest over Basic, since Basic sends the password in clear.
func pickChallenge(cs []challenge) *challenge {
	var basic *challenge
	for i := range cs {
		if cs[i].scheme == "digest" {
			alg := strings.ToUpper(cs[i].params["algorithm"])
			if alg == "" || alg == "MD5" {
				return &cs[i]
			}
		} else if basic == nil {
			basic = &cs[i]
		}
	}
	return basic
}

func (a *authState) setChallenge(c *challenge) {
	a.ch = c
	a.nc = 0
	var b [8]byte
	_, _ = rand.Read(b[:])
	a.cnonce = hex.EncodeToString(b[:])
}

// header returns the Authorization value for one request, or "" before
// any challenge was seen.
func (a *authState) header(method, uri string) string {
	if a.ch == nil {
		return ""
	}
	if a.ch.scheme == "basic" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.user+":"+a.pass))
	}
	p := a.ch.params
	realm, nonce := p["realm"], p["nonce"]
	ha1 := md5hex(a.user + ":" + realm + ":" + a.pass)
	ha2 := md5hex(method + ":" + uri)
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username="%s", realm="%s", nonce="%s", uri="%s"`, quote(a.user), quote(realm), quote(nonce), quote(uri))
	if hasToken(p["qop"], "auth") {
		a.nc++
		nc := fmt.Sprintf("%08x", a.nc)
		resp := md5hex(ha1 + ":" + nonce + ":" + nc + ":" + a.cnonce + ":auth:" + ha2)
		fmt.Fprintf(&b, `, response="%s", qop=auth, nc=%s, cnonce="%s"`, resp, nc, a.cnonce)
	} else {
		fmt.Fprintf(&b, `, response="%s"`, md5hex(ha1+":"+nonce+":"+ha2))
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

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
