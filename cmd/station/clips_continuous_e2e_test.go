package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/camera/mp4/mp4test"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// segment is one continuous segment as its clip event announced it,
// with what ffprobe read in its file.
type segment struct {
	id    string
	start time.Time
	dur   time.Duration
	bytes int64
	probe mp4test.Probe
}

// record: continuous through the real gateway binary, with 5 s segments
// (recording.segment) of a GStreamer camera (25 frames/s, a key frame a
// second) and the smallest recording.max_bytes (16 MiB, about three
// segments): segments follow each other with no gap or overlap beyond one
// frame, each is announced by a clip event (reason continuous) and read
// by ffprobe without error for the duration announced, the recordings on
// the card stay within max_bytes (the oldest segments go), and the
// telemetry's recording_bytes_today grows with what was written. (Age
// retention, max_age of 1 h or more, is record.TestStoreMaxAgeRemovesOldSegments.)
func TestContinuousSegmentsRealGateway(t *testing.T) {
	// Not parallel: a segment's start is its first frame's arrival, so a
	// starved gateway would show its scheduling as a gap between segments.
	const (
		seg      = 5 * time.Second
		frame    = 40 * time.Millisecond
		maxBytes = 16 << 20
		want     = 6 // segments announced: about twice max_bytes written
	)
	cam := rtsptest.StartCamera(t, "--width", "320", "--height", "240", "--fps", "25", "--key-int-max", "25",
		"--bitrate", "6000", "--pattern", "snow")
	br := mqtttest.Start(t, mqtttest.Options{})
	const gw = "cong-khu-3"
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	recs := filepath.Join(data, "recordings")

	var (
		mu       sync.Mutex
		clipEvs  []wire.Event
		todayTel []int64
	)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + br.Addr()).SetClientID(gw + "-station"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	tp := wire.Topics{Prefix: "antt", Gateway: gw}
	if tok := sub.Subscribe(tp.Base()+wire.TopicEvent, 1, func(_ paho.Client, m paho.Message) {
		var e wire.Event
		if json.Unmarshal(m.Payload(), &e) == nil && e.Kind == wire.KindClip {
			mu.Lock()
			clipEvs = append(clipEvs, e)
			mu.Unlock()
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe events: %v", tok.Error())
	}
	if tok := sub.Subscribe(tp.Telemetry(), 0, func(_ paho.Client, m paho.Message) {
		var v wire.Telemetry
		if json.Unmarshal(m.Payload(), &v) == nil {
			mu.Lock()
			todayTel = append(todayTel, v.RecordingBytesToday)
			mu.Unlock()
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe telemetry: %v", tok.Error())
	}

	api := devtest.FreeAddr(t)
	cfg := filepath.Join(dir, gw+".yaml")
	y := fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink: {broker: "mqtt://%s", client_id: %s, keepalive: 5s, telemetry_interval: 1s}
api: {listen: "%s"}
sensors:
  - {name: pir, kind: motion, driver: sim, every: 1h}
cameras:
  - {name: cam-cong, url: %q, record: continuous}
recording: {max_bytes: 16MiB, segment: %s}
`, gw, data, br.Addr(), gw, api, cam.URL, seg)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	startBinGateway(t, cfg, api)

	// Each segment is probed as soon as it is announced (older ones go to
	// keep max_bytes); the card's recordings are measured at every look.
	var segs []segment
	var most int64
	onCard := func() int64 {
		var n int64
		l, _ := filepath.Glob(filepath.Join(recs, "*.mp4"))
		for _, p := range l {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	devtest.WaitFor(t, 120*time.Second, fmt.Sprintf("%d continuous segments announced", want), func() bool {
		most = max(most, onCard())
		mu.Lock()
		evs := clipEvs[len(segs):]
		mu.Unlock()
		for _, e := range evs {
			a := e.Attrs
			id, _ := a[wire.ClipAttrID].(string)
			ms, _ := a[wire.ClipAttrDuration].(float64)
			n, _ := a[wire.ClipAttrBytes].(float64)
			start, err := time.Parse(time.RFC3339Nano, fmt.Sprint(a[wire.ClipAttrStart]))
			if err != nil || a[wire.ClipAttrReason] != "continuous" || a[wire.ClipAttrForSeq] != float64(0) || e.Source != "cam-cong" {
				t.Fatalf("segment event %+v", e)
			}
			segs = append(segs, segment{id: id, start: start, dur: time.Duration(ms) * time.Millisecond, bytes: int64(n),
				probe: mp4test.Run(t, filepath.Join(recs, id+".mp4"))})
		}
		return len(segs) >= want
	})
	most = max(most, onCard())

	slices.SortFunc(segs, func(a, b segment) int { return a.start.Compare(b.start) })
	var total int64
	for i, s := range segs {
		total += s.bytes
		t.Logf("segment %s: starts %s, %v, %d bytes", s.id, s.start.Format("15:04:05.000"), s.dur, s.bytes)
		if p := s.probe; p.Errors != "" || p.Codec != "h264" || p.Width != 320 || p.Height != 240 || !p.FirstKey {
			t.Errorf("segment %s: ffprobe %+v", s.id, p)
		}
		if d := s.probe.Duration - s.dur; d < -frame || d > frame {
			t.Errorf("segment %s: ffprobe reads %v, its event says %v", s.id, s.probe.Duration, s.dur)
		}
		if i == 0 {
			continue // the first starts when the camera does
		}
		if s.dur < seg-frame || s.dur > seg+time.Second { // cut at the first key frame from seg on
			t.Errorf("segment %s lasts %v, want %v up to one GOP more", s.id, s.dur, seg)
		}
		prev := segs[i-1]
		if gap := s.start.Sub(prev.start.Add(prev.dur)); gap < -frame || gap > frame {
			t.Errorf("segment %s starts %v after the end of %s: a gap or overlap of more than a frame", s.id, gap, prev.id)
		}
	}
	if most > maxBytes {
		t.Errorf("%d bytes of recordings on the card, over recording.max_bytes %d", most, maxBytes)
	}
	if total <= maxBytes {
		t.Fatalf("only %d bytes recorded: the test did not pass max_bytes, it proves nothing about retention", total)
	}
	if _, err := os.Stat(filepath.Join(recs, segs[0].id+".mp4")); err == nil {
		t.Errorf("the oldest segment %s is still on the card after %d bytes were recorded", segs[0].id, total)
	}

	// recording_bytes_today grows with what was written, up to at least
	// what was announced so far.
	devtest.WaitFor(t, 10*time.Second, "recording_bytes_today at the announced bytes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(todayTel) > 0 && todayTel[len(todayTel)-1] >= total
	})
	mu.Lock()
	tel := slices.Clone(todayTel)
	mu.Unlock()
	if !slices.IsSorted(tel) || tel[0] >= tel[len(tel)-1] {
		t.Errorf("recording_bytes_today in telemetry: %v, want it growing", tel)
	}
}
