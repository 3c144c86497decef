package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// submission is one Submit the test ingester received.
type submission struct {
	gw, rest string
	payload  string
	done     func(error)
}

// testIngest is an Ingester whose answers the test controls: each
// submission goes to the channel subs, or to handle when that is set.
type testIngest struct {
	subs   chan submission
	handle func(s submission)
}

func (ti *testIngest) Claims(rest string) bool {
	return rest == "event" || strings.HasPrefix(rest, "snapshot/")
}

func (ti *testIngest) Submit(gw, rest string, payload []byte, done func(error)) {
	s := submission{gw, rest, string(payload), done}
	if ti.handle != nil {
		ti.handle(s)
		return
	}
	ti.subs <- s
}

func (ti *testIngest) next(t *testing.T) submission {
	t.Helper()
	select {
	case s := <-ti.subs:
		return s
	case <-time.After(wait):
		t.Fatal("no submission reached the store")
		return submission{}
	}
}

// rawClient is an MQTT 3.1.1 connection written by hand (paho's packets),
// to see exactly which PUBACKs come and in what order.
type rawClient struct {
	t    *testing.T
	conn net.Conn
}

func rawConnect(t *testing.T, addr, id string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cp := packets.NewControlPacket(packets.Connect).(*packets.ConnectPacket)
	cp.ProtocolName, cp.ProtocolVersion, cp.CleanSession, cp.ClientIdentifier, cp.Keepalive = "MQTT", 4, true, id, 30
	if err := cp.Write(c); err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, conn: c}
	if ack, ok := rc.read().(*packets.ConnackPacket); !ok || ack.ReturnCode != 0 {
		t.Fatalf("CONNACK %v", ack)
	}
	return rc
}

func (rc *rawClient) publish(topic string, qos byte, id uint16, payload string) {
	rc.t.Helper()
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.TopicName, p.Qos, p.MessageID, p.Payload = topic, qos, id, []byte(payload)
	if err := p.Write(rc.conn); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawClient) read() packets.ControlPacket {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(wait))
	p, err := packets.ReadPacket(rc.conn)
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	return p
}

func (rc *rawClient) ping() {
	rc.t.Helper()
	if err := packets.NewControlPacket(packets.Pingreq).Write(rc.conn); err != nil {
		rc.t.Fatal(err)
	}
}

// A PUBACK comes only once the store answered, in the order the publishes
// arrived whatever the order of the answers; nothing is delivered to
// subscribers; other topics are acknowledged by mochi as before.
func TestIngestAcksAfterStoreInOrder(t *testing.T) {
	ti := &testIngest{subs: make(chan submission, 100)}
	b, addr := startBroker(t, Options{Ingest: ti})
	sub := mustDial(t, addr, "station", "")
	sub.subscribe(t, "antt/#", 1)

	rc := rawConnect(t, addr, "cong-khu-3")
	for i := uint16(1); i <= 5; i++ {
		rc.publish("antt/cong-khu-3/event", 1, i, fmt.Sprintf("ev%d", i))
	}
	var held []submission
	for range 5 {
		held = append(held, ti.next(t))
	}
	for i, s := range held {
		if s.gw != "cong-khu-3" || s.rest != "event" || s.payload != fmt.Sprintf("ev%d", i+1) {
			t.Fatalf("submission %d: %+v", i, s)
		}
	}
	// A PINGRESP proves the broker has handled every packet before the
	// PINGREQ: had it acknowledged a publish, that PUBACK came first.
	rc.ping()
	if p, ok := rc.read().(*packets.PingrespPacket); !ok {
		t.Fatalf("got %v before the store answered, want only PINGRESP", p)
	}
	// Answered last to first: PUBACKs still go out first to last, and only
	// once the first one is answered.
	for i := len(held) - 1; i >= 1; i-- {
		held[i].done(nil)
	}
	rc.ping()
	if p, ok := rc.read().(*packets.PingrespPacket); !ok {
		t.Fatalf("got %v while the first publish was unanswered", p)
	}
	held[0].done(nil)
	for i := uint16(1); i <= 5; i++ {
		ack, ok := rc.read().(*packets.PubackPacket)
		if !ok || ack.MessageID != i {
			t.Fatalf("PUBACK %d: got %v", i, ack)
		}
	}
	// Telemetry is not claimed: mochi acknowledges it at once.
	rc.publish("antt/cong-khu-3/telemetry", 1, 9, "{}")
	if ack, ok := rc.read().(*packets.PubackPacket); !ok || ack.MessageID != 9 {
		t.Fatalf("telemetry: %v", ack)
	}
	// QoS 0 on a claimed topic is stored, not acknowledged.
	rc.publish("antt/cong-khu-3/snapshot/5", 0, 0, "jpeg")
	if s := ti.next(t); s.rest != "snapshot/5" || s.payload != "jpeg" {
		t.Fatalf("QoS 0 snapshot: %+v", s)
	} else {
		s.done(nil)
	}
	rc.ping()
	if p, ok := rc.read().(*packets.PingrespPacket); !ok {
		t.Fatalf("QoS 0 publish answered with %v", p)
	}
	// mochi delivers one publisher's messages in order: once a telemetry
	// published last has reached the subscriber, anything stored that was
	// fanned out would have too.
	rc.publish("antt/cong-khu-3/telemetry", 0, 0, "last")
	sub.waitFor(t, "antt/cong-khu-3/telemetry")
	waitCond(t, "both telemetry messages delivered", func() bool { return len(sub.topics()) >= 2 })
	for _, topic := range sub.topics() {
		if topic != "antt/cong-khu-3/telemetry" {
			t.Fatalf("stored publishes were fanned out: %v", sub.topics())
		}
	}
	waitCond(t, "stats", func() bool { s, _, _ := b.Ingested(); return s == 6 })
}

// With paho as the gateway: the publish token completes only after the
// store commits.
func TestIngestTokenWaitsForCommit(t *testing.T) {
	ti := &testIngest{subs: make(chan submission, 10)}
	_, addr := startBroker(t, Options{Ingest: ti})
	gw := mustDial(t, addr, "cong-khu-3", "")
	tok := gw.Publish("antt/cong-khu-3/event", 1, false, "ev1")
	s := ti.next(t)
	// An unclaimed publish after it is acknowledged first: the event's
	// PUBACK, had it been sent, would have arrived before.
	if err := gw.publish(t, "antt/cong-khu-3/telemetry", 1, false, "{}"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tok.Done():
		t.Fatal("publish acknowledged before the store committed")
	default:
	}
	s.done(nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish after commit: %v", tok.Error())
	}
}

// A store error disconnects the gateway; it sends the event again on its
// next connection and it is stored once. An invalid payload is
// acknowledged and not sent again.
func TestIngestStoreErrorDisconnects(t *testing.T) {
	var mu sync.Mutex
	stored := map[string]int{}
	var failures atomic.Int32
	ti := &testIngest{handle: func(s submission) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case s.payload == "bad":
			s.done(fmt.Errorf("%w: not JSON", ErrInvalidPayload))
		case s.payload == "ev1" && failures.Add(1) == 1:
			s.done(errors.New("commit failed: disk on fire"))
		default:
			stored[s.payload]++
			s.done(nil)
		}
	}}
	b, addr := startBroker(t, Options{Ingest: ti})
	lost := make(chan struct{}, 10)
	gw := mustDial(t, addr, "cong-khu-3", "", func(o *paho.ClientOptions) {
		o.SetCleanSession(false).SetAutoReconnect(true).SetConnectRetryInterval(50 * time.Millisecond).
			SetMaxReconnectInterval(100 * time.Millisecond).
			SetConnectionLostHandler(func(paho.Client, error) { lost <- struct{}{} })
	})
	tok := gw.Publish("antt/cong-khu-3/event", 1, false, "ev1")
	select {
	case <-lost:
	case <-time.After(wait):
		t.Fatal("gateway not disconnected after a store error")
	}
	if !tok.WaitTimeout(2*wait) || tok.Error() != nil {
		t.Fatalf("publish not completed after reconnecting: %v", tok.Error())
	}
	if err := gw.publish(t, "antt/cong-khu-3/event", 1, false, "bad"); err != nil {
		t.Fatalf("invalid payload not acknowledged: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if stored["ev1"] != 1 || failures.Load() != 2 {
		t.Fatalf("ev1 stored %d times after %d submissions", stored["ev1"], failures.Load())
	}
	if s, inv, f := b.Ingested(); s != 1 || inv != 1 || f != 1 {
		t.Fatalf("ingested stored=%d invalid=%d failed=%d", s, inv, f)
	}
}

// A slow store holds at most MaxUnacked publishes of one client; the
// client is slowed, nothing is dropped and mochi drops nothing either.
func TestIngestBackpressure(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 1500
	}
	var mu sync.Mutex
	var held []submission
	var got []string
	maxHeld, total := 0, 0
	// The store answers only when MaxUnacked are waiting (or all came):
	// had the hook let more through, more would be held. It answers from
	// a goroutine of its own, as the real store's writer does.
	ti := &testIngest{handle: func(s submission) {
		mu.Lock()
		held = append(held, s)
		total++
		maxHeld = max(maxHeld, len(held))
		got = append(got, s.payload)
		var release []submission
		if len(held) >= MaxUnacked || total == n {
			release, held = held, nil
		}
		mu.Unlock()
		if len(release) > 0 {
			go func() {
				for _, r := range release {
					r.done(nil)
				}
			}()
		}
	}}
	b, addr := startBroker(t, Options{Ingest: ti})
	gw := mustDial(t, addr, "cong-khu-3", "")
	toks := make([]paho.Token, n)
	for i := range n {
		toks[i] = gw.Publish("antt/cong-khu-3/event", 1, false, fmt.Sprintf("ev%d", i))
	}
	for i, tok := range toks {
		if !tok.WaitTimeout(4*wait) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if maxHeld != MaxUnacked {
		t.Fatalf("at most %d publishes waited for the store, want exactly %d", maxHeld, MaxUnacked)
	}
	for i, p := range got {
		if p != fmt.Sprintf("ev%d", i) {
			t.Fatalf("submission %d is %q", i, p)
		}
	}
	info := b.Info()
	if info.InflightDropped != 0 || info.MessagesDropped != 0 {
		t.Fatalf("mochi dropped: inflight %d, messages %d", info.InflightDropped, info.MessagesDropped)
	}
	if s, _, _ := b.Ingested(); s != int64(n) {
		t.Fatalf("stored %d of %d", s, n)
	}
}

// The real store behind the hook, made slow: several gateways publish at
// once, every publish completes only once stored, all are stored once, in
// order per gateway, and mochi drops nothing.
func TestIngestRealStore(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "events.db"), store.Options{CommitDelay: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, addr := startBroker(t, Options{Ingest: StoreIngester(st)})
	const gws, per = 5, 200
	var wg sync.WaitGroup
	for g := range gws {
		id := fmt.Sprintf("gw-%d", g)
		c := mustDial(t, addr, id, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks := make([]paho.Token, 0, per+1)
			for seq := uint64(1); seq <= per; seq++ {
				ev, _ := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(id, seq), Epoch: "e1", Kind: wire.KindMotion})
				toks = append(toks, c.Publish("antt/"+id+"/event", 1, false, ev))
			}
			toks = append(toks, c.Publish("antt/"+id+"/snapshot/200", 1, false, []byte("jpeg")))
			for i, tok := range toks {
				if !tok.WaitTimeout(4*wait) || tok.Error() != nil {
					t.Errorf("%s publish %d: %v", id, i, tok.Error())
					return
				}
			}
			// Acknowledged means stored.
			if c, _ := st.Counters(id); c.Received != per || c.GapsUnexplained != 0 || c.Duplicates != 0 {
				t.Errorf("%s: counters %+v", id, c)
			}
			if _, ok, _ := st.SnapshotInfo(id, "e1", per); !ok {
				t.Errorf("%s: snapshot not stored before its PUBACK", id)
			}
		}()
	}
	wg.Wait()
	recs, _ := st.After(0, 0)
	last := map[string]uint64{}
	for _, r := range recs {
		if r.Type == store.RecordEvent {
			if r.Seq != last[r.Gateway]+1 || r.Late {
				t.Fatalf("%s: event %d stored after %d", r.Gateway, r.Seq, last[r.Gateway])
			}
			last[r.Gateway] = r.Seq
		}
	}
	if info := b.Info(); info.InflightDropped != 0 || info.MessagesDropped != 0 {
		t.Fatalf("mochi dropped: %+v", info)
	}
	if s := st.Stats(); s.Commits >= s.Requests/2 {
		t.Errorf("%d requests in %d commits: no group commit", s.Requests, s.Commits)
	}
}
