package device_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// A gateway with a looping file camera and two that cannot open: the first
// is online and feeds consumers; the second, though nobody pulls it, is
// checked and reported offline once, as a durable camera_offline event;
// the third is idle with its check's error. All show in telemetry and the
// status.
func TestCameras(t *testing.T) {
	clip := testClipPath(t)
	dir := t.TempDir()
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
cameras:
  - {name: cam-cong, url: "file://%s", preload: true}
  - {name: cam-hong, url: "file:///nonexistent/clip.h264", offline_after: 1s}
  - {name: cam-idle, url: "rtsp://127.0.0.1:1/never"}
`, filepath.Join(dir, "data"), clip))
	stop := startRun(t, gw)
	t.Cleanup(stop)

	want := map[string]string{"cam-cong": "online", "cam-hong": "offline", "cam-idle": "idle"}
	deadline := time.Now().Add(10 * time.Second)
	for fmt.Sprint(gw.Telemetry().Cameras) != fmt.Sprint(want) {
		if time.Now().After(deadline) {
			t.Fatalf("telemetry cameras = %v, want %v", gw.Telemetry().Cameras, want)
		}
		time.Sleep(10 * time.Millisecond)
	}

	hub, ok := gw.Camera("cam-cong")
	if !ok {
		t.Fatal("no hub for cam-cong")
	}
	c, err := hub.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-c.Frames():
		if !f.Key {
			t.Error("a new consumer's first frame is not a key frame")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no frame from the file camera")
	}
	c.Close()

	resp, err := http.Get("http://" + gw.APIAddr() + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var st device.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Cameras) != 3 || st.Cameras[0].Video != "H264 320x180 25fps" || st.Cameras[1].LastError == "" ||
		st.Cameras[2].LastError == "" || st.Cameras[2].Checks == 0 || st.Cameras[2].Attempts != 0 {
		t.Errorf("status cameras = %+v", st.Cameras)
	}

	stop() // releases the outbox file for ReadOnly
	r, err := outbox.ReadOnly(filepath.Join(dir, "data", device.OutboxFile))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var offline []wire.Event
	err = r.Records(0, func(rec outbox.Record) error {
		var e wire.Event
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return err
		}
		if e.Kind == wire.KindCameraOffline || e.Kind == wire.KindCameraOnline {
			offline = append(offline, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(offline) != 1 || offline[0].Kind != wire.KindCameraOffline || offline[0].Source != "cam-hong" || offline[0].Attrs["error"] == nil {
		t.Errorf("camera events = %+v, want one camera_offline from cam-hong with its error", offline)
	}
}
