package broker

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

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

// held makes each submission answerable once, and answers those still
// unanswered with an error when the test ends (before the broker's
// cleanup, which waits for every answer), so a failing test fails rather
// than hangs.
func held(t *testing.T, subs ...submission) []submission {
	out := make([]submission, len(subs))
	for i, s := range subs {
		once := new(sync.Once)
		done := s.done
		s.done = func(err error) { once.Do(func() { done(err) }) }
		out[i] = s
	}
	t.Cleanup(func() {
		for _, s := range out {
			s.done(errors.New("test ended"))
		}
	})
	return out
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
	h := held(t, ti.next(t), ti.next(t), ti.next(t))
	first, second, third := h[0], h[1], h[2]
	first.done(nil)
	// The first copy is stored, the second not yet: no PUBACK for 7 may
	// go, since the gateway would take it for both.
	rc.ping()
	if p := rc.read(); !isPingresp(p) {
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
	h := held(t, ti.next(t), ti.next(t))
	o1, o2 := h[0], h[1]
	nw := rawConnect(t, addr, "cong-khu-3") // takes over the session
	nw.publish("antt/cong-khu-3/event", 1, 1, "new-1")
	n1 := held(t, ti.next(t))[0]
	if n1.payload != "new-1" {
		t.Fatalf("submission %+v", n1)
	}
	o1.done(nil)
	o2.done(nil)
	nw.ping()
	if p := nw.read(); !isPingresp(p) {
		t.Fatalf("the new connection got %v for the old connection's publishes", p)
	}
	n1.done(nil)
	if got := nw.pubacksUntil(1); len(got) != 1 {
		t.Fatalf("PUBACKs %v", got)
	}
}

func isPingresp(p packets.ControlPacket) bool {
	_, ok := p.(*packets.PingrespPacket)
	return ok
}

// A gateway publishing an event under another gateway's prefix is stopped
// by the access rules before the ingest hook: nothing of it reaches the
// store under either name, and it gets no PUBACK.
func TestIngestAfterAccessCheck(t *testing.T) {
	ti := &testIngest{subs: make(chan submission, 100)}
	_, addr := startBroker(t, Options{Ingest: ti, PasswdFile: writePasswd(t, "station:s", "gw-a:a", "gw-b:b")})
	a := mustDial(t, addr, "gw-a", "a")
	tok := a.Publish("antt/gw-b/event", 1, false, `{"seq":1,"id":"gw-b/1"}`)
	waitCond(t, "gw-a disconnected", func() bool { return !a.IsConnectionOpen() })
	select {
	case <-tok.Done():
		if tok.Error() == nil {
			t.Fatal("the forged publish was acknowledged")
		}
	default:
	}
	b := mustDial(t, addr, "gw-b", "b")
	own := b.Publish("antt/gw-b/event", 1, false, "own")
	s := held(t, ti.next(t))[0]
	if s.gw != "gw-b" || s.payload != "own" {
		t.Fatalf("first submission %+v, want gw-b's own publish (the forged one went to the store?)", s)
	}
	s.done(nil)
	if !own.WaitTimeout(wait) || own.Error() != nil {
		t.Fatalf("gw-b's own publish: %v", own.Error())
	}
}

// Paths of mochi that could acknowledge or keep a stored topic without the
// store: a retained publish on it is stored and not retained (a subscriber
// arriving later gets nothing from the broker), and QoS 2 gets no PUBREC
// but a closed connection, with nothing submitted.
func TestIngestRetainAndQoS2(t *testing.T) {
	ti := &testIngest{subs: make(chan submission, 100)}
	_, addr := startBroker(t, Options{Ingest: ti})
	rc := rawConnect(t, addr, "cong-khu-3")
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Qos, p.MessageID, p.Payload, p.Retain = "antt/cong-khu-3/event", 1, 3, []byte("kept?"), true
	if err := p.Write(rc.conn); err != nil {
		t.Fatal(err)
	}
	s := held(t, ti.next(t))[0]
	if s.payload != "kept?" {
		t.Fatalf("submission %+v", s)
	}
	s.done(nil)
	if got := rc.pubacksUntil(3); got[3] != 1 {
		t.Fatalf("PUBACKs %v", got)
	}
	sub := mustDial(t, addr, "station", "")
	sub.subscribe(t, "antt/+/event", 1)
	sub.subscribe(t, "antt/cong-khu-3/telemetry", 1)
	// mochi sends what it retains right after the SUBACK, before anything
	// published later: once this telemetry has come, a retained event
	// would have come before it.
	rc.publish("antt/cong-khu-3/telemetry", 0, 0, "{}")
	sub.waitFor(t, "antt/cong-khu-3/telemetry")
	if got := sub.topics(); len(got) != 1 {
		t.Fatalf("the subscriber got %v: a stored topic was retained or fanned out", got)
	}

	q2 := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	q2.TopicName, q2.Qos, q2.MessageID, q2.Payload = "antt/cong-khu-3/event", 2, 4, []byte("qos2")
	if err := q2.Write(rc.conn); err != nil {
		t.Fatal(err)
	}
	rc.conn.SetReadDeadline(time.Now().Add(wait))
	if got, err := packets.ReadPacket(rc.conn); err == nil {
		t.Fatalf("QoS 2 on a stored topic answered with %v, want the connection closed", got)
	}
	select {
	case s := <-ti.subs:
		t.Fatalf("QoS 2 publish submitted: %+v", s)
	default:
	}
}

// A will on a stored topic is refused at CONNECT: the broker would publish
// it itself, past the store, and fan it out or retain it unstored.
func TestWillOnStoredTopicRefused(t *testing.T) {
	ti := &testIngest{subs: make(chan submission, 100)}
	_, addr := startBroker(t, Options{Ingest: ti})
	for _, topic := range []string{"antt/cong-khu-3/event", "antt/cong-khu-3/snapshot/9"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
		cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.ClientIdentifier, cp.Keepalive = "MQTT", 4, true, "cong-khu-3", 30
		cp.WillFlag, cp.WillQos, cp.WillTopic, cp.WillMessage = true, 1, topic, []byte(`{"seq":1}`)
		if err := cp.Write(c); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		p, err := packets.ReadPacket(c)
		c.Close()
		if ack, ok := p.(*packets.ConnackPacket); err == nil && (!ok || ack.ReturnCode == 0) {
			t.Fatalf("will on %s: got %v, want the connection refused", topic, p)
		}
	}
	// A will on status (what gateways use) is still accepted.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.ClientIdentifier, cp.Keepalive = "MQTT", 4, true, "cong-khu-3", 30
	cp.WillFlag, cp.WillQos, cp.WillTopic, cp.WillMessage = true, 1, "antt/cong-khu-3/status", []byte(`{"online":false}`)
	if err := cp.Write(c); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	if p, err := packets.ReadPacket(c); err != nil || p.(*packets.ConnackPacket).ReturnCode != 0 {
		t.Fatalf("will on status: %v %v, want accepted", p, err)
	}
}
