package device_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// outboxDump reads the running gateway's outbox through its local API.
func outboxDump(t *testing.T, base string) []wire.Event {
	t.Helper()
	resp, err := http.Get(base + "/api/outbox")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []wire.Event
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e wire.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("dump line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// A power cut, then the box tampered and the panic button stuck pressed,
// then power back: the boot event lists every sensor's state at start, the
// tamper and the panic raise their events right after it (marked at_start),
// the PIR that sees someone does not, and the tamper's release later is an
// ordinary event.
func TestSensorsActiveAtStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: hop-tu, kind: tamper, driver: sim, initial: high, debounce: 0s, script: [{at: 500ms, level: low}]}
  - {name: nut-khan, kind: panic, driver: sim, active: low, initial: low, every: 1h}
  - {name: pir-cong, kind: motion, driver: sim, initial: high, every: 1h}
  - {name: cua-cong, kind: contact, driver: sim, every: 1h}
`, data))
	base := runGateway(t, gw)

	var evs []wire.Event
	devtest.WaitFor(t, 10*time.Second, "boot, two at-start events and the tamper's release", func() bool {
		evs = outboxDump(t, base)
		return len(evs) >= 4
	})
	if len(evs) != 4 {
		t.Fatalf("outbox holds %d events, want 4: %+v", len(evs), evs)
	}
	boot := evs[0]
	if boot.Kind != wire.KindBoot || boot.Boot != gw.Boot() {
		t.Fatalf("first event = %+v, want the boot event", boot)
	}
	want := map[string]string{"hop-tu": "active", "nut-khan": "active", "pir-cong": "active", "cua-cong": "inactive"}
	got, _ := boot.Attrs["sensors"].(map[string]any)
	if len(got) != len(want) {
		t.Fatalf("boot attrs sensors = %v, want %v", boot.Attrs["sensors"], want)
	}
	for name, st := range want {
		if got[name] != st {
			t.Errorf("boot attrs sensors[%s] = %v, want %s", name, got[name], st)
		}
	}
	if boot.Attrs["version"] == nil {
		t.Errorf("boot attrs lost the version: %v", boot.Attrs)
	}

	atStart := map[string]wire.Event{}
	for _, e := range evs[1:3] {
		if e.State != wire.StateActive || e.Attrs["at_start"] != true || e.Seq <= boot.Seq {
			t.Errorf("at-start event = %+v", e)
		}
		atStart[e.Source] = e
	}
	if atStart["hop-tu"].Kind != wire.KindTamper || atStart["nut-khan"].Kind != wire.KindPanic {
		t.Fatalf("at-start events = %+v, want hop-tu tamper and nut-khan panic", evs[1:3])
	}
	rel := evs[3]
	if rel.Source != "hop-tu" || rel.State != wire.StateInactive || rel.Attrs["at_start"] != nil {
		t.Fatalf("fourth event = %+v, want hop-tu's release", rel)
	}
	if d := rel.UptimeMS - atStart["hop-tu"].UptimeMS; d < 400 {
		t.Errorf("release %d ms after the at-start event, want the script's 500 ms", d)
	}
	for _, e := range evs {
		if e.Source == "pir-cong" {
			t.Errorf("motion found at start raised %+v", e)
		}
	}
}
