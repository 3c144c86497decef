package device_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// clipEvents returns the clip events of camera collected so far, in order.
func (e *events) clipEvents(camera string) []wire.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []wire.Event
	for _, ev := range e.got {
		if ev.Kind == wire.KindClip && ev.Source == camera {
			out = append(out, ev)
		}
	}
	return out
}

// TestClipGetTimeRange: three event clips of a recording camera (the file
// camera, clip_on a motion sensor pulsing three times) are on the board;
// clip.get {camera, from, to} over the span of the first two answers with
// exactly those two, their chunks (and no other clip's) reach the
// station's topic, and each reassembles to its clip event's SHA-256. A
// range holding no recording answers ok with an empty list.
//
// Continuous segments are one minute long and not configurable, so event
// clips stand in for them: Store.List treats both alike.
func TestClipGetTimeRange(t *testing.T) {
	t.Parallel()
	broker := mqtttest.Start(t, mqtttest.Options{})
	const id, cam = "up-range", "cam-ngo"
	evs := subscribeEvents(t, broker, id)
	cs := subscribeClips(t, broker, id)
	data := filepath.Join(t.TempDir(), "data")
	runGateway(t, openConfig(t, fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
sensors:
  - {name: ngo-pir, kind: motion, driver: sim, debounce: 0s, hold: 0s,
     script: [{at: 3s, level: high}, {at: 3300ms, level: low},
              {at: 8s, level: high}, {at: 8300ms, level: low},
              {at: 13s, level: high}, {at: 13300ms, level: low}]}
cameras:
  - {name: %s, url: "file://%s", record: clips, clip_on: [ngo-pir], pre_roll: 1s, post_roll: 1s}
`, id, data, broker.Addr(), cam, testClipPath(t))))

	var clips []wire.Event
	devtest.WaitFor(t, 40*time.Second, "three clip events", func() bool {
		clips = evs.clipEvents(cam)
		return len(clips) >= 3
	})
	if len(clips) != 3 {
		t.Fatalf("%d clip events, want 3 (one per motion pulse)", len(clips))
	}
	type span struct {
		id, sum    string
		bytes      int
		start, end time.Time
	}
	spans := make([]span, len(clips))
	for i, c := range clips {
		a := c.Attrs
		start, err := time.Parse(time.RFC3339Nano, fmt.Sprint(a[wire.ClipAttrStart]))
		if err != nil {
			t.Fatalf("clip event %+v: start: %v", a, err)
		}
		ms, _ := a[wire.ClipAttrDuration].(float64)
		n, _ := a[wire.ClipAttrBytes].(float64)
		spans[i] = span{id: fmt.Sprint(a[wire.ClipAttrID]), sum: fmt.Sprint(a[wire.ClipAttrSHA256]), bytes: int(n),
			start: start, end: start.Add(time.Duration(ms) * time.Millisecond)}
		if !wire.ValidClipID(spans[i].id) || n <= 0 || ms <= 0 {
			t.Fatalf("clip event without id, size or duration: %+v", a)
		}
	}
	// The range is whole seconds (the gateway reads RFC 3339 to the
	// nanosecond, but a station's officer picks seconds): from the second
	// the first clip starts in, to the second after the second clip ends.
	from := spans[0].start.Truncate(time.Second)
	to := spans[1].end.Truncate(time.Second).Add(time.Second)
	if !spans[2].start.After(to) {
		t.Fatalf("the third clip starts %v, within the range ending %v: the pulses are too close for this test", spans[2].start, to)
	}

	r := cs.command(t, id, wire.CmdClipGet, "range-1", map[string]any{
		"camera": cam, "from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano)})
	var reply struct {
		OK    bool            `json:"ok"`
		Error string          `json:"error"`
		Clips []wire.ClipInfo `json:"clips"`
	}
	if err := json.Unmarshal([]byte(r), &reply); err != nil || !reply.OK {
		t.Fatalf("clip.get range reply %s (%v)", r, err)
	}
	if len(reply.Clips) != 2 {
		t.Fatalf("clip.get over [%v, %v] lists %d clips, want the first two: %s", from, to, len(reply.Clips), r)
	}
	for i, c := range reply.Clips {
		s := spans[i]
		if c.ID != s.id || c.Camera != cam || c.Bytes != int64(s.bytes) || c.SHA256 != s.sum {
			t.Fatalf("reply clip %d is %+v, want the clip event's %+v", i, c, s)
		}
	}
	for _, s := range spans[:2] {
		devtest.WaitFor(t, 30*time.Second, "clip "+s.id+" uploaded", func() bool { return len(cs.file(s.id)) == s.bytes })
		sum := sha256.Sum256(cs.file(s.id))
		if hex.EncodeToString(sum[:]) != s.sum {
			t.Fatalf("clip %s: the chunks do not hash to its clip event's sha256", s.id)
		}
	}

	// A range with no recording: ok, nothing queued. Its reply comes after
	// the first request's chunks were queued and sent, so a stray chunk of
	// the third clip would be here by now.
	later := spans[2].end.Add(time.Hour)
	r = cs.command(t, id, wire.CmdClipGet, "range-0", map[string]any{
		"camera": cam, "from": later.Format(time.RFC3339), "to": later.Add(time.Hour).Format(time.RFC3339)})
	reply.OK, reply.Clips = false, nil
	if err := json.Unmarshal([]byte(r), &reply); err != nil || !reply.OK || reply.Clips == nil || len(reply.Clips) != 0 {
		t.Fatalf("clip.get over an empty range: %s (%v); want ok with \"clips\":[]", r, err)
	}
	cs.mu.Lock()
	got := len(cs.files)
	_, third := cs.files[spans[2].id]
	cs.mu.Unlock()
	if third || got != 2 {
		t.Fatalf("chunks of %d clips reached the station (third clip among them: %v), want only the two asked for", got, third)
	}
}
