package camera

import (
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

func withCredentials(u string) string {
	return strings.Replace(u, "rtsp://", "rtsp://viewer:secret@", 1)
}

func hasBasicWarning(st HubStatus) bool {
	for _, w := range st.Warnings {
		if strings.Contains(w, "Basic") && strings.Contains(w, "in clear") {
			return true
		}
	}
	return false
}

// A camera that challenges with Basic over plain rtsp:// is warned about in
// its status, from the idle check as from a session; the warning never
// holds the password.
func TestHubWarnsBasicOverPlainRTSP(t *testing.T) {
	t.Parallel()
	cam := rtsptest.StartCamera(t, "--auth", "basic")
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "basic", URL: withCredentials(cam.URL), CheckEvery: 50 * time.Millisecond,
		Source: Options{Timeout: 5 * time.Second}, Linger: 50 * time.Millisecond})
	runHub(t, h)
	devtest.WaitFor(t, 10*time.Second, "a passed check", func() bool { return !h.Status().CheckedAt.IsZero() })
	st := h.Status()
	if !hasBasicWarning(st) || len(st.Warnings) != 1 {
		t.Fatalf("idle Basic camera: warnings %q", st.Warnings)
	}
	if strings.Contains(strings.Join(st.Warnings, " "), "secret") {
		t.Fatalf("warning shows the password: %q", st.Warnings)
	}

	// A session finds the same (a hub that never checks, so only the
	// session can tell).
	h2 := NewHub(HubOptions{Logger: testLogger(t), Name: "basic2", URL: withCredentials(cam.URL), CheckEvery: -1,
		Source: Options{Timeout: 5 * time.Second}})
	runHub(t, h2)
	c, _ := h2.Subscribe()
	defer c.Close()
	devtest.WaitFor(t, 10*time.Second, "the session's first frame", func() bool { return h2.State() == StateOnline })
	if st := h2.Status(); !hasBasicWarning(st) || st.Checks != 0 {
		t.Fatalf("pulled Basic camera: warnings %q, checks %d", st.Warnings, st.Checks)
	}
}

// Digest over plain rtsp:// sends no password: no warning.
func TestHubNoWarningForDigest(t *testing.T) {
	t.Parallel()
	cam := rtsptest.StartCamera(t, "--auth", "digest")
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "digest", URL: withCredentials(cam.URL), CheckEvery: 50 * time.Millisecond,
		Source: Options{Timeout: 5 * time.Second}})
	runHub(t, h)
	devtest.WaitFor(t, 10*time.Second, "two passed checks", func() bool { return h.Status().Checks >= 2 && !h.Status().CheckedAt.IsZero() })
	c, _ := h.Subscribe()
	defer c.Close()
	devtest.WaitFor(t, 10*time.Second, "the session's first frame", func() bool { return h.State() == StateOnline })
	if st := h.Status(); len(st.Warnings) != 0 {
		t.Fatalf("Digest camera warned: %q", st.Warnings)
	}
}

// A success without Basic clears the warning: the installer has set the
// camera to Digest since.
func TestNoteRTSPAuthClears(t *testing.T) {
	h := NewHub(HubOptions{Logger: testLogger(t), Name: "t", URL: "rtsp://127.0.0.1:1/x"})
	h.noteRTSPAuth(true, false)
	h.NoteWarning("snapshot_basic", "snapshot warning")
	if st := h.Status(); len(st.Warnings) != 2 || !hasBasicWarning(st) || st.Warnings[1] != "snapshot warning" {
		t.Fatalf("warnings %q", st.Warnings)
	}
	h.noteRTSPAuth(false, false) // a failure without Basic tells nothing
	if len(h.Status().Warnings) != 2 {
		t.Fatal("a failed exchange cleared the warning")
	}
	h.noteRTSPAuth(false, true)
	if st := h.Status(); len(st.Warnings) != 1 || st.Warnings[0] != "snapshot warning" {
		t.Fatalf("after a Digest success: %q", st.Warnings)
	}
}
