package rtsptest

import (
	"bufio"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
)

// CameraPackages is what the GStreamer test camera needs installed (Debian).
const CameraPackages = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly"

// Camera is the project's GStreamer test camera
// (testdata/camera/rtsp-server.py: H.264 and PCMA, optional Basic or Digest
// auth) in a child process on a free loopback port. Kill and Start play a
// camera that dies and comes back on the same port.
type Camera struct {
	// URL is the camera's rtsp:// URL, without credentials.
	URL string

	t    testing.TB
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when the running process has been reaped
}

// StartCamera starts the test camera with the script's args (--auth,
// --fps, --key-int-max, ...) and waits until it is ready; it is killed
// when the test ends.
func StartCamera(t testing.TB, args ...string) *Camera {
	t.Helper()
	c := &Camera{t: t, args: append([]string{"--port", "0"}, args...)}
	c.Start()
	u, err := url.Parse(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.args[1] = u.Port() // restarts keep the port
	t.Cleanup(c.Kill)
	return c
}

// Start starts the camera (again) and waits until it listens.
func (c *Camera) Start() {
	t := c.t
	t.Helper()
	script := filepath.Join(moduleRoot(t), "testdata", "camera", "rtsp-server.py")
	py := "/usr/bin/python3" // the distribution's, which has python3-gi
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			t.Fatalf("python3 not found; install %s", CameraPackages)
		}
	}
	cmd := exec.Command(py, append([]string{script}, c.args...)...)
	if _, err := cmd.StdinPipe(); err != nil { // stays open: the server lives until killed
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr devtest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start camera server (needs %s): %v", CameraPackages, err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case c.URL = <-ready:
	case <-c.done:
		c.cmd = nil
		t.Fatalf("camera server exited before READY (needs %s):\n%s", CameraPackages, stderr.String())
	case <-time.After(15 * time.Second):
		c.Kill()
		t.Fatalf("camera server not ready after 15s:\n%s", stderr.String())
	}
}

// Kill kills the camera and waits for it; killing a dead camera does nothing.
func (c *Camera) Kill() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	c.cmd = nil
}

// moduleRoot is the directory holding go.mod, above the test's directory.
func moduleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
