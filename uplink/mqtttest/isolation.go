package mqtttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// IsolationEnv is what CheckIsolation needs: gateway ids A and B, a
// station-role client and what it received on {prefix}/#, and a way to log in
// as gateway A.
type IsolationEnv struct {
	A, B    string      // gateway ids: A is logged in, B is another gateway
	Inbox   *Inbox      // everything a station-role subscriber to antt/# received
	Station paho.Client // connected as the station
	DialA   func(clientID string) (paho.Client, error)
	// Strict expects a refused subscription to be told in the SUBACK (the
	// embedded broker does; Mosquitto may grant it and deliver nothing).
	Strict bool
	// StopA, if set, stops A's real gateway once it has answered the ping,
	// before the checks log in as A: on a broker where a gateway's client
	// id must be its gateway id (the embedded one), each of those logins
	// takes A's one connection over, and the real gateway reconnecting
	// would take theirs.
	StopA func()
}

// CheckIsolation checks the per-gateway access rules on a running broker
// (DESIGN's: a gateway publishes only under its own tree except cmd/, and
// reads only its own commands), and that A's real gateway answers the
// station's ping: a ping gets its reply, A's forbidden publishes never
// reach the station (each proven by a sentinel published after it), and A
// never receives B's commands. The checks log in as A one connection at a
// time.
func CheckIsolation(t *testing.T, env IsolationEnv) {
	// No t.Helper: failures point at the check that failed.

	// The station pings A's real gateway.
	WaitToken(t, env.Station.Publish("antt/"+env.A+"/cmd/ping", 1, false, `{"id":"e2e-ping-1"}`), "ping")
	m := env.Inbox.WaitFor(t, "the reply to ping", func(tp string, _ []byte) bool {
		return tp == "antt/"+env.A+"/reply/e2e-ping-1"
	})
	var r struct {
		ID   string `json:"id"`
		OK   bool   `json:"ok"`
		Pong bool   `json:"pong"`
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || r.ID != "e2e-ping-1" || !r.OK || !r.Pong {
		t.Errorf("ping reply %s (%v), want id e2e-ping-1, ok and pong", m.Payload, err)
	}
	if env.StopA != nil {
		env.StopA()
	}

	forbidden := []struct {
		topic  string
		retain bool
	}{
		{"antt/" + env.B + "/event", false},
		{"antt/" + env.B + "/status", true},
		{"antt/" + env.B + "/telemetry", false},
		{"antt/" + env.B + "/reply/r1", false},
		{"antt/" + env.B + "/cmd/ping", false},
		{"antt/" + env.A + "/cmd/ping", false},
		{"antt/" + env.A + "/cmd/output", false},
	}
	for i, f := range forbidden {
		c, err := env.DialA(fmt.Sprintf("%s-forger-%d", env.A, i))
		if err != nil {
			t.Fatalf("connect as A: %v", err)
		}
		marker := fmt.Sprintf("forbidden-%d", i)
		payload := fmt.Sprintf(`{"id":%q,"seq":1,"kind":"panic","online":true}`, marker)
		tok := c.Publish(f.topic, 1, f.retain, payload)
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("publish to %s: neither acknowledged nor refused within 10 s", f.topic)
		}
		outcome := "acknowledged and dropped"
		if err := tok.Error(); err != nil {
			outcome = "refused: " + err.Error()
		}
		c.Disconnect(0)
		// The broker handled the forbidden publish before it answered or
		// closed the connection; a sentinel sent now arrives after it
		// would have.
		mark := fmt.Sprintf("sentinel-%d", i)
		sentinel, err := env.DialA(fmt.Sprintf("%s-sentinel-%d", env.A, i))
		if err != nil {
			t.Fatalf("A's sentinel client: %v", err)
		}
		WaitToken(t, sentinel.Publish("antt/"+env.A+"/telemetry", 1, false, mark), "sentinel publish")
		sentinel.Disconnect(0)
		env.Inbox.WaitFor(t, "sentinel "+mark, func(tp string, p []byte) bool {
			return tp == "antt/"+env.A+"/telemetry" && string(p) == mark
		})
		if m, ok := env.Inbox.Find(func(_ string, p []byte) bool { return bytes.Contains(p, []byte(marker)) }); ok {
			t.Errorf("A published on %s: the station received %s %s", f.topic, m.Topic, m.Payload)
		} else {
			t.Logf("A → %s: %s; the station did not receive it", f.topic, outcome)
		}
	}

	// A tries to read B's commands, by name and through wildcards.
	reader, err := env.DialA(env.A + "-reader")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Disconnect(0)
	got := &Inbox{}
	filters := map[string]byte{
		"antt/" + env.B + "/cmd/#": 1,
		"antt/+/cmd/#":             1,
		"antt/#":                   1,
		"antt/" + env.A + "/cmd/#": 1,
	}
	stok := reader.SubscribeMultiple(filters, got.Handle)
	WaitToken(t, stok, "A subscribes")
	res := stok.(*paho.SubscribeToken).Result()
	t.Logf("SUBACK to A: %v", res)
	if res["antt/"+env.A+"/cmd/#"] > 2 {
		t.Errorf("A may not subscribe to its own commands: %v", res)
	}
	if env.Strict {
		for f := range filters {
			if f != "antt/"+env.A+"/cmd/#" && res[f] != 0x80 {
				t.Errorf("subscription %s granted to A (code %#x), want 0x80", f, res[f])
			}
		}
	}
	WaitToken(t, env.Station.Publish("antt/"+env.B+"/cmd/ping", 1, false, `{"id":"for-b"}`), "command to B")
	WaitToken(t, env.Station.Publish("antt/"+env.A+"/cmd/ping", 1, false, `{"id":"for-a"}`), "command to A")
	got.WaitFor(t, "A's own command", func(tp string, p []byte) bool {
		return tp == "antt/"+env.A+"/cmd/ping" && bytes.Contains(p, []byte("for-a"))
	})
	for _, m := range got.Msgs() {
		if !strings.HasPrefix(m.Topic, "antt/"+env.A+"/cmd/") {
			t.Errorf("A received %s %s", m.Topic, m.Payload)
		}
	}
}
