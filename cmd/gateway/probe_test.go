package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
)

// startCamera runs the GStreamer test camera and returns its URL.
func startCamera(t *testing.T, args ...string) string {
	t.Helper()
	return rtsptest.StartCamera(t, args...).URL
}

func TestProbeCommand(t *testing.T) {
	u := startCamera(t, "--auth", "digest", "--width", "320", "--height", "180", "--fps", "25", "--key-int-max", "10")
	withPass := strings.Replace(u, "rtsp://", "rtsp://viewer:secret@", 1)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"probe", withPass, "-duration", "1500ms"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	out := stdout.String()
	t.Log(out)
	for _, re := range []string{
		`video H264 320x180 2[3-7]\.\d\d fps, GOP 10, \d+ kbit/s`,
		`audio PCMA 8000 Hz x1, \d+ packets, \d+ kbit/s`,
		`rtsp://\*\*\*@127\.0\.0\.1:\d+/cam`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s", re)
		}
	}
	if strings.Contains(out+stderr.String(), "secret") {
		t.Error("the password was printed")
	}

	stdout.Reset()
	stderr.Reset()
	bad := strings.Replace(u, "rtsp://", "rtsp://viewer:hunter2@", 1)
	if code := run([]string{"probe", "-duration", "1s", bad}, &stdout, &stderr); code != 1 {
		t.Errorf("wrong password: exit %d, want 1", code)
	}
	if msg := stderr.String(); !strings.Contains(msg, "401") || strings.Contains(msg, "hunter2") {
		t.Errorf("wrong password: stderr %q should name the 401 and not the password", msg)
	}
	for _, args := range [][]string{{"probe"}, {"probe", u, "-transport", "sctp"}, {"probe", u, "extra"}} {
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
