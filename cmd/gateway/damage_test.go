package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
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

// dmgPage is bbolt's page size on the test machines (os.Getpagesize).
const dmgPage = 4096

// TestDamagedOutbox damages a real outbox three ways (truncated, random
// bytes, zeroed meta pages) between two runs of the gateway process. The
// second run starts, moves the damaged file aside to
// outbox.db.damaged-* next to it with its bytes intact, and reports a
// storage_reset event (moved_to, reason, resumed_seq) that reaches a
// subscriber on Mosquitto with a seq above every seq given out before the
// damage; a walk test after it is delivered too.
func TestDamagedOutbox(t *testing.T) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	got := &dmgInbox{}
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + broker.Addr()).
		SetClientID("e2e-damage-sub").SetCleanSession(true).SetOrderMatters(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("antt/+/event", 1, got.handle); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			// Both meta pages survive; the pages they point to do not.
			if err := os.Truncate(path, 3*dmgPage+1234); err != nil {
				t.Fatal(err)
			}
		}},
		{"random-bytes", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, fi.Size())
			rand.Read(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeroed-meta", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 2*dmgPage), 0); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "dmg-" + tc.name
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			path := filepath.Join(data, device.OutboxFile)
			api := devtest.FreeAddr(t)
			client := &http.Client{Timeout: 10 * time.Second}

			// First run: the broker address is dead, so the events stay in
			// the outbox and the file has pages worth damaging.
			cfg := gwConfig{ID: id, DataDir: data, Broker: "mqtt://" + devtest.FreeAddr(t), API: api}.write(t, dir)
			gw := startGateway(t, cfg, api)
			for range 200 {
				if walktest(client, api, "pir") == 0 {
					t.Fatalf("walk test failed:\n%s", gw.output())
				}
			}
			before := gw.status(t).Outbox.NextSeq - 1
			if before < 200 {
				t.Fatalf("last seq %d after 200 walk tests", before)
			}
			gw.stop(t)

			tc.damage(t, path)
			damaged, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			cfg = gwConfig{ID: id, DataDir: data, Broker: broker.URL(), API: api}.write(t, dir)
			gw = startGateway(t, cfg, api)
			var reset wire.Event
			devtest.WaitFor(t, 15*time.Second, "storage_reset from "+id, func() bool {
				var ok bool
				reset, ok = got.find(id, wire.KindStorageReset)
				return ok
			})
			t.Logf("storage_reset: seq %d, attrs %v", reset.Seq, reset.Attrs)
			if reset.Seq <= before {
				t.Errorf("storage_reset has seq %d, not above %d given out before the damage", reset.Seq, before)
			}
			movedTo, _ := reset.Attrs["moved_to"].(string)
			reason, _ := reset.Attrs["reason"].(string)
			resumed, _ := reset.Attrs["resumed_seq"].(float64)
			if reason == "" {
				t.Errorf("storage_reset without a reason: %v", reset.Attrs)
			}
			if uint64(resumed) <= before || uint64(resumed) > reset.Seq {
				t.Errorf("resumed_seq %v: want above %d and at most the event's seq %d", reset.Attrs["resumed_seq"], before, reset.Seq)
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) != 1 {
				t.Fatalf("files moved aside: %v, want one %s.damaged-*", aside, path)
			}
			if movedTo != aside[0] {
				t.Errorf("moved_to %q, but the file moved aside is %q", movedTo, aside[0])
			}
			if b, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(b, damaged) {
				t.Errorf("%s does not hold the damaged file's %d bytes (%d bytes, %v)", aside[0], len(damaged), len(b), err)
			}

			// The fresh outbox works: a walk test after the reset arrives.
			seq := walktest(client, api, "pir")
			if seq <= reset.Seq {
				t.Fatalf("walk test after the reset got seq %d, want above %d:\n%s", seq, reset.Seq, gw.output())
			}
			devtest.WaitFor(t, 15*time.Second, "the walk test after the reset", func() bool { return got.has(id, seq) })
			gw.stop(t)
		})
	}
}

// dmgInbox keeps the events the subscriber received, per gateway.
type dmgInbox struct {
	mu     sync.Mutex
	events map[string][]wire.Event
}

func (b *dmgInbox) handle(_ mqtt.Client, m mqtt.Message) {
	gw, _, ok := wire.Split(wire.DefaultPrefix, m.Topic())
	var e wire.Event
	if !ok || json.Unmarshal(m.Payload(), &e) != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.events == nil {
		b.events = map[string][]wire.Event{}
	}
	b.events[gw] = append(b.events[gw], e)
}

func (b *dmgInbox) find(gw, kind string) (wire.Event, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.events[gw] {
		if e.Kind == kind {
			return e, true
		}
	}
	return wire.Event{}, false
}

func (b *dmgInbox) has(gw string, seq uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.events[gw] {
		if e.Seq == seq {
			return true
		}
	}
	return false
}
