package broker

import (
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
)

// A resumed session whose queued message has the packet id the client
// picks for its SUBSCRIBE (the ids of the two directions are independent)
// still gets its subscription.
func TestSubscribeWithIDOfQueuedMessage(t *testing.T) {
	b, addr := startBroker(t, Options{})
	persistent := func(o *paho.ClientOptions) { o.SetClientID("antt-station").SetCleanSession(false) }
	st := mustDial(t, addr, "station", "", persistent)
	st.subscribe(t, "antt/+/event", 1)
	st.Disconnect(100)
	session := func() *mqtt.Client { c, _ := b.srv.Clients.Get("antt-station"); return c }
	waitCond(t, "station session closed", func() bool { return session() != nil && session().Closed() })

	gw := mustDial(t, addr, "gw-a", "")
	if err := gw.publish(t, "antt/gw-a/event", 1, false, "{}"); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "message queued", func() bool { return session().State.Inflight.Len() == 1 })
	if _, ok := session().State.Inflight.Get(1); !ok {
		t.Fatal("queued message does not have packet id 1; the test needs it")
	}

	// A new client (its first packet id is 1) that leaves the message
	// unacknowledged, so id 1 stays in flight on the broker's side.
	st = mustDial(t, addr, "station", "", persistent, func(o *paho.ClientOptions) { o.SetAutoAckDisabled(true) })
	st.waitFor(t, "antt/gw-a/event")
	if code := st.subscribe(t, "antt/+/status", 1); code != 1 {
		t.Fatalf("subscribe refused: %#x", code)
	}
	gw.publish(t, "antt/gw-a/status", 1, false, "{}")
	st.waitFor(t, "antt/gw-a/status")
}
