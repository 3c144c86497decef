package credurl_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/device/camera/credurl"
)

func mask(t testing.TB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return credurl.Mask(u).String()
}

// The vendors' URL shapes: every secret is masked, user names and the rest
// of the URL stay as written.
func TestMaskVendorURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Reolink snapshot.
		{"http://192.168.1.70/cgi-bin/api.cgi?cmd=Snap&channel=0&rs=abc&user=admin&password=S3cr3t!",
			"http://192.168.1.70/cgi-bin/api.cgi?cmd=Snap&channel=0&rs=abc&user=admin&password=xxxxx"},
		{"http://192.168.1.70/cgi-bin/api.cgi?cmd=Snap&channel=0&token=9f3a1c77e2",
			"http://192.168.1.70/cgi-bin/api.cgi?cmd=Snap&channel=0&token=xxxxx"},
		// Foscam.
		{"http://192.168.1.71:88/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=hunter22",
			"http://192.168.1.71:88/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=xxxxx"},
		// Hikvision's base64 user:password.
		{"http://192.168.1.64/ISAPI/Streaming/channels/101/picture?auth=YWRtaW46MTIzNDU=",
			"http://192.168.1.64/ISAPI/Streaming/channels/101/picture?auth=xxxxx"},
		// Cheap P2P cameras.
		{"http://192.168.1.72/snapshot.cgi?loginuse=admin&loginpas=888888",
			"http://192.168.1.72/snapshot.cgi?loginuse=admin&loginpas=xxxxx"},
		// Mixed case names, ; separators, pass=, key=.
		{"http://cam/snap.jpg?User=admin;PassWord=x1y2;key=k3y", "http://cam/snap.jpg?User=admin;PassWord=xxxxx;key=xxxxx"},
		{"http://cam/snap.jpg?pass=abcd", "http://cam/snap.jpg?pass=xxxxx"},
		// XMEye DVRs put them in the path.
		{"rtsp://192.168.1.10:554/user=admin&password=tlJwpbo6&channel=1&stream=0.sdp?real_stream",
			"rtsp://192.168.1.10:554/user=admin&password=xxxxx&channel=1&stream=0.sdp?real_stream"},
		// Escaped names and a secret holding a / in the query.
		{"http://cam/s?pass%77ord=a/b%26c&x=1", "http://cam/s?pass%77ord=xxxxx&x=1"},
		// An empty secret stays visibly empty; nothing secret, nothing changed.
		{"http://cam/s?password=&channel=1", "http://cam/s?password=&channel=1"},
		{"rtsp://cam/Streaming/Channels/102?transportmode=unicast", "rtsp://cam/Streaming/Channels/102?transportmode=unicast"},
		{"rtsp://cam/cam/realmonitor?channel=1&subtype=0", "rtsp://cam/cam/realmonitor?channel=1&subtype=0"},
		// Not a secret: keyframe is not key, passive is not pass.
		{"rtsp://cam/live?keyframe=1&passive=1", "rtsp://cam/live?keyframe=1&passive=1"},
		// The user info is left to the caller.
		{"rtsp://viewer:pw@cam/live?token=t0k", "rtsp://viewer:pw@cam/live?token=xxxxx"},
		// The fragment too.
		{"http://cam/s#token=abc", "http://cam/s#token=xxxxx"},
	} {
		if got := mask(t, tc.in); got != tc.want {
			t.Errorf("Mask(%q)\n got  %q\n want %q", tc.in, got, tc.want)
		}
	}
}

func TestFind(t *testing.T) {
	for _, tc := range []struct {
		in       string
		userInfo bool
		params   []string
	}{
		{"rtsp://viewer:secret@192.168.1.64/Streaming/Channels/102", true, nil},
		{"rtsp://viewer@192.168.1.64/live", true, nil},
		{"rtsp://192.168.1.64/live", false, nil},
		{"http://cam/api.cgi?cmd=Snap&user=admin&password=x", false, []string{"user", "password"}},
		{"http://cam/snap?token=abc", false, []string{"token"}},
		{"rtsp://cam/user=admin&password=&channel=1", false, []string{"user", "password"}},
		{"http://cam/s?channel=1", false, nil},
	} {
		u, _ := url.Parse(tc.in)
		f := credurl.Find(u)
		if f.UserInfo != tc.userInfo || !slices.Equal(f.Params, tc.params) {
			t.Errorf("Find(%q) = %+v, want userinfo %v params %v", tc.in, f, tc.userInfo, tc.params)
		}
		if f.Any() != (tc.userInfo || len(tc.params) > 0) {
			t.Errorf("Find(%q).Any() = %v", tc.in, f.Any())
		}
	}
}

// FuzzMask: whatever the URL, the masked form parses, masking again
// changes nothing, it finds the same credentials, and every secret value
// left in it is masked or empty.
func FuzzMask(f *testing.F) {
	for _, s := range []string{
		"http://192.168.1.70/cgi-bin/api.cgi?cmd=Snap&channel=0&user=admin&password=S3cr3t!",
		"rtsp://192.168.1.10:554/user=admin&password=tlJwpbo6&channel=1&stream=0.sdp?real_stream",
		"http://cam/s?pass%77ord=a/b%26c&x=1#token=1",
		"rtsp://viewer:pw@cam/live?token=t0k;key=&&=x",
		"http://[::1]:80/%2Fpassword=x/?pwd==y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		if _, err := url.Parse(u.String()); err != nil {
			return // net/url does not round-trip this one (an escaped host) even unmasked
		}
		m := credurl.Mask(u)
		s := m.String()
		again, err := url.Parse(s)
		if err != nil {
			t.Fatalf("masked %q does not parse: %v", s, err)
		}
		if s2 := credurl.Mask(again).String(); s2 != s {
			t.Fatalf("masking twice: %q then %q", s, s2)
		}
		if a, b := credurl.Find(u).Params, credurl.Find(again).Params; !slices.Equal(a, b) {
			t.Fatalf("params found before %v, after %v", a, b)
		}
		checkMasked(t, again.RawQuery, "&;")
		checkMasked(t, again.Fragment, "&;")
		checkMasked(t, again.Path, "&;/")
	})
}

// checkMasked splits s the simplest way and checks every secret value.
func checkMasked(t *testing.T, s, seps string) {
	t.Helper()
	for _, pair := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		name, val, ok := strings.Cut(pair, "=")
		if !ok || name == "" {
			continue
		}
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		name = name[strings.LastIndexByte(name, '?')+1:]
		if credurl.IsSecret(name) && val != "" && val != credurl.Masked {
			t.Fatalf("secret %s=%q left in %q", name, val, s)
		}
	}
}

// FuzzSecretNeverShown: a secret put in any secret parameter of a vendor
// URL never appears in the masked URL.
func FuzzSecretNeverShown(f *testing.F) {
	f.Add("password", "S3cr3t!")
	f.Add("pwd", "a b/c&d")
	f.Add("token", "9f3a1c77e2")
	f.Add("Auth", "YWRtaW46MTIzNDU=")
	f.Fuzz(func(t *testing.T, name, secret string) {
		if !credurl.IsSecret(name) || len(secret) < 4 {
			return
		}
		const pre = "http://192.168.1.70/cgi-bin/api.cgi?cmd=Snap&channel=0&user=admin&"
		esc := url.QueryEscape(secret)
		if strings.Contains(pre, esc) || strings.Contains(credurl.Masked, esc) {
			return
		}
		raw := pre + url.QueryEscape(name) + "=" + esc + "&rs=1"
		if got := mask(t, raw); strings.Contains(got, esc) {
			t.Fatalf("secret %q shown in %q", secret, got)
		}
	})
}
