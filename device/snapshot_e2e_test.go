package device_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// digestCamera serves jpeg behind Digest auth (MD5, qop=auth), as IP
// cameras do.
func digestCamera(user, pass string, jpeg []byte) http.Handler {
	const realm, nonce = "IP Camera", "5f2a9c0e1d"
	h := func(s string) string { s2 := md5.Sum([]byte(s)); return hex.EncodeToString(s2[:]) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := map[string]string{}
		if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Digest "); ok {
			for _, kv := range strings.Split(a, ",") {
				k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
				p[k] = strings.Trim(v, `"`)
			}
		}
		want := h(h(user+":"+realm+":"+pass) + ":" + nonce + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + h(r.Method+":"+p["uri"]))
		if p["username"] != user || p["uri"] != r.URL.RequestURI() || p["response"] != want {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm=%q, qop="auth", nonce=%q, algorithm=MD5`, realm, nonce))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(jpeg)
	})
}

// snapGateway runs a gateway whose sim sensor gate-pir fires every 300 ms
// and is in cam-cong's snapshot_on, and records what reaches the broker.
func snapGateway(t *testing.T, broker *mqtttest.Broker, id, snapshotURL string) (msgs func() []mqtt.Message) {
	t.Helper()
	var mu sync.Mutex
	var got []mqtt.Message
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID(id + "-station"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	if tok := sub.Subscribe("antt/"+id+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	runGateway(t, openConfig(t, fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, every: 300ms, debounce: 0s, hold: 0s}
cameras:
  - {name: cam-cong, url: "rtsp://127.0.0.1:1/never", snapshot_url: %q, snapshot_on: [gate-pir]}
`, id, filepath.Join(t.TempDir(), "data"), broker.Addr(), snapshotURL)))
	return func() []mqtt.Message {
		mu.Lock()
		defer mu.Unlock()
		return append([]mqtt.Message(nil), got...)
	}
}

// firstActiveMotion waits for the first active motion event and returns it
// with its index in msgs().
func firstActiveMotion(t *testing.T, msgs func() []mqtt.Message) (wire.Event, int, []mqtt.Message) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := msgs()
		for i, m := range all {
			if !strings.HasSuffix(m.Topic(), "/"+wire.TopicEvent) {
				continue
			}
			var e wire.Event
			if err := json.Unmarshal(m.Payload(), &e); err != nil {
				t.Fatalf("event %s: %v", m.Payload(), err)
			}
			if e.Kind == wire.KindMotion && e.State == wire.StateActive {
				return e, i, all
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no active motion event in 20 s (%d messages)", len(all))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSnapshotOnSensorEvent(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{0x42}, 30000)...)

	t.Run("digest camera", func(t *testing.T) {
		cam := httptest.NewServer(digestCamera("viewer", "cam-secret", jpeg))
		defer cam.Close()
		msgs := snapGateway(t, broker, "snap-ok", strings.Replace(cam.URL, "http://", "http://viewer:cam-secret@", 1)+"/ISAPI/Streaming/channels/101/picture")
		e, i, _ := firstActiveMotion(t, msgs)
		if e.Attrs["snapshot"] != true || e.Attrs["camera"] != "cam-cong" {
			t.Fatalf("event attrs %v: want snapshot true from cam-cong", e.Attrs)
		}
		topic := wire.Topics{Prefix: "antt", Gateway: "snap-ok"}.Snapshot(e.Seq)
		deadline := time.Now().Add(10 * time.Second)
		for {
			all := msgs()
			j := -1
			for k, m := range all {
				if m.Topic() == topic {
					j = k
					break
				}
			}
			if j >= 0 {
				if j < i {
					t.Fatalf("snapshot/%d (message %d) came before its event (message %d)", e.Seq, j, i)
				}
				if !bytes.Equal(all[j].Payload(), jpeg) {
					t.Fatalf("snapshot/%d: %d bytes, not the camera's JPEG", e.Seq, len(all[j].Payload()))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s in 10 s", topic)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("snapshot command", func(t *testing.T) {
		cam := httptest.NewServer(digestCamera("viewer", "cam-secret", jpeg))
		msgs := snapGateway(t, broker, "snap-cmd", strings.Replace(cam.URL, "http://", "http://viewer:cam-secret@", 1)+"/snap.jpg")
		tp := wire.Topics{Prefix: "antt", Gateway: "snap-cmd"}
		st := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("snap-cmd-sender"))
		if tok := st.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("sender: %v", tok.Error())
		}
		defer st.Disconnect(100)
		// The gateway subscribes to its commands once connected: resend
		// until a reply comes.
		reply := func(id, args string) map[string]any {
			t.Helper()
			deadline := time.Now().Add(15 * time.Second)
			for {
				st.Publish(tp.Cmd("snapshot"), 1, false, fmt.Sprintf(`{"id":%q%s}`, id, args)).WaitTimeout(5 * time.Second)
				wait := time.Now().Add(time.Second)
				for time.Now().Before(wait) {
					for _, m := range msgs() {
						if m.Topic() == tp.Reply(id) {
							var r map[string]any
							if err := json.Unmarshal(m.Payload(), &r); err != nil {
								t.Fatal(err)
							}
							return r
						}
					}
					time.Sleep(10 * time.Millisecond)
				}
				if time.Now().After(deadline) {
					t.Fatalf("no reply to %s", id)
				}
			}
		}
		r := reply("c1", `,"camera":"cam-cong"`)
		seq, _ := r["seq"].(float64)
		if r["ok"] != true || seq == 0 {
			t.Fatalf("reply %v", r)
		}
		if r := reply("c2", `,"camera":"cam-nope"`); r["ok"] != false || !strings.Contains(fmt.Sprint(r["error"]), "unknown camera") {
			t.Fatalf("unknown camera: reply %v", r)
		}
		cam.Close()
		if r := reply("c3", `,"camera":"cam-cong"`); r["ok"] != false || strings.Contains(fmt.Sprint(r["error"]), "cam-secret") {
			t.Fatalf("camera down: reply %v", r)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			var ev *wire.Event
			var snap []byte
			for _, m := range msgs() {
				var e wire.Event
				if m.Topic() == tp.Event() && json.Unmarshal(m.Payload(), &e) == nil && e.Seq == uint64(seq) {
					ev = &e
				}
				if m.Topic() == tp.Snapshot(uint64(seq)) && ev != nil {
					snap = m.Payload()
				}
			}
			if ev != nil && snap != nil {
				if ev.Kind != wire.KindSnapshot || !bytes.Equal(snap, jpeg) {
					t.Fatalf("snapshot event %+v with %d bytes", ev, len(snap))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("snapshot event %d and its JPEG did not both arrive", int(seq))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("camera down", func(t *testing.T) {
		cam := httptest.NewServer(http.NotFoundHandler())
		url := strings.Replace(cam.URL, "http://", "http://viewer:cam-secret@", 1) + "/snap.jpg"
		cam.Close()
		msgs := snapGateway(t, broker, "snap-down", url)
		e, _, all := firstActiveMotion(t, msgs)
		msg, _ := e.Attrs["snapshot_error"].(string)
		if e.Attrs["snapshot"] != false || msg == "" {
			t.Fatalf("event attrs %v: want snapshot false with the error", e.Attrs)
		}
		if strings.Contains(msg, "cam-secret") || strings.Contains(msg, "viewer") {
			t.Fatalf("credentials in snapshot_error %q", msg)
		}
		for _, m := range all {
			if strings.Contains(m.Topic(), "/"+wire.TopicSnapshot+"/") {
				t.Fatalf("a snapshot was published with the camera down: %s", m.Topic())
			}
		}
	})
}
