package config

import (
	"strings"
	"testing"
)

func TestFileCameraURL(t *testing.T) {
	const base = "gateway: {id: demo}\nuplink: {broker: mqtt://127.0.0.1}\ncameras:\n  - {name: cam, url: %q}\n"
	for _, tc := range []struct {
		url, err string
	}{
		{"file:///srv/antt/clip-320x180-25fps.h264", ""},
		{"FILE://localhost/srv/clip.h264", ""},
		{"file://host/srv/clip.h264", "cameras[0].url: a file camera needs an absolute path"},
		{"file:clip.h264", "cameras[0].url: a file camera needs an absolute path"},
		{"file://", "cameras[0].url: a file camera needs an absolute path"},
		{"http://192.168.1.64/x", `cameras[0].url: scheme "http" is not supported`},
	} {
		cfg, err := Parse([]byte(strings.Replace(base, "%q", `"`+tc.url+`"`, 1)), LookupEnv(noEnv))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.err == "" && cfg.Cameras[0].URL.Reveal() != tc.url:
			t.Errorf("%s: URL = %q", tc.url, cfg.Cameras[0].URL.Reveal())
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.url, err, tc.err)
		}
	}
}
