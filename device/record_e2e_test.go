package device_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/camera/mp4/mp4test"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/devtest/chromiumtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// events collects the events a gateway publishes.
type events struct {
	mu  sync.Mutex
	got []wire.Event
}

func (e *events) find(kind string) (wire.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.got {
		if ev.Kind == kind && (kind != wire.KindMotion || ev.State == wire.StateActive) {
			return ev, true
		}
	}
	return wire.Event{}, false
}

// testClipPath is the absolute path of the repository's test clip, for a
// camera's file:// URL.
func testClipPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func subscribeEvents(t *testing.T, broker *mqtttest.Broker, id string) *events {
	t.Helper()
	evs := &events{}
	t.Cleanup(func() {
		if t.Failed() {
			evs.mu.Lock()
			defer evs.mu.Unlock()
			for _, e := range evs.got {
				t.Logf("event %d %s %s %s %v", e.Seq, e.Kind, e.Source, e.State, e.Attrs)
			}
		}
	})
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID(id + "-station"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	topic := wire.Topics{Prefix: "antt", Gateway: id}.Base() + wire.TopicEvent
	if tok := sub.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		var e wire.Event
		if json.Unmarshal(m.Payload(), &e) == nil {
			evs.mu.Lock()
			evs.got = append(evs.got, e)
			evs.mu.Unlock()
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return evs
}

// TestClipOnSensorEvent: a motion event of a sensor in the camera's
// clip_on yields a clip of the real (GStreamer) camera with its pre-roll
// and post-roll, announced by a clip event linked to the motion event;
// ffprobe reads it and Chromium plays it to the end at the camera's size.
func TestClipOnSensorEvent(t *testing.T) {
	t.Parallel()
	const pre, post, gop = 2 * time.Second, 2 * time.Second, time.Second
	cam := rtsptest.StartCamera(t, "--width", "320", "--height", "240", "--fps", "25", "--key-int-max", "25")
	broker := mqtttest.Start(t, mqtttest.Options{})
	evs := subscribeEvents(t, broker, "rec-gw")
	data := filepath.Join(t.TempDir(), "data")
	runGateway(t, openConfig(t, fmt.Sprintf(`gateway: {id: rec-gw, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, debounce: 0s, hold: 0s,
     script: [{at: 6s, level: high}, {at: 6500ms, level: low}]}
cameras:
  - {name: cam-cong, url: %q, record: clips, clip_on: [gate-pir], pre_roll: %s, post_roll: %s}
`, data, broker.Addr(), cam.URL, pre, post)))

	var motion, clip wire.Event
	devtest.WaitFor(t, 30*time.Second, "the clip event", func() bool {
		var ok1, ok2 bool
		motion, ok1 = evs.find(wire.KindMotion)
		clip, ok2 = evs.find(wire.KindClip)
		return ok1 && ok2
	})
	a := clip.Attrs
	if clip.Source != "cam-cong" || a[wire.ClipAttrForSeq] != float64(motion.Seq) || a[wire.ClipAttrUpload] != "on_request" || a[wire.ClipAttrReason] != "event" {
		t.Fatalf("clip event %+v for motion seq %d", clip, motion.Seq)
	}
	id, _ := a[wire.ClipAttrID].(string)
	if !wire.ValidClipID(id) {
		t.Fatalf("clip id %q", id)
	}
	start, err := time.Parse(time.RFC3339Nano, a[wire.ClipAttrStart].(string))
	if err != nil {
		t.Fatal(err)
	}
	if start.After(motion.Time.Add(-pre+gop)) || start.Before(motion.Time.Add(-pre-gop-time.Second)) {
		t.Fatalf("clip starts %v before the event; want %v give or take a GOP", motion.Time.Sub(start), pre)
	}
	dur := time.Duration(a[wire.ClipAttrDuration].(float64)) * time.Millisecond
	if want := motion.Time.Sub(start) + post; dur < want-500*time.Millisecond || dur > want+500*time.Millisecond {
		t.Fatalf("clip of %v, want %v (from its start to the event, plus post_roll)", dur, want)
	}
	path := filepath.Join(data, "recordings", id+".mp4")
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	if int64(len(file)) != int64(a[wire.ClipAttrBytes].(float64)) || hex.EncodeToString(sum[:]) != a[wire.ClipAttrSHA256] {
		t.Fatalf("file of %d bytes, event says %v bytes, sha256 %v", len(file), a[wire.ClipAttrBytes], a[wire.ClipAttrSHA256])
	}
	p := mp4test.Run(t, path)
	if p.Errors != "" || p.Codec != "h264" || p.Width != 320 || p.Height != 240 || !p.FirstKey {
		t.Fatalf("ffprobe: %+v", p)
	}
	if d := p.Duration - dur; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("ffprobe duration %v, event %v", p.Duration, dur)
	}
	if fps := float64(p.Frames) / dur.Seconds(); fps < 22 || fps > 26 {
		t.Fatalf("%d frames in %v: %.1f frames/s, the camera sends 25", p.Frames, dur, fps)
	}

	t.Logf("clip %s: starts %v before the event, %v, %d frames, %d bytes", id, motion.Time.Sub(start), dur, p.Frames, len(file))
	w, h, played := playInChromium(t, path)
	if w != 320 || h != 240 {
		t.Fatalf("chromium shows %dx%d, want 320x240", w, h)
	}
	if d := played - dur; d < -200*time.Millisecond || d > 200*time.Millisecond {
		t.Fatalf("chromium played %v, clip is %v", played, dur)
	}
}

// playPage plays /clip.mp4; the test drives it through chromedp (no
// inline script).
const playPage = `<!doctype html><title>clip</title><video id=v src="/clip.mp4" muted playsinline></video>`

// playInChromium plays the file in a <video> of headless Chromium to its
// end and returns the video's size and the time it reached.
func playInChromium(t *testing.T, path string) (w, h int, played time.Duration) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			rw.Header().Set("Content-Type", "text/html")
			fmt.Fprint(rw, playPage)
		case "/clip.mp4":
			rw.Header().Set("Content-Type", "video/mp4")
			http.ServeFile(rw, r, path)
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(srv.Close)
	ctx := chromiumtest.New(t, 60*time.Second, chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const v = document.getElementById('v'); v.playbackRate = 2; v.play(); return true })()`)); err != nil {
		t.Fatalf("chromium: play: %v", err)
	}
	type state struct {
		Ended bool    `json:"ended"`
		W     int     `json:"w"`
		H     int     `json:"h"`
		T     float64 `json:"t"`
		Err   string  `json:"err"`
	}
	var st state
	devtest.WaitFor(t, 45*time.Second, "chromium to play the clip to its end", func() bool {
		var err error
		st, err = chromedp.Run(ctx, chromedp.Evaluate[state](`(() => { const v = document.getElementById('v');
			return {ended: v.ended, w: v.videoWidth, h: v.videoHeight, t: v.currentTime, err: v.error ? String(v.error.code) + ' ' + v.error.message : ''} })()`))
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		if st.Err != "" {
			t.Fatalf("chromium cannot play the clip: %s", st.Err)
		}
		return st.Ended
	})
	if strings.TrimSpace(st.Err) != "" {
		t.Fatalf("video error %s", st.Err)
	}
	return st.W, st.H, time.Duration(st.T * float64(time.Second))
}

// TestAlarmClipUploadAuto: an alarm trigger (a tamper, a 24-hour zone)
// records every recording camera, even one that lists no sensor, and its
// clip is marked for automatic upload and linked to the alarm event.
func TestAlarmClipUploadAuto(t *testing.T) {
	t.Parallel()
	broker := mqtttest.Start(t, mqtttest.Options{})
	evs := subscribeEvents(t, broker, "rec-alarm")
	data := filepath.Join(t.TempDir(), "data")
	clipFile := testClipPath(t)
	runGateway(t, openConfig(t, alarmGatewayYAML("rec-alarm", data, broker.Addr(), clipFile, "")))
	var alarmEv, clip wire.Event
	devtest.WaitFor(t, 30*time.Second, "the alarm's clip event", func() bool {
		var ok1, ok2 bool
		alarmEv, ok1 = evs.find("alarm")
		clip, ok2 = evs.find(wire.KindClip)
		return ok1 && ok2
	})
	a := clip.Attrs
	if alarmEv.State != "triggered" || clip.Source != "cam-san" || a[wire.ClipAttrUpload] != "auto" || a[wire.ClipAttrReason] != "alarm" ||
		a[wire.ClipAttrForSeq] != float64(alarmEv.Seq) {
		t.Fatalf("clip %+v for alarm %+v", clip, alarmEv)
	}
	p := mp4test.Run(t, filepath.Join(data, "recordings", a[wire.ClipAttrID].(string)+".mp4"))
	if p.Errors != "" || p.Width != 320 || p.Height != 180 || !p.FirstKey {
		t.Fatalf("ffprobe %+v", p)
	}
}
