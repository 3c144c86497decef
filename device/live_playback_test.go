package device_test

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
)

// Playback through live view is wired to the gateway's record store: a
// WHEP offer with ?from= is refused until a clip of the camera is in the
// store and answered once one is; a gateway that records nothing says so.
func TestLivePlaybackWired(t *testing.T) {
	clip, err := filepath.Abs(filepath.Join("..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(base, query string) (int, string) {
		t.Helper()
		res, err := http.Post(base+"/api/cameras/cam-cong/whep"+query, "application/sdp", strings.NewReader(pionOffer(t)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode == http.StatusCreated {
			req, _ := http.NewRequest(http.MethodDelete, base+res.Header.Get("Location"), nil)
			if r, err := http.DefaultClient.Do(req); err == nil {
				r.Body.Close()
			}
		}
		return res.StatusCode, string(b)
	}
	// RFC 3339 in UTC ("Z"): no "+" to escape in the query.
	from := "?from=" + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)

	plain := runGateway(t, openConfig(t, fmt.Sprintf(`gateway: {id: gw-plain, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
cameras:
  - {name: cam-cong, url: "file://%s"}
live: {loopback_candidates: true, interfaces: [lo], udp_port: 0}
`, filepath.Join(t.TempDir(), "data"), clip)))
	if code, body := post(plain, from); code != http.StatusNotFound || !strings.Contains(body, "records no camera") {
		t.Errorf("playback on a gateway that records nothing: %d %s", code, body)
	}

	base := runGateway(t, openConfig(t, fmt.Sprintf(`gateway: {id: gw-rec, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, debounce: 0s, hold: 0s,
     script: [{at: 3s, level: high}, {at: 3500ms, level: low}]}
cameras:
  - {name: cam-cong, url: "file://%s", record: clips, clip_on: [gate-pir], pre_roll: 1s, post_roll: 1s}
live: {loopback_candidates: true, interfaces: [lo], udp_port: 0}
`, filepath.Join(t.TempDir(), "data"), clip)))
	if code, body := post(base, from); code != http.StatusNotFound || !strings.Contains(body, "no recording of camera cam-cong") {
		t.Errorf("playback before any clip: %d %s", code, body)
	}
	var code int
	var body string
	devtest.WaitFor(t, 30*time.Second, "a playback of the event clip", func() bool {
		code, body = post(base, from)
		return code == http.StatusCreated
	})
	if !strings.Contains(body, "m=video") || !strings.Contains(body, "H264") {
		t.Errorf("playback answer: %s", body)
	}
}
