package credurl

import (
	"net/url"
	"strings"
	"testing"
)

// TestMaskEscapedSeparators: a secret whose value holds an escaped
// separator (%2F in a path, %26 in a fragment) is masked whole; splitting
// on the unescaped form left the part after the separator in clear.
func TestMaskEscapedSeparators(t *testing.T) {
	for _, raw := range []string{
		"rtsp://10.0.0.5/user=admin&password=ab%2Fcd-SECRET&channel=1&stream=0.sdp",
		"rtsp://10.0.0.5/user=admin&password=ab%3Bcd-SECRET&channel=1",
		"rtsp://10.0.0.5/stream#pwd=ab%26cd-SECRET",
		"http://10.0.0.5/snap.jpg?pwd=ab%26cd-SECRET&usr=admin",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		m := Mask(u)
		for _, s := range []string{m.String(), m.Path, m.Fragment, m.RawQuery} {
			if strings.Contains(s, "SECRET") || strings.Contains(s, "cd") {
				t.Errorf("Mask(%s) = %s: part of the secret shown (%q)", raw, m, s)
			}
		}
		if !strings.Contains(m.String(), Masked) {
			t.Errorf("Mask(%s) = %s: nothing masked", raw, m)
		}
	}
}
