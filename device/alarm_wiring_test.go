package device_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// stationClient subscribes to one gateway's events and replies on a real
// broker, as the station does.
type stationClient struct {
	t       *testing.T
	c       mqtt.Client
	mu      sync.Mutex
	events  []wire.Event
	replies map[string]map[string]any
}

func newStationClient(t *testing.T, addr, gw string) *stationClient {
	s := &stationClient{t: t, replies: map[string]map[string]any{}}
	s.c = mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("alarm-station"))
	if tok := s.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("station client: %v", tok.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(100) })
	tok := s.c.Subscribe("antt/"+gw+"/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case m.Topic() == "antt/"+gw+"/event":
			var e wire.Event
			if err := json.Unmarshal(m.Payload(), &e); err != nil {
				t.Errorf("event %q: %v", m.Payload(), err)
			}
			s.events = append(s.events, e)
		case bytes.Contains([]byte(m.Topic()), []byte("/reply/")):
			var r map[string]any
			if err := json.Unmarshal(m.Payload(), &r); err != nil {
				t.Errorf("reply %q: %v", m.Payload(), err)
			}
			id, _ := r["id"].(string)
			s.replies[id] = r
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return s
}

// command publishes cmd/{name} and waits for its reply.
func (s *stationClient) command(topic, id, args string) map[string]any {
	s.t.Helper()
	payload := fmt.Sprintf(`{"id":%q%s}`, id, args)
	if tok := s.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		s.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
	var r map[string]any
	devtest.WaitFor(s.t, 15*time.Second, "reply "+id, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		r = s.replies[id]
		return r != nil
	})
	return r
}

// find returns the events matching kind and source (either may be "").
func (s *stationClient) find(kind, source, state string) []wire.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.Event
	for _, e := range s.events {
		if (kind == "" || e.Kind == kind) && (source == "" || e.Source == source) && (state == "" || e.State == state) {
			out = append(out, e)
		}
	}
	return out
}

// postJSON posts body to url and returns the status and the reply decoded
// as a JSON object (nil if it is not one).
func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func outputState(st device.Status, name string) (output.State, bool) {
	for _, o := range st.Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return output.State{}, false
}

// TestAlarmOfflineIntrusion: with no broker at all, a site armed before a
// restart (alarm.json) sounds its siren on the board after the entry delay
// when the door opens, and lets it go at the trigger time. Once a real
// Mosquitto comes up, the station gets every step, in order, with its
// time. Then the station's commands: arm carries the officer into the
// event, output drives the siren with its user, and malformed commands
// are answered ok:false while the alarm runs on.
func TestAlarmOfflineIntrusion(t *testing.T) {
	t.Parallel()
	broker := mqtttest.Start(t, mqtttest.Options{})
	broker.Stop() // no broker at all while the intrusion happens
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	// Armed away before this start: the site comes back armed at once.
	if err := os.WriteFile(filepath.Join(data, device.AlarmFile), []byte(`{"mode":"away","origin":{"by":"station","user":"canbo.an"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: truong-1, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
alarm:
  trigger_time: 2s
  trigger: [{output: siren}, {output: strobe, pattern: pulse 2Hz 50%%}]
sensors:
  - {name: cong-truong, kind: contact, driver: sim, debounce: 0s, modes: [away, night], entry_delay: 1s,
     script: [{at: 500ms, level: high}]}
outputs:
  - {name: siren, driver: sim, max_on: 10s}
  - {name: strobe, driver: sim, max_on: 10s}
`, data, broker.Addr()))
	base := runGateway(t, gw)

	devtest.WaitFor(t, 20*time.Second, "the siren on and the alarm triggered, with no broker", func() bool {
		st := gw.Status()
		o, _ := outputState(st, "siren")
		// The output's state is published before the alarm's.
		return o.On && st.Alarm != nil && st.Alarm.Phase == "triggered"
	})
	st := gw.Status()
	if st.Uplink.Connected {
		t.Fatal("uplink connected; the test needs the broker down")
	}
	if st.Alarm == nil || st.Alarm.Phase != "triggered" || st.Alarm.Mode != "away" {
		t.Fatalf("alarm status %+v", st.Alarm)
	}
	if o, _ := outputState(st, "strobe"); !o.On || o.Pattern != "pulse 2Hz 50%" {
		t.Errorf("strobe %+v", o)
	}
	devtest.WaitFor(t, 20*time.Second, "the siren off at the trigger time, still armed", func() bool {
		st := gw.Status()
		o, _ := outputState(st, "siren")
		return !o.On && o.LastChange.After(time.Time{}) && st.Alarm.Phase != "triggered"
	})
	if m := gw.Status().Alarm.Mode; m != "away" {
		t.Fatalf("mode %q after the trigger time, want away (never a silent disarm)", m)
	}

	broker.Restart()
	sc := newStationClient(t, broker.Addr(), "truong-1")
	devtest.WaitFor(t, 30*time.Second, "the intrusion's events at the station", func() bool {
		return len(sc.find("output", "siren", "off")) >= 1
	})
	var steps []wire.Event
	for _, want := range [][3]string{
		{"contact", "cong-truong", "active"},
		{"entry_delay", "cong-truong", "started"},
		// The siren is switched on, then the alarm is reported (its time
		// is the trip's instant, microseconds before the output's).
		{"output", "siren", "on"},
		{"alarm", "cong-truong", "triggered"},
		{"output", "siren", "off"},
	} {
		es := sc.find(want[0], want[1], want[2])
		if len(es) == 0 {
			t.Fatalf("no %v event; got %+v", want, sc.find("", "", ""))
		}
		steps = append(steps, es[0])
	}
	for i := 1; i < len(steps); i++ {
		if steps[i].Seq <= steps[i-1].Seq || steps[i].Time.Before(steps[i-1].Time.Add(-10*time.Millisecond)) {
			t.Errorf("%s/%s (seq %d, %s) before %s/%s (seq %d, %s)", steps[i].Kind, steps[i].State, steps[i].Seq, steps[i].Time,
				steps[i-1].Kind, steps[i-1].State, steps[i-1].Seq, steps[i-1].Time)
		}
	}
	if d := steps[2].Time.Sub(steps[0].Time); d < time.Second {
		t.Errorf("siren on %s after the door opened, before the 1s entry delay", d)
	}
	if d := steps[4].Time.Sub(steps[2].Time); d < 2*time.Second-100*time.Millisecond || d > 5*time.Second {
		t.Errorf("siren sounded %s, want the 2s trigger time", d)
	}

	cmd := "antt/truong-1/cmd/"
	if r := sc.command(cmd+"arm", "a1", `,"mode":"disarmed","user":"canbo.binh","reason":"kiểm tra"`); r["ok"] != true {
		t.Fatalf("arm disarmed: %v", r)
	}
	devtest.WaitFor(t, 15*time.Second, "the mode event with the officer", func() bool {
		for _, e := range sc.find("mode", "", "disarmed") {
			if e.Attrs["user"] == "canbo.binh" && e.Attrs["by"] == "station" && e.Attrs["from"] == "away" {
				return true
			}
		}
		return false
	})
	for id, args := range map[string]string{
		"bad1": `,"mode":5`,
		"bad2": `,"mode":"away","colour":"red"`,
		"bad3": `,"mode":"holidy"`,
	} {
		if r := sc.command(cmd+"arm", id, args); r["ok"] != false || r["error"] == "" {
			t.Errorf("arm %s: %v, want ok:false with an error", args, r)
		}
	}
	if r := sc.command(cmd+"output", "bad4", `,"name":"siren","on":true,"seconds":9999`); r["ok"] != false {
		t.Errorf("output seconds 9999: %v", r)
	}
	if r := sc.command(cmd+"output", "bad5", `,"name":"horn","on":true`); r["ok"] != false {
		t.Errorf("output horn: %v", r)
	}
	if r := sc.command(cmd+"output", "o1", `,"name":"siren","on":true,"seconds":1,"user":"canbo.binh"`); r["ok"] != true {
		t.Fatalf("output siren: %v", r)
	}
	devtest.WaitFor(t, 15*time.Second, "the output event with the officer, then off after 1s", func() bool {
		on := false
		for _, e := range sc.find("output", "siren", "on") {
			on = on || e.Attrs["user"] == "canbo.binh"
		}
		return on && !func() bool { o, _ := outputState(gw.Status(), "siren"); return o.On }()
	})
	// The alarm runs on after the bad commands. The gate is still open,
	// so arming is refused naming it; bypassed, it arms.
	if r := sc.command(cmd+"arm", "a2", `,"mode":"night","user":"canbo.an"`); r["ok"] != false || !bytes.Contains([]byte(fmt.Sprint(r["error"])), []byte("cong-truong")) {
		t.Fatalf("arm night with the gate open: %v, want refused naming cong-truong", r)
	} else if open, _ := r["open"].([]any); len(open) != 1 || open[0] != "cong-truong" {
		t.Fatalf("arm night with the gate open: reply %v, want open [cong-truong] for the officer's page", r)
	}
	devtest.WaitFor(t, 15*time.Second, "the arming_refused event", func() bool { return len(sc.find("arming_refused", "", "")) == 1 })
	if r := sc.command(cmd+"bypass", "b1", `,"sensor":"cong-truong","on":true,"user":"canbo.an"`); r["ok"] != true {
		t.Fatalf("bypass: %v", r)
	}
	if r := sc.command(cmd+"arm", "a3", `,"mode":"night","user":"canbo.an"`); r["ok"] != true {
		t.Fatalf("arm night: %v", r)
	}
	if st := apiStatusOf(t, base); st.Alarm == nil || st.Alarm.Mode != "night" || st.Alarm.Origin.User != "canbo.an" {
		t.Fatalf("status alarm %+v", st.Alarm)
	}
	// The mode is on disk before it was reported.
	b, err := os.ReadFile(filepath.Join(data, device.AlarmFile))
	if err != nil || !bytes.Contains(b, []byte(`"night"`)) {
		t.Fatalf("alarm.json %q: %v", b, err)
	}
	// Telemetry carries the mode and the outputs.
	tel := gw.Telemetry()
	if tel.Alarm != "night" || tel.Outputs == nil || tel.Outputs["siren"] {
		t.Errorf("telemetry alarm %q outputs %v", tel.Alarm, tel.Outputs)
	}
}

// TestAlarmAPITest: POST /api/test pulses an output for a second (marked
// test, origin installer) and starts the walk test; bad bodies are 400.
func TestAlarmAPITest(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: truong-2, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
alarm: {}
sensors:
  - {name: pir, kind: motion, driver: sim, every: 1h, modes: [away]}
  - {name: chia-khoa, kind: keyswitch, driver: sim, every: 1h}
outputs:
  - {name: siren, driver: sim}
`, data))
	base := runGateway(t, gw)
	// A key switch runs on the contact driver but is a key switch to the
	// installer reading /api/status.
	kinds := map[string]string{}
	for _, s := range apiStatusOf(t, base).Sensors {
		kinds[s.Name] = s.Kind
	}
	if kinds["chia-khoa"] != "keyswitch" || kinds["pir"] != "motion" {
		t.Errorf("sensor kinds in /api/status %v, want chia-khoa keyswitch, pir motion", kinds)
	}
	post := func(body string) (int, map[string]any) { return postJSON(t, base+"/api/test", body) }
	for _, bad := range []string{`{}`, `{"input":true,"output":"siren"}`, `{"output":7}`, `{"outpt":"siren"}`} {
		if code, m := post(bad); code != http.StatusBadRequest || m["error"] == "" {
			t.Errorf("%s: %d %v, want 400 with an error", bad, code, m)
		}
	}
	if code, m := post(`{"output":"horn"}`); code != http.StatusConflict {
		t.Errorf("unknown output: %d %v", code, m)
	}
	if code, m := post(`{"output":"siren"}`); code != http.StatusOK {
		t.Fatalf("output test: %d %v", code, m)
	}
	devtest.WaitFor(t, 10*time.Second, "the siren pulsed for its second and off", func() bool {
		o, _ := outputState(gw.Status(), "siren")
		return !o.On && o.LastChange.After(time.Time{})
	})
	if code, m := post(`{"input":true}`); code != http.StatusOK {
		t.Fatalf("walk test: %d %v", code, m)
	}
	if st := gw.Status(); st.Alarm == nil || !st.Alarm.Test {
		t.Fatalf("status after the walk test started: %+v", st.Alarm)
	}
}

// TestAlarmAPIArm: the installer at the board arms and disarms through the
// local API (origin installer, the user carried); an arming refused names
// the open sensor; a client not on loopback needs the API token.
func TestAlarmAPIArm(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: truong-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
alarm: {modes: [{name: away, exit_delay: 0s}]}
sensors:
  - {name: cua-so, kind: contact, driver: sim, every: 1h, modes: [home]}
  - {name: pir, kind: motion, driver: sim, every: 1h, modes: [away]}
outputs:
  - {name: siren, driver: sim}
`, data))
	base := runGateway(t, gw)
	post := func(body string) (int, map[string]any) { return postJSON(t, base+"/api/arm", body) }
	for _, bad := range []string{`{}`, `{"mode":"awy"}`, `{"mode":7}`, `{"mode":"away","colour":"red"}`} {
		if code, m := post(bad); code/100 != 4 || m["error"] == nil {
			t.Errorf("%s: %d %v, want 4xx with an error", bad, code, m)
		}
	}
	if code, m := post(`{"mode":"away","user":"tho.lap","reason":"lắp xong"}`); code != http.StatusOK {
		t.Fatalf("arm away: %d %v", code, m)
	}
	st := gw.Status()
	if st.Alarm == nil || st.Alarm.Mode != "away" || st.Alarm.Origin.By != "installer" || st.Alarm.Origin.User != "tho.lap" {
		t.Fatalf("after POST /api/arm: %+v", st.Alarm)
	}
	if code, m := post(`{"mode":"disarmed","user":"tho.lap"}`); code != http.StatusOK {
		t.Fatalf("disarm: %d %v", code, m)
	}
	if st := gw.Status(); st.Alarm.Mode != "disarmed" {
		t.Fatalf("after disarm: %+v", st.Alarm)
	}
	// A client not on loopback (the API opened with allow_remote) and no
	// token configured: refused, the mode unchanged.
	for _, path := range []string{"POST /api/arm", "POST /api/test", "POST /api/walktest", "GET /api/status", "GET /api/outbox"} {
		method, p, _ := strings.Cut(path, " ")
		req, _ := http.NewRequest(method, p, bytes.NewBufferString(`{"mode":"away","input":true}`))
		req.RemoteAddr = "192.0.2.7:40000"
		rec := &recorder{header: http.Header{}}
		gw.Handler().ServeHTTP(rec, req)
		if rec.code != http.StatusForbidden {
			t.Errorf("%s from 192.0.2.7: %d, want 403", path, rec.code)
		}
	}
	if st := gw.Status(); st.Alarm.Mode != "disarmed" || st.Alarm.Test {
		t.Fatalf("a remote client changed the alarm: %+v", st.Alarm)
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) { r.code = code }
