package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check-config warns about camera credentials that may cross the network in
// clear, without printing them, and still accepts the file.
func TestCheckConfigWarnsPlainCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(`gateway: {id: cong-khu-3, data_dir: /tmp/x}
uplink: {broker: "mqtt://127.0.0.1:1883"}
cameras:
  - name: gate-cam
    url: rtsp://viewer:Pw-rtsp@192.168.1.64:554/Streaming/Channels/102
    snapshot_url: http://192.168.1.70/cgi-bin/api.cgi?cmd=Snap&channel=0&user=admin&password=Pw-query
  - name: school-cam
    url: rtsps://viewer:Pw-tls@192.168.1.66:322/stream1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	msg := stderr.String()
	for _, want := range []string{
		"line 5: cameras[0].url: credentials over plain rtsp://: if the camera asks for Basic authentication its password crosses the network in clear",
		`line 6: cameras[0].snapshot_url: credentials in the URL itself ("user", "password") are sent in clear with every request over plain http://`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "cameras[1]") {
		t.Errorf("the rtsps:// camera was warned about:\n%s", msg)
	}
	if out := stdout.String() + msg; strings.Contains(out, "Pw-") {
		t.Errorf("a password was printed:\n%s", out)
	}
}

// Credentials a vendor takes in the query are masked in probe's output
// like the user info.
func TestProbeMasksQueryCredentials(t *testing.T) {
	u := startCamera(t, "--auth", "basic")
	withCreds := strings.Replace(u, "rtsp://", "rtsp://viewer:secret@", 1) + "?user=viewer&password=Pw-query&token=Pw-token"
	var stdout, stderr bytes.Buffer
	code := run([]string{"probe", withCreds, "-duration", "1s"}, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	t.Logf("exit %d:\n%s", code, out)
	if strings.Contains(out, "Pw-") || strings.Contains(out, "secret") {
		t.Fatalf("a credential was printed:\n%s", out)
	}
	if !strings.Contains(out, "password=xxxxx") || !strings.Contains(out, "token=xxxxx") {
		t.Errorf("the URL shown lacks the masked parameters:\n%s", out)
	}
	if !strings.Contains(out, "warning: the camera asked for Basic authentication over plain rtsp://") {
		t.Errorf("probe does not warn that the password went as Basic in clear:\n%s", out)
	}
}

// Basic inside rtsps:// sends the password encrypted: no warning.
func TestProbeNoWarningForBasicOverTLS(t *testing.T) {
	u, fp := tlsFront(t, startCamera(t, "--auth", "basic"))
	withPass := strings.Replace(u, "rtsps://", "rtsps://viewer:secret@", 1)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"probe", withPass, "-duration", "1s", "-tls-fingerprint", fp}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "video H264") || strings.Contains(out, "warning") {
		t.Errorf("probe of a Basic camera over rtsps:\n%s", out)
	}
}
