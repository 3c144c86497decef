package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startCamera runs the project's GStreamer test camera on a free loopback
// port until the test ends and returns its URL.
func startCamera(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", append([]string{"../../testdata/camera/rtsp-server.py"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start camera (needs python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly): %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(ready)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case u, ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("camera exited before READY:\n%s", stderr.String())
		}
		return u
	case <-time.After(15 * time.Second):
		t.Fatal("camera not ready after 15s")
	}
	return ""
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
