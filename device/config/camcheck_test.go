package config

import (
	"strings"
	"testing"
)

func warningsFor(t *testing.T, cams string) []string {
	t.Helper()
	cfg, err := Parse([]byte("gateway: {id: g}\nuplink: {broker: mqtt://h}\ncameras:\n" + cams))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range cfg.Warnings {
		out = append(out, w.String())
	}
	return out
}

func TestCameraCredentialWarnings(t *testing.T) {
	for _, tc := range []struct {
		cam  string
		want []string // one substring per warning, in order
	}{
		{`  - {name: c, url: "rtsp://viewer:pw1@192.168.1.64/s"}`,
			[]string{"line 4: cameras[0].url: credentials over plain rtsp://: if the camera asks for Basic"}},
		{`  - {name: c, url: "rtsp://viewer@192.168.1.64/s"}`, []string{"cameras[0].url: credentials over plain rtsp://"}},
		{`  - {name: c, url: "rtsps://viewer:pw1@192.168.1.64/s"}`, nil},
		{`  - {name: c, url: "rtsp://192.168.1.64/s"}`, nil},
		{`  - {name: c, url: "rtsp://192.168.1.64/s?channel=1&subtype=0"}`, nil},
		{`  - {name: c, url: "rtsp://192.168.1.64/s", snapshot_url: "http://admin:pw2@192.168.1.64/pic"}`,
			[]string{"cameras[0].snapshot_url: credentials over plain http://"}},
		{`  - {name: c, url: "rtsp://192.168.1.64/s", snapshot_url: "https://admin:pw2@192.168.1.64/pic"}`, nil},
		{`  - {name: c, url: "rtsp://192.168.1.64/s", snapshot_url: "http://192.168.1.64/cgi-bin/api.cgi?cmd=Snap&user=admin&password=pw3"}`,
			[]string{`cameras[0].snapshot_url: credentials in the URL itself ("user", "password") are sent in clear with every request over plain http://`}},
		{`  - {name: c, url: "rtsp://192.168.1.10:554/user=admin&password=pw4&channel=1&stream=0.sdp"}`,
			[]string{`cameras[0].url: credentials in the URL itself ("user", "password") are sent in clear`}},
		{`  - {name: c, url: "rtsp://a:pw5@192.168.1.64/s?token=pw6"}`,
			[]string{"credentials over plain rtsp://", `credentials in the URL itself ("token")`}},
		{`  - {name: c, url: "rtsps://192.168.1.64/s?token=pw6", snapshot_url: "https://192.168.1.64/pic?pwd=pw7"}`, nil},
	} {
		got := warningsFor(t, tc.cam)
		if len(got) != len(tc.want) {
			t.Errorf("%s: warnings %q, want %d", tc.cam, got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: warning %q lacks %q", tc.cam, got[i], w)
			}
			for _, pw := range []string{"pw1", "pw2", "pw3", "pw4", "pw5", "pw6", "pw7"} {
				if strings.Contains(got[i], pw) {
					t.Errorf("%s: warning %q shows a password", tc.cam, got[i])
				}
			}
		}
	}
}

func TestSimInitialKey(t *testing.T) {
	parse := func(s string) error {
		_, err := Parse([]byte("gateway: {id: g}\nuplink: {broker: mqtt://h}\nsensors:\n" + s))
		return err
	}
	cfg, err := Parse([]byte("gateway: {id: g}\nuplink: {broker: mqtt://h}\nsensors:\n  - {name: hop-tu, kind: tamper, driver: sim, initial: high, every: 1h}\n"))
	if err != nil || cfg.Sensors[0].Initial != "high" {
		t.Fatalf("initial: high: %v %+v", err, cfg.Sensors)
	}
	if r := cfg.Redacted(); !strings.Contains(r, "initial: high") {
		t.Errorf("check-config output lacks the initial level:\n%s", r)
	} else if _, err := Parse([]byte(r)); err != nil {
		t.Errorf("redacted config does not parse back: %v", err)
	}
	for in, want := range map[string]string{
		"  - {name: d, kind: contact, pin: GPIO6, initial: high}":           "line 4: sensors[0].initial: is only for sim sensors",
		"  - {name: d, kind: contact, driver: sim, every: 1h, initial: on}": `line 4: sensors[0].initial: "on" is not one of high, low`,
	} {
		err := parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", in, err, want)
		}
	}
}
