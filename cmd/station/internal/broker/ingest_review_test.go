package broker

import (
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// pubacksUntil reads PUBACKs until the one for last and returns how many
// came for each packet id. PUBACKs go out in the order the publishes came,
// so every PUBACK due before last's has come when it does.
func (rc *rawClient) pubacksUntil(last uint16) map[uint16]int {
	rc.t.Helper()
	got := map[uint16]int{}
	for {
		p := rc.read()
		ack, ok := p.(*packets.PubackPacket)
		if !ok {
			rc.t.Fatalf("got %v, want PUBACKs up to %d", p, last)
		}
		got[ack.MessageID]++
		if ack.MessageID == last {
			return got
		}
	}
}

// A publish sent again (DUP) with a packet id that is still waiting for
// the store gets one PUBACK, not one per copy, and only once both copies
// are stored. A second PUBACK for the id would reach the gateway after it
// has reused the id for its next event, and acknowledge that event before
// the store has it.
func TestIngestOnePubackPerPendingID(t *testing.T) {
	ti := &testIngest{subs: make(chan submission, 100)}
	_, addr := startBroker(t, Options{Ingest: ti})
	rc := rawConnect(t, addr, "cong-khu-3")
	rc.publish("antt/cong-khu-3/event", 1, 7, "ev1")
	dup := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	dup.TopicName, dup.Qos, dup.MessageID, dup.Payload, dup.Dup = "antt/cong-khu-3/event", 1, 7, []byte("ev1"), true
	if err := dup.Write(rc.conn); err != nil {
		t.Fatal(err)
	}
	rc.publish("antt/cong-khu-3/event", 1, 8, "ev2")
	first, second, third := ti.next(t), ti.next(t), ti.next(t)
	first.done(nil)
	// The first copy is stored, the second not yet: no PUBACK for 7 may
	// go, since the gateway would take it for both.
	rc.ping()
	if p, ok := rc.read().(*packets.PingrespPacket); !ok {
		t.Fatalf("got %v with the second copy of 7 unstored, want only PINGRESP", p)
	}
	second.done(nil)
	third.done(nil)
	if got := rc.pubacksUntil(8); got[7] != 1 || got[8] != 1 || len(got) != 2 {
		t.Fatalf("PUBACKs per packet id %v, want one each for 7 and 8", got)
	}
}

// A gateway that reconnects while the store still holds publishes of its
// old connection: the old connection's answers are never written on the
// new one, where packet id 1 now means another message; the new one gets
// the PUBACK for its own publish 1 once that is stored.
func TestIngestTakeoverKeepsAcksApart(t *testing.T) {
	ti := &testIngest{subs: make(chan submission, 100)}
	_, addr := startBroker(t, Options{Ingest: ti})
	old := rawConnect(t, addr, "cong-khu-3")
	old.publish("antt/cong-khu-3/event", 1, 1, "old-1")
	old.publish("antt/cong-khu-3/event", 1, 2, "old-2")
	o1, o2 := ti.next(t), ti.next(t)
	nw := rawConnect(t, addr, "cong-khu-3") // takes over the session
	nw.publish("antt/cong-khu-3/event", 1, 1, "new-1")
	n1 := ti.next(t)
	if n1.payload != "new-1" {
		t.Fatalf("submission %+v", n1)
	}
	o1.done(nil)
	o2.done(nil)
	nw.ping()
	if p, ok := nw.read().(*packets.PingrespPacket); !ok {
		t.Fatalf("the new connection got %v for the old connection's publishes", p)
	}
	n1.done(nil)
	if got := nw.pubacksUntil(1); len(got) != 1 {
		t.Fatalf("PUBACKs %v", got)
	}
}
