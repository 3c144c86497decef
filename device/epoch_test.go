package device_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// TestEpochInBirthEventsAndStatus: the outbox's epoch is in the birth
// message, in every event published, and in /api/status with the bound
// the outbox really uses.
func TestEpochInBirthEventsAndStatus(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	var mu sync.Mutex
	var births []wire.Status
	var events []wire.Event
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("epoch-station"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })
	if tok := sub.Subscribe("antt/cong-khu-3/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		switch m.Topic() {
		case "antt/cong-khu-3/status":
			var st wire.Status
			if json.Unmarshal(m.Payload(), &st) == nil && st.Online {
				births = append(births, st)
			}
		case "antt/cong-khu-3/event":
			var e wire.Event
			if err := json.Unmarshal(m.Payload(), &e); err != nil {
				t.Errorf("event %q: %v", m.Payload(), err)
			}
			events = append(events, e)
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	gw := openConfig(t, fmt.Sprintf(`gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://%s", telemetry_interval: 1h}
outbox: {max_bytes: 8MiB}
sensors:
  - {name: gate-pir, kind: motion, driver: sim, every: 100ms, debounce: 0s, hold: 0s}
`, filepath.Join(t.TempDir(), "data"), broker.Addr()))
	base := runGateway(t, gw)
	devtest.WaitFor(t, 20*time.Second, "a birth and five events", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(births) >= 1 && len(events) >= 5
	})
	st := apiStatusOf(t, base)
	epoch := st.Outbox.Epoch
	if !wire.ValidEpoch(epoch) || len(epoch) != 16 {
		t.Fatalf("/api/status outbox epoch %q", epoch)
	}
	if st.Outbox.MaxBytes != 8<<20 || st.Outbox.Bound <= 0 || st.Outbox.Bound > 8<<20 {
		t.Fatalf("/api/status outbox bound %d of max_bytes %d", st.Outbox.Bound, st.Outbox.MaxBytes)
	}
	mu.Lock()
	defer mu.Unlock()
	if births[0].Epoch != epoch {
		t.Fatalf("birth epoch %q, want %q", births[0].Epoch, epoch)
	}
	for _, e := range events {
		if e.Epoch != epoch {
			t.Fatalf("event %d (%s) carries epoch %q, want %q", e.Seq, e.Kind, e.Epoch, epoch)
		}
	}
}

// apiStatusOf reads GET /api/status.
func apiStatusOf(t *testing.T, base string) device.Status {
	t.Helper()
	resp, err := http.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st device.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
