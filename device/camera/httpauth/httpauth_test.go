package httpauth

import (
	"encoding/base64"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

// Challenges as cameras and streaming servers send them (nonces shortened).
func TestParseChallengesVendors(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		scheme string            // what Pick chooses; "" for nothing
		want   map[string]string // some of its params
	}{
		{"Axis VAPIX", []string{
			`Digest realm="AXIS_ACCC8E0A1B2C", nonce="0024e7b2Y3f5a1c8e0d4b6a9f2c7e5d1b3a8c6e4f2a0d9", algorithm=SHA-256, qop="auth"`,
			`Digest realm="AXIS_ACCC8E0A1B2C", nonce="0024e7b2Y3f5a1c8e0d4b6a9f2c7e5d1b3a8c6e4f2a0d9", algorithm=MD5, qop="auth"`,
			`Basic realm="AXIS_ACCC8E0A1B2C"`,
		}, "digest", map[string]string{"algorithm": "MD5", "realm": "AXIS_ACCC8E0A1B2C", "qop": "auth"}},
		{"Hikvision ISAPI", []string{
			`Digest qop="auth", realm="IP Camera(C6521)", nonce="4e5749344e7a41784e6a41364f546b354d6a63314f54413d", stale="FALSE"`,
		}, "digest", map[string]string{"realm": "IP Camera(C6521)", "stale": "FALSE", "nonce": "4e5749344e7a41784e6a41364f546b354d6a63314f54413d"}},
		{"Hikvision newer", []string{
			`Digest qop="auth",realm="Login to 4a0b2c3d5e6f",nonce="ZjY3NjQ0ZGY6MTcwMDAwMDAwMA==",stale="FALSE",opaque="",algorithm=MD5`,
		}, "digest", map[string]string{"opaque": "", "nonce": "ZjY3NjQ0ZGY6MTcwMDAwMDAwMA==", "realm": "Login to 4a0b2c3d5e6f"}},
		{"Dahua", []string{
			`Digest realm="Login to 5J01234PAZ56789", qop="auth", nonce="1413271812", opaque="3a2b1c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"`,
		}, "digest", map[string]string{"realm": "Login to 5J01234PAZ56789", "nonce": "1413271812"}},
		{"Dahua RTSP, Basic first", []string{
			`Basic realm="Login to 5J01234PAZ56789"`,
			`Digest realm="Login to 5J01234PAZ56789", nonce="be1ca3d5a1b2c3d4e5f6a7b8c9d0e1f2"`,
		}, "digest", map[string]string{"nonce": "be1ca3d5a1b2c3d4e5f6a7b8c9d0e1f2"}},
		{"GStreamer rtsp-server", []string{
			`Basic realm="GStreamer RTSP Server"`,
			`Digest realm="GStreamer RTSP Server", nonce="8f1ab9c0d2e3f405"`,
		}, "digest", map[string]string{"realm": "GStreamer RTSP Server"}},
		{"stale nonce", []string{
			`Digest realm="GStreamer RTSP Server", nonce="0b1c2d3e4f5a6b7c", stale=TRUE`,
		}, "digest", map[string]string{"stale": "TRUE", "nonce": "0b1c2d3e4f5a6b7c"}},
		{"several in one value, Basic first", []string{
			`Basic realm="cam", Digest realm="cam", nonce="abc", qop="auth,auth-int"`,
		}, "digest", map[string]string{"realm": "cam", "nonce": "abc", "qop": "auth,auth-int"}},
		{"several in one value, unknown first (RFC 7235)", []string{
			`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		}, "basic", map[string]string{"realm": "simple"}},
		{"bare schemes before", []string{`Negotiate, NTLM, Basic realm="srv"`}, "basic", map[string]string{"realm": "srv"}},
		{"quoted commas", []string{
			`Digest realm="a, b", nonce="c,d, Basic realm=e", qop="auth, auth-int"`,
		}, "digest", map[string]string{"realm": "a, b", "nonce": "c,d, Basic realm=e", "qop": "auth, auth-int"}},
		{"spaces around =, tab after scheme", []string{"Digest\trealm = \"cam\" , nonce= abc"}, "digest", map[string]string{"realm": "cam", "nonce": "abc"}},
		{"MD5-sess only", []string{`Digest realm="x", nonce="y", algorithm=MD5-sess, qop="auth"`}, "", nil},
		{"MD5-sess or Basic", []string{`Digest realm="x", nonce="y", algorithm=MD5-sess, qop="auth", Basic realm="x"`}, "basic", map[string]string{"realm": "x"}},
		{"missing realm", []string{`Digest nonce="abc", qop="auth"`}, "digest", map[string]string{"nonce": "abc"}},
		{"lower-case scheme and keys", []string{`digest REALM="r", Nonce="n"`}, "digest", map[string]string{"realm": "r", "nonce": "n"}},
		{"bare Basic", []string{"Basic"}, "basic", map[string]string{}},
		{"Bearer only", []string{`Bearer realm="example", error="invalid_token"`}, "", nil},
		{"garbage", []string{`Digest realm="unterminated`, `,,,`, `=`, "", "\x00\xff Digest"}, "digest", map[string]string{"realm": "unterminated"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := ParseChallenges(c.values)
			ch := Pick(cs)
			switch {
			case c.scheme == "" && ch != nil:
				t.Fatalf("picked %+v from %+v", ch, cs)
			case c.scheme == "":
				return
			case ch == nil || ch.Scheme != c.scheme:
				t.Fatalf("picked %+v from %+v, want %s", ch, cs, c.scheme)
			}
			for k, v := range c.want {
				if got, ok := ch.Params[k]; !ok || got != v {
					t.Errorf("%s = %q (present %v), want %q; all %q", k, got, ok, v, ch.Params)
				}
			}
			for k := range ch.Params {
				if strings.ContainsAny(k, " ,=\"") {
					t.Errorf("a challenge leaked into a key: %q", ch.Params)
				}
			}
		})
	}
}

func TestParseChallengesKeepsEach(t *testing.T) {
	cs := ParseChallenges([]string{`Digest realm="a", nonce="1", Basic realm="b", Digest realm="c", nonce="3", stale=true`})
	if len(cs) != 3 || cs[0].Params["realm"] != "a" || cs[1].Scheme != "basic" || cs[1].Params["realm"] != "b" ||
		cs[2].Params["realm"] != "c" || cs[2].Params["stale"] != "true" || len(cs[0].Params) != 2 {
		t.Fatalf("%+v", cs)
	}
}

// The worked example of RFC 2617 §3.5.
func TestDigestKnownAnswer(t *testing.T) {
	a := &Responder{User: "Mufasa", Pass: "Circle Of Life"}
	a.SetChallenge(&ParseChallenges([]string{`Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`})[0])
	a.cnonce = "0a4f113b"
	p := ParseParams(strings.TrimPrefix(a.Header("GET", "/dir/index.html"), "Digest "))
	want := map[string]string{"username": "Mufasa", "realm": "testrealm@host.com", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		"uri": "/dir/index.html", "qop": "auth", "nc": "00000001", "cnonce": "0a4f113b",
		"response": "6629fae49393a05397450978507c4ef1", "opaque": "5ccc069c403ebaf9f0171e9517f40e41"}
	if !maps.Equal(p, want) {
		t.Fatalf("got  %q\nwant %q", p, want)
	}
	if a.Header("GET", "/dir/index.html"); a.Count() != 2 {
		t.Fatalf("nonce count %d after two answers", a.Count())
	}
}

func TestBasicHeader(t *testing.T) {
	a := &Responder{User: "admin", Pass: "p:w\"é"}
	if a.Header("GET", "/") != "" || a.Answering() {
		t.Fatal("answered before a challenge")
	}
	a.SetChallenge(Pick(ParseChallenges([]string{`Basic realm="x"`})))
	if h := a.Header("GET", "/"); h != "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:p:w\"é")) {
		t.Fatalf("header %q", h)
	}
	a.Reset()
	if a.Answering() {
		t.Fatal("still answering after Reset")
	}
}

// checkDigest verifies an Authorization header the way a camera does and
// returns its parameters.
func checkDigest(t *testing.T, h, user, pass, realm, nonce, method, uri string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(h, "Digest ") {
		t.Fatalf("header %q", h)
	}
	p := ParseParams(strings.TrimPrefix(h, "Digest "))
	if p["username"] != user || p["realm"] != realm || p["nonce"] != nonce || p["uri"] != uri {
		t.Fatalf("header %q parses to %q", h, p)
	}
	ha1, ha2 := MD5Hex(user+":"+realm+":"+pass), MD5Hex(method+":"+uri)
	want := MD5Hex(ha1 + ":" + nonce + ":" + ha2)
	if p["qop"] != "" {
		want = MD5Hex(ha1 + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	}
	if p["response"] != want {
		t.Fatalf("header %q: response %s, want %s", h, p["response"], want)
	}
	return p
}

// FuzzParseChallenges: any header values parse without panicking into
// Basic and Digest challenges only, and an answer to the one Pick chooses
// is a well-formed header a server can verify.
func FuzzParseChallenges(f *testing.F) {
	f.Add(`Digest realm="cam", nonce="abc", qop="auth", Basic realm="cam"`)
	f.Fuzz(func(t *testing.T, v string) {
		cs := ParseChallenges(strings.Split(v, "\n"))
		for _, c := range cs {
			if c.Scheme != "basic" && c.Scheme != "digest" {
				t.Fatalf("scheme %q", c.Scheme)
			}
		}
		ch := Pick(cs)
		if ch == nil {
			for _, c := range cs {
				if c.Scheme == "basic" || strings.EqualFold(c.Params["algorithm"], "MD5") || c.Params["algorithm"] == "" {
					t.Fatalf("nothing picked from %+v", cs)
				}
			}
			return
		}
		for _, c := range cs {
			if c.Scheme == "digest" && ch.Scheme == "basic" && (c.Params["algorithm"] == "" || strings.EqualFold(c.Params["algorithm"], "MD5")) {
				t.Fatal("Basic picked over a usable Digest")
			}
		}
		a := &Responder{User: "u", Pass: "p"}
		a.SetChallenge(ch)
		h := a.Header("DESCRIBE", "rtsp://cam/stream")
		if ch.Scheme == "basic" {
			if h != "Basic dTpw" {
				t.Fatalf("header %q", h)
			}
			return
		}
		p := checkDigest(t, h, "u", "p", ch.Params["realm"], ch.Params["nonce"], "DESCRIBE", "rtsp://cam/stream")
		if op, ok := ch.Params["opaque"]; ok && p["opaque"] != op {
			t.Fatalf("opaque %q came back as %q", op, p["opaque"])
		}
	})
}

// FuzzParseParams: any input parses without panicking into lower-case keys,
// and the token-named parameters, written back quoted, parse to the same.
func FuzzParseParams(f *testing.F) {
	f.Add(`username="u", realm="a\"b, c", nonce=abc, uri="/x", response="00"`)
	f.Fuzz(func(t *testing.T, s string) {
		p := ParseParams(s)
		var b strings.Builder
		kept := map[string]string{}
		for k, v := range p {
			if k != strings.ToLower(k) && utf8.ValidString(k) {
				t.Fatalf("key %q not lower-cased", k)
			}
			if k == "" || strings.IndexFunc(k, func(r rune) bool { return r > 0x7f || !isTokenChar(byte(r)) }) >= 0 {
				continue
			}
			kept[k] = v
			b.WriteString(k + `="` + quote(v) + `", `)
		}
		if again := ParseParams(b.String()); !maps.Equal(again, kept) {
			t.Fatalf("%q parsed to %q; written back as %q it parses to %q", s, p, b.String(), again)
		}
	})
}

// FuzzDigestHeader: whatever a server puts in its challenge, and whatever
// the user name, the answer parses back to the same values and carries the
// response a server computes from them.
func FuzzDigestHeader(f *testing.F) {
	f.Add("admin", "s3cret", "IP Camera(C6521)", "4e5749344e7a41784e6a41364f546b35", "auth", "", "/ISAPI/Streaming/channels/101/picture")
	f.Fuzz(func(t *testing.T, user, pass, realm, nonce, qop, opaque, uri string) {
		ch := &Challenge{Scheme: "digest", Params: map[string]string{"realm": realm, "nonce": nonce, "qop": qop, "opaque": opaque}}
		a := &Responder{User: user, Pass: pass}
		a.SetChallenge(ch)
		p := checkDigest(t, a.Header("GET", uri), user, pass, realm, nonce, "GET", uri)
		if p["opaque"] != opaque || (p["qop"] != "") != hasToken(qop, "auth") {
			t.Fatalf("opaque %q qop %q for challenge %q", p["opaque"], p["qop"], ch.Params)
		}
	})
}
