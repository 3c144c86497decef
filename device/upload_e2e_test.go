package device_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// chunks assembles the clip chunks a gateway publishes, and its replies.
type chunks struct {
	mu      sync.Mutex
	files   map[string][]byte
	offsets map[string][]int64
	last    time.Time
	replies map[string]string
	cl      mqtt.Client
}

func subscribeClips(t *testing.T, broker *mqtttest.Broker, id string) *chunks {
	t.Helper()
	c := &chunks{files: map[string][]byte{}, offsets: map[string][]int64{}, replies: map[string]string{}}
	c.cl = mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID(id + "-clips"))
	if tok := c.cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { c.cl.Disconnect(100) })
	tp := wire.Topics{Prefix: "antt", Gateway: id}
	if tok := c.cl.Subscribe(tp.ClipChunkFilter(), 1, func(_ mqtt.Client, m mqtt.Message) {
		clip, off, err := wire.ParseClipChunk(strings.TrimPrefix(m.Topic(), tp.Base()))
		if err != nil {
			t.Errorf("chunk topic %s: %v", m.Topic(), err)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		b := c.files[clip]
		if end := off + int64(len(m.Payload())); int64(len(b)) < end {
			b = append(b, make([]byte, end-int64(len(b)))...)
		}
		copy(b[off:], m.Payload())
		c.files[clip] = b
		c.offsets[clip] = append(c.offsets[clip], off)
		c.last = time.Now()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.cl.Subscribe(tp.Base()+wire.TopicReply+"/+", 1, func(_ mqtt.Client, m mqtt.Message) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.replies[m.Topic()[strings.LastIndex(m.Topic(), "/")+1:]] = string(m.Payload())
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

func (c *chunks) file(clip string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.files[clip]...)
}

// command publishes cmd/name with args and waits for its reply.
func (c *chunks) command(t *testing.T, gw, name, id string, args map[string]any) string {
	t.Helper()
	args["id"] = id
	b, _ := json.Marshal(args)
	if tok := c.cl.Publish(wire.Topics{Prefix: "antt", Gateway: gw}.Cmd(name), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", name, tok.Error())
	}
	var r string
	devtest.WaitFor(t, 10*time.Second, "the reply to "+name, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		r = c.replies[id]
		return r != ""
	})
	return r
}

// clipEventOf waits for the gateway's clip event in evs and returns it
// with its clip's id and size.
func clipEventOf(t *testing.T, evs *events) (wire.Event, string, int) {
	t.Helper()
	var clip wire.Event
	devtest.WaitFor(t, 30*time.Second, "the alarm's clip event", func() bool {
		var ok bool
		clip, ok = evs.find(wire.KindClip)
		return ok
	})
	id, _ := clip.Attrs[wire.ClipAttrID].(string)
	n, _ := clip.Attrs[wire.ClipAttrBytes].(float64)
	if id == "" || n <= 0 {
		t.Fatalf("clip event without its clip id and size: %+v", clip.Attrs)
	}
	return clip, id, int(n)
}

// alarmGatewayYAML is a gateway whose tamper goes off 3 s after start,
// armed at all hours, with a siren and a camera recording alarm clips of
// clipFile; recording is an extra top-level line (or "").
func alarmGatewayYAML(id, data, broker, clipFile, recording string) string {
	return fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
%s
alarm:
  trigger_time: 2s
  trigger: [{output: siren}]
sensors:
  - {name: hop-tu, kind: tamper, driver: sim, debounce: 0s, always: true, script: [{at: 3s, level: high}]}
outputs:
  - {name: siren, driver: sim, max_on: 10s}
cameras:
  - {name: cam-san, url: "file://%s", record: clips, pre_roll: 1s, post_roll: 1s}
`, id, data, broker, recording, clipFile)
}

// TestAlarmClipUploadedAtOnce: the clip of an armed alarm (a tamper)
// leaves the gateway unasked, in order, once its clip event is delivered;
// its bytes hash to the event's SHA-256. clip.get then sends it again
// from an offset, and a bad request is answered with a clear error.
func TestAlarmClipUploadedAtOnce(t *testing.T) {
	t.Parallel()
	broker := mqtttest.Start(t, mqtttest.Options{})
	const id = "up-alarm"
	evs := subscribeEvents(t, broker, id)
	cs := subscribeClips(t, broker, id)
	data := filepath.Join(t.TempDir(), "data")
	clipFile := testClipPath(t)
	api := runGateway(t, openConfig(t, alarmGatewayYAML(id, data, broker.Addr(), clipFile, "")))
	clip, clipID, n := clipEventOf(t, evs)
	devtest.WaitFor(t, 30*time.Second, "the clip uploaded unasked", func() bool { return len(cs.file(clipID)) == n })
	cs.mu.Lock()
	after := cs.last.Sub(clip.Time)
	cs.mu.Unlock()
	sum := sha256.Sum256(cs.file(clipID))
	if hex.EncodeToString(sum[:]) != clip.Attrs[wire.ClipAttrSHA256] {
		t.Fatal("the uploaded bytes do not hash to the clip event's sha256")
	}
	devtest.WaitFor(t, 10*time.Second, "the upload done in status", func() bool {
		u := apiStatusOf(t, api).Upload
		return u != nil && u.Pending == 0 && u.BytesToday == int64(n) && u.AutoToday == int64(n)
	})
	t.Logf("clip %s: %d bytes at the subscriber %v after the clip event's time", clipID, n, after)

	off := n / 2
	r := cs.command(t, id, wire.CmdClipGet, "get-1", map[string]any{"clip": clipID, "offset": off})
	if !strings.Contains(r, `"ok":true`) || !strings.Contains(r, `"clips":[{"clip":"`+clipID+`"`) {
		t.Fatalf("clip.get reply %s", r)
	}
	devtest.WaitFor(t, 10*time.Second, "the chunk from the offset", func() bool {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		for _, o := range cs.offsets[clipID] {
			if o == int64(off) {
				return true
			}
		}
		return false
	})
	if sum2 := sha256.Sum256(cs.file(clipID)); sum2 != sum {
		t.Fatal("the resent part differs from the first upload")
	}
	r = cs.command(t, id, wire.CmdClipGet, "get-2", map[string]any{"clip": "../etc"})
	if !strings.Contains(r, `"ok":false`) || !strings.Contains(r, "not a clip id") {
		t.Fatalf("bad clip.get reply %s", r)
	}
}

// TestUploadBudgetHoldsAutoUpload: with a daily budget smaller than the
// clip, the automatic upload is held and reported so in status; the
// station's clip.get sends it anyway.
func TestUploadBudgetHoldsAutoUpload(t *testing.T) {
	t.Parallel()
	broker := mqtttest.Start(t, mqtttest.Options{})
	const id = "up-budget"
	evs := subscribeEvents(t, broker, id)
	cs := subscribeClips(t, broker, id)
	data := filepath.Join(t.TempDir(), "data")
	clipFile := testClipPath(t)
	tel := subscribeTelemetry(t, broker, id)
	yaml := strings.Replace(alarmGatewayYAML(id, data, broker.Addr(), clipFile, "recording: {upload_budget: 1KiB}"),
		"telemetry_interval: 1h", "telemetry_interval: 1s", 1)
	api := runGateway(t, openConfig(t, yaml))
	_, clipID, n := clipEventOf(t, evs)
	if n <= 1024 {
		t.Fatalf("clip of %d bytes: the test needs one above the budget", n)
	}
	devtest.WaitFor(t, 10*time.Second, "the upload held by the budget", func() bool {
		u := apiStatusOf(t, api).Upload
		return u != nil && u.Held == 1 && u.Budget == 1024
	})
	devtest.WaitFor(t, 10*time.Second, "the held upload in telemetry", func() bool {
		u := tel.last().ClipUpload
		return u != nil && u.Held == 1 && u.Budget == 1024 && u.Pending == 1
	})
	if b := cs.file(clipID); len(b) != 0 {
		t.Fatalf("%d bytes sent beyond the budget", len(b))
	}
	r := cs.command(t, id, wire.CmdClipGet, "get-b", map[string]any{"clip": clipID})
	if !strings.Contains(r, `"ok":true`) {
		t.Fatalf("clip.get reply %s", r)
	}
	devtest.WaitFor(t, 30*time.Second, "the asked clip sent beyond the budget", func() bool { return len(cs.file(clipID)) == n })
	// The subscriber has the bytes before the gateway counts them (on the
	// broker's acknowledgement): wait for the count, then check it was not
	// charged to the automatic budget.
	var u *clipupload.Stats
	devtest.WaitFor(t, 10*time.Second, "the asked upload's bytes in status", func() bool {
		u = apiStatusOf(t, api).Upload
		return u != nil && u.BytesToday == int64(n)
	})
	if u.Held != 0 || u.AutoToday != 0 {
		t.Fatalf("status after the request %+v", u)
	}
	devtest.WaitFor(t, 10*time.Second, "the asked upload's bytes in telemetry", func() bool {
		u := tel.last().ClipUpload
		return u != nil && u.Held == 0 && u.Pending == 0 && u.BytesToday == int64(n)
	})
}

// telemetry keeps the last telemetry a gateway published.
type telemetry struct {
	mu  sync.Mutex
	tel wire.Telemetry
}

func (t *telemetry) last() wire.Telemetry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tel
}

func subscribeTelemetry(t *testing.T, broker *mqtttest.Broker, id string) *telemetry {
	t.Helper()
	tel := &telemetry{}
	cl := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID(id + "-telemetry"))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("telemetry subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	if tok := cl.Subscribe(wire.Topics{Prefix: "antt", Gateway: id}.Telemetry(), 0, func(_ mqtt.Client, m mqtt.Message) {
		var v wire.Telemetry
		if err := json.Unmarshal(m.Payload(), &v); err != nil {
			t.Errorf("telemetry %s: %v", m.Payload(), err)
			return
		}
		tel.mu.Lock()
		tel.tel = v
		tel.mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe telemetry: %v", tok.Error())
	}
	return tel
}
