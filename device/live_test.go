package device_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// Live view is wired into the gateway: WHEP answers on the local API for a
// configured camera (OPTIONS, a refused bad offer, a wrong content type),
// not for an unknown one, and is absent with max_viewers 0.
func TestLiveViewWired(t *testing.T) {
	clip, err := filepath.Abs(filepath.Join("..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	open := func(live string) string {
		return runGateway(t, openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
cameras:
  - {name: cam-cong, url: "file://%s"}
%s`, filepath.Join(t.TempDir(), "data"), clip, live)))
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

	base := open("")
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

	off := open("live: {max_viewers: 0}")
	if code, _, _ := do(http.MethodPost, off+"/api/cameras/cam-cong/whep", "application/sdp", "v=0\r\n"); code != http.StatusNotFound {
		t.Errorf("live view off, yet POST answered %d", code)
	}
}
