package device_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

func apiStatus(t *testing.T, base string) device.Status {
	t.Helper()
	resp, err := http.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st device.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A camera that challenges with Basic over plain rtsp:// and http:// shows
// both warnings in its /api/status entry once it actually did; a camera
// using Digest shows none.
func TestCameraStatusWarnsBasicInClear(t *testing.T) {
	basicCam := rtsptest.StartCamera(t, "--auth", "basic")
	digestCam := rtsptest.StartCamera(t, "--auth", "digest")
	snap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "Pw-snap" {
			w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write([]byte{0xFF, 0xD8, 0xFF, 0xE0, 'j', 'p', 'g'})
	}))
	defer snap.Close()
	creds := func(u string) string { return strings.Replace(u, "rtsp://", "rtsp://viewer:secret@", 1) }
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, every: 200ms, debounce: 0s, hold: 0s}
cameras:
  - {name: cam-basic, url: %q, snapshot_url: %q, snapshot_on: [gate-pir]}
  - {name: cam-digest, url: %q}
`, filepath.Join(t.TempDir(), "data"), creds(basicCam.URL),
		strings.Replace(snap.URL, "http://", "http://admin:Pw-snap@", 1)+"/snap.jpg", creds(digestCam.URL)))
	base := runGateway(t, gw)

	var st device.Status
	devtest.WaitFor(t, 20*time.Second, "both warnings on cam-basic and a passed check of cam-digest", func() bool {
		st = apiStatus(t, base)
		return len(st.Cameras) == 2 && len(st.Cameras[0].Warnings) == 2 && !st.Cameras[1].CheckedAt.IsZero()
	})
	w := strings.Join(st.Cameras[0].Warnings, "\n")
	for _, want := range []string{"Basic authentication over plain rtsp://", "Basic authentication on snapshot_url over plain http://"} {
		if !strings.Contains(w, want) {
			t.Errorf("cam-basic warnings lack %q: %q", want, st.Cameras[0].Warnings)
		}
	}
	if strings.Contains(w, "secret") || strings.Contains(w, "Pw-snap") {
		t.Errorf("a warning shows a password: %q", w)
	}
	if len(st.Cameras[1].Warnings) != 0 {
		t.Errorf("the Digest camera is warned about: %q", st.Cameras[1].Warnings)
	}
}
