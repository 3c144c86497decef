package device_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/live/livetest"
)

// Live view is wired into the gateway: WHEP answers on the local API for a
// configured camera (OPTIONS, a refused bad offer, a wrong content type),
// not for an unknown one, and is absent with max_viewers 0.
func TestLiveViewWired(t *testing.T) {
	clip, err := filepath.Abs(filepath.Join("..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	var gw *device.Gateway
	open := func(live string) string {
		gw = openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
cameras:
  - {name: cam-cong, url: "file://%s"}
%s`, filepath.Join(t.TempDir(), "data"), clip, live))
		return runGateway(t, gw)
	}
	do := func(method, url, ctype, body string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(b)
	}

	base := open("live: {loopback_candidates: true, interfaces: [lo], udp_port: 0}")
	whep := base + "/api/cameras/cam-cong/whep"
	if code, h, _ := do(http.MethodOptions, whep, "", ""); code != http.StatusNoContent || h.Get("Accept-Post") != "application/sdp" {
		t.Errorf("OPTIONS: %d, Accept-Post %q", code, h.Get("Accept-Post"))
	}
	if code, _, body := do(http.MethodOptions, base+"/api/cameras/nope/whep", "", ""); code != http.StatusNotFound || !strings.Contains(body, "nope") {
		t.Errorf("OPTIONS of an unknown camera: %d %s", code, body)
	}
	if code, _, body := do(http.MethodPost, whep, "application/sdp", "v=0\r\n"); code != http.StatusBadRequest || !strings.Contains(body, "bad offer") {
		t.Errorf("POST of a bad offer: %d %s", code, body)
	}
	if code, _, _ := do(http.MethodPost, whep, "text/plain", "v=0\r\n"); code != http.StatusUnsupportedMediaType {
		t.Errorf("POST as text/plain: %d", code)
	}

	// A real offer: the session is listed in /api/status and counted as
	// a viewer in telemetry until DELETE ends it.
	code, h, body := do(http.MethodPost, whep, "application/sdp", pionOffer(t))
	if code != http.StatusCreated || !strings.Contains(body, "m=video") {
		t.Fatalf("POST of a pion offer: %d %s", code, body)
	}
	var st struct {
		Live []struct {
			Camera string `json:"camera"`
			State  string `json:"state"`
		} `json:"live"`
	}
	_, _, sb := do(http.MethodGet, base+"/api/status", "", "")
	if err := json.Unmarshal([]byte(sb), &st); err != nil || len(st.Live) != 1 || st.Live[0].Camera != "cam-cong" {
		t.Errorf("/api/status with one viewer: %v %s", err, sb)
	}
	if n := gw.Telemetry().Viewers; n != 1 {
		t.Errorf("telemetry counts %d viewers, want 1", n)
	}
	if code, _, _ := do(http.MethodDelete, base+h.Get("Location"), "", ""); code != http.StatusOK {
		t.Errorf("DELETE: %d", code)
	}
	devtest.WaitFor(t, 10*time.Second, "no viewer in telemetry", func() bool { return gw.Telemetry().Viewers == 0 })

	off := open("live: {max_viewers: 0}")
	if code, _, _ := do(http.MethodPost, off+"/api/cameras/cam-cong/whep", "application/sdp", "v=0\r\n"); code != http.StatusNotFound {
		t.Errorf("live view off, yet POST answered %d", code)
	}
}

// pionOffer is a complete recvonly H.264 + PCMA offer from pion, its
// candidates on loopback only.
func pionOffer(t *testing.T) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	_, sdp := livetest.Offer(t, webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(livetest.Loopback())), webrtc.Configuration{})
	return sdp
}
