package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// checkAlarmCommandAccess checks, on a broker with the documented access
// rules, that gateway A's real process takes arm and output only from its
// own command topic: the station's arm for B and gateway B's forged
// commands on A's topic change nothing on A, and the station's arm for A
// does, with the officer's user in the mode event.
func checkAlarmCommandAccess(t *testing.T, inbox *mqtttest.Inbox, station paho.Client, dialB func(string) (paho.Client, error), gw *gwProc, a, b string) {
	mqtttest.WaitToken(t, station.Publish("antt/"+b+"/cmd/arm", 1, false, `{"id":"arm-b","mode":"away","user":"canbo.b"}`), "arm for B")
	if fb, err := dialB(b + "-forger"); err != nil {
		t.Fatalf("connect as B: %v", err)
	} else {
		for _, p := range []struct{ topic, payload string }{
			{"antt/" + a + "/cmd/arm", `{"id":"forged-arm","mode":"away","user":"forger"}`},
			{"antt/" + a + "/cmd/output", `{"id":"forged-out","name":"siren","on":true,"user":"forger"}`},
		} {
			tok := fb.Publish(p.topic, 1, false, p.payload)
			tok.WaitTimeout(10 * time.Second) // refused or dropped: either is fine
		}
		fb.Disconnect(0)
	}
	// The station's own command comes after all of them: when its mode
	// event arrives, anything the forgeries did would have shown.
	mqtttest.WaitToken(t, station.Publish("antt/"+a+"/cmd/arm", 1, false, `{"id":"arm-a","mode":"night","user":"canbo.an"}`), "arm for A")
	inbox.WaitFor(t, "A's reply to its arm", func(tp string, p []byte) bool {
		return tp == "antt/"+a+"/reply/arm-a" && bytes.Contains(p, []byte(`"ok":true`))
	})
	m := inbox.WaitFor(t, "A's mode event", func(tp string, p []byte) bool {
		var e wire.Event
		return tp == "antt/"+a+"/event" && json.Unmarshal(p, &e) == nil && e.Kind == "mode" && e.State == "night"
	})
	var e wire.Event
	_ = json.Unmarshal(m.Payload, &e)
	if e.Attrs["user"] != "canbo.an" || e.Attrs["by"] != "station" || e.Attrs["from"] != "disarmed" {
		t.Errorf("mode event attrs %v, want user canbo.an, by station, from disarmed (a forged or misrouted arm got through)", e.Attrs)
	}
	if _, ok := inbox.Find(func(tp string, p []byte) bool {
		// What A sent: its events and replies (the station also sees the
		// commands themselves on antt/#).
		if tp != "antt/"+a+"/event" && !bytes.HasPrefix([]byte(tp), []byte("antt/"+a+"/reply/")) {
			return false
		}
		return bytes.Contains(p, []byte("forger")) || bytes.Contains(p, []byte("canbo.b")) || bytes.Contains(p, []byte("forged-"))
	}); ok {
		t.Error("A acted on a command that was not the station's on A's own topic")
	}
	devtest.WaitFor(t, 10*time.Second, "A's status in night", func() bool {
		st := gw.status(t)
		return st.Alarm != nil && st.Alarm.Mode == "night"
	})
	for _, o := range gw.status(t).Outputs {
		if o.Name == "siren" && (o.On || !o.LastChange.IsZero()) {
			t.Errorf("the forged output command switched the siren: %+v", o)
		}
	}
}
