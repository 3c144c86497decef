package uplink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

const gw = "cong-khu-3"

var topics = wire.Topics{Prefix: "antt", Gateway: gw}

// memQueue is an in-memory uplink.Queue.
type memQueue struct {
	mu     sync.Mutex
	msgs   []uplink.Message
	head   int
	acked  map[uint64]bool
	next   uint64
	notify chan struct{}
}

func newQueue() *memQueue {
	return &memQueue{acked: map[uint64]bool{}, next: 1, notify: make(chan struct{}, 1)}
}

func (q *memQueue) Add(n int) {
	q.mu.Lock()
	for range n {
		ev := wire.Event{Seq: q.next, ID: wire.EventID(gw, q.next), Kind: wire.KindMotion, Source: "gate-pir",
			State: wire.StateActive, Time: time.Now().UTC(), Boot: "b1"}
		b, _ := json.Marshal(ev)
		q.msgs = append(q.msgs, uplink.Message{Seq: q.next, Payload: b})
		q.next++
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *memQueue) Peek(after uint64, max int, maxBytes int64) ([]uplink.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	live := q.msgs[q.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].Seq > after })
	var out []uplink.Message
	var n int64
	for ; i < len(live) && len(out) < max && (len(out) == 0 || n < maxBytes); i++ {
		if !q.acked[live[i].Seq] {
			out = append(out, live[i])
			n += int64(len(live[i].Payload) + len(live[i].Attachment))
		}
	}
	return out, nil
}

func (q *memQueue) Ack(seqs ...uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range seqs {
		q.acked[s] = true
	}
	for q.head < len(q.msgs) && q.acked[q.msgs[q.head].Seq] {
		delete(q.acked, q.msgs[q.head].Seq)
		q.msgs[q.head] = uplink.Message{}
		q.head++
	}
	return nil
}

func (q *memQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs) - q.head - len(q.acked)
}

func (q *memQueue) Notify() <-chan struct{} { return q.notify }

// recorder collects events seen by a subscriber.
type recorder struct {
	mu    sync.Mutex
	first []uint64 // first deliveries, in arrival order
	seen  map[uint64]bool
	dups  int
	bad   []string
}

func newRecorder() *recorder { return &recorder{seen: map[uint64]bool{}} }

func (r *recorder) handle(_ mqtt.Client, m mqtt.Message) {
	var ev struct{ Seq uint64 }
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := json.Unmarshal(m.Payload(), &ev); err != nil || ev.Seq == 0 {
		r.bad = append(r.bad, string(m.Payload()))
		return
	}
	if r.seen[ev.Seq] {
		r.dups++
		return
	}
	r.seen[ev.Seq] = true
	r.first = append(r.first, ev.Seq)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first)
}

// check asserts that first deliveries are exactly 1..n in order.
func (r *recorder) check(t *testing.T, n int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		t.Errorf("%d undecodable events, first %q", len(r.bad), r.bad[0])
	}
	if len(r.first) != n {
		t.Fatalf("got %d distinct events, want %d", len(r.first), n)
	}
	for i, s := range r.first {
		if s != uint64(i+1) {
			t.Fatalf("first delivery #%d is seq %d, want %d (order or gap)", i, s, i+1)
		}
	}
}

func client(t testing.TB, addr, id string, clean bool, def mqtt.MessageHandler) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetDefaultPublishHandler(def)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func subscribe(t testing.TB, c mqtt.Client, filter string, h mqtt.MessageHandler) {
	t.Helper()
	if tok := c.Subscribe(filter, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func config(t testing.TB, addr string) uplink.Config {
	u, err := url.Parse("mqtt://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := uplink.Config{Broker: u, Gateway: gw, Password: "hunter2-secret", KeepAlive: 5 * time.Second,
		TelemetryInterval: 200 * time.Millisecond, ConnectTimeout: 3 * time.Second,
		Version: "test", Boot: "boot-1", Epoch: "00112233aabbccdd", Started: time.Now()}
	cfg.Backoff.Min, cfg.Backoff.Max = 10*time.Millisecond, 100*time.Millisecond
	return cfg
}

// run starts s.Run and returns a stop function that cancels and waits.
func run(t testing.TB, s *uplink.Session) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestDeliverBacklogAfterBrokerStart(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persistence: true})
	rec := newRecorder()
	// A persistent subscriber: its session and queue survive the restart.
	sub := client(t, b.Addr(), "station-sub", false, rec.handle)
	subscribe(t, sub, topics.Event(), rec.handle)
	sub.Disconnect(100)
	b.Stop()

	q := newQueue()
	q.Add(5000)
	s := uplink.New(config(t, b.Addr()), q, nil, nil, testLogger(t))
	run(t, s)
	devtest.WaitFor(t, 10*time.Second, "a failed connect", func() bool { return s.State().LastError != "" })
	if s.State().Connected {
		t.Fatal("connected to a stopped broker")
	}

	b.Restart()
	client(t, b.Addr(), "station-sub", false, rec.handle)
	devtest.WaitFor(t, 30*time.Second, "5000 events", func() bool { return rec.count() == 5000 && q.Len() == 0 })
	rec.check(t, 5000)
	if st := s.State(); st.Acked != 5000 || !st.Connected {
		t.Errorf("state %+v: want 5000 acked, connected", st)
	}
}

func TestChaosNoLossOrderKept(t *testing.T) {
	const total, window = 10000, 32
	b := mqtttest.Start(t, mqtttest.Options{})
	p := mqtttest.NewProxy(t, b.Addr())
	rec := newRecorder()
	sub := client(t, b.Addr(), "station-sub", true, nil)
	subscribe(t, sub, topics.Event(), rec.handle)

	q := newQueue()
	cfg := config(t, p.Addr())
	cfg.Window = window
	s := uplink.New(cfg, q, nil, nil, testLogger(t))
	run(t, s)
	stopChaos := p.Chaos(200*time.Millisecond, 2*time.Second)

	// Trickle the events in over ~4 s so the random cuts land mid-stream.
	tick := time.NewTicker(100 * time.Millisecond)
	for added := 0; added < total; added += 250 {
		q.Add(250)
		<-tick.C
	}
	tick.Stop()
	devtest.WaitFor(t, 40*time.Second, "all events", func() bool { return rec.count() == total && q.Len() == 0 })
	stopChaos()

	rec.check(t, total)
	cuts := p.Cuts()
	rec.mu.Lock()
	dups := rec.dups
	rec.mu.Unlock()
	t.Logf("cuts %d, duplicates %d, state %+v", cuts, dups, s.State())
	if cuts == 0 {
		t.Fatal("no cut happened; the test proved nothing")
	}
	if dups > window*cuts {
		t.Errorf("%d duplicates > window %d × %d cuts", dups, window, cuts)
	}
	if s.State().Reconnects == 0 {
		t.Error("no reconnect counted")
	}
}

func statusWatcher(t *testing.T, addr, id string) (<-chan wire.Status, <-chan bool) {
	ch := make(chan wire.Status, 16)
	ret := make(chan bool, 16)
	c := client(t, addr, id, true, nil)
	subscribe(t, c, topics.Status(), func(_ mqtt.Client, m mqtt.Message) {
		var st wire.Status
		if err := json.Unmarshal(m.Payload(), &st); err != nil {
			t.Errorf("status %q: %v", m.Payload(), err)
			return
		}
		ch <- st
		ret <- m.Retained()
	})
	return ch, ret
}

func nextStatus(t *testing.T, ch <-chan wire.Status, online bool) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case st := <-ch:
			if st.Boot != "boot-1" {
				t.Fatalf("status boot %q", st.Boot)
			}
			if st.Online == online {
				if online && (st.Version != "test" || st.Epoch != "00112233aabbccdd") {
					t.Errorf("birth without version or epoch: %+v", st)
				}
				return
			}
		case <-timeout:
			t.Fatalf("no status online=%v", online)
		}
	}
}

func TestWillAndBirth(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	p := mqtttest.NewProxy(t, b.Addr())
	live, _ := statusWatcher(t, b.Addr(), "watch-live")

	s := uplink.New(config(t, p.Addr()), newQueue(), nil, nil, testLogger(t))
	stop := run(t, s)
	nextStatus(t, live, true)

	p.SetDown(true)
	p.Cut()
	nextStatus(t, live, false) // the will, sent by the broker
	later, retained := statusWatcher(t, b.Addr(), "watch-late")
	nextStatus(t, later, false)
	if !<-retained {
		t.Error("offline status not retained")
	}

	p.SetDown(false)
	nextStatus(t, live, true)
	devtest.WaitFor(t, 5*time.Second, "reconnect counted", func() bool { return s.State().Reconnects >= 1 })

	stop() // clean stop publishes offline itself
	nextStatus(t, live, false)
}

func TestCommands(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	rec := newRecorder()
	station := client(t, b.Addr(), "station", true, nil)
	subscribe(t, station, topics.Event(), rec.handle)
	replies := make(chan mqtt.Message, 16)
	subscribe(t, station, topics.Base()+"reply/#", func(_ mqtt.Client, m mqtt.Message) { replies <- m })

	r := uplink.NewRouter()
	r.Handle("output", func(_ context.Context, args json.RawMessage) (any, error) {
		var a struct {
			Name    string `json:"name"`
			On      bool   `json:"on"`
			Seconds int    `json:"seconds"`
		}
		if err := uplink.DecodeArgs(args, &a); err != nil {
			return nil, err
		}
		return map[string]any{"name": a.Name, "on": a.On}, nil
	})
	r.Handle("boom", func(context.Context, json.RawMessage) (any, error) { panic("kaboom") })
	r.Handle("fail", func(context.Context, json.RawMessage) (any, error) { return nil, fmt.Errorf("siren not wired") })
	r.Handle("refuse", func(context.Context, json.RawMessage) (any, error) {
		return nil, fmt.Errorf("arm: %w", refusal{[]string{"gate-door"}})
	})

	q := newQueue()
	tele := func() wire.Telemetry { return wire.Telemetry{UptimeS: 1, Cameras: map[string]string{"gate-cam": "up"}} }
	s := uplink.New(config(t, b.Addr()), q, r, tele, testLogger(t))
	run(t, s)
	devtest.WaitFor(t, 10*time.Second, "connected", func() bool { return s.State().Connected })

	cases := []struct {
		cmd, payload, replyTo string
		ok                    bool
		want                  string // substring of the reply
	}{
		{"ping", `{"id":"p1"}`, "p1", true, `"pong":true`},
		{"status", `{"id":"s1"}`, "s1", true, `"state":{"connected":true`},
		{"status", `{"id":"s2"}`, "s2", true, `"gate-cam":"up"`},
		{"nope", `{"id":"u1"}`, "u1", false, `unknown command \"nope\"`},
		{"ping", `{"id":"b1",`, "_", false, "bad JSON"},
		{"ping", `[1,2]`, "_", false, "must be a JSON object"},
		{"ping", `null`, "_", false, "must be a JSON object"},
		{"ping", `{"x":1}`, "_", false, `missing \"id\"`},
		{"ping", `{"id":5}`, "_", false, `\"id\" must be a string`},
		{"ping", `{"id":""}`, "_", false, `\"id\" is empty`},
		{"ping", `{"id":"a/b"}`, "_", false, `must not contain`},
		{"output", `{"id":"o1","name":"siren","on":"yes"}`, "o1", false, `argument \"on\"`},
		{"output", `{"id":"o2","name":"siren","colour":1}`, "o2", false, `unknown argument \"colour\"`},
		{"output", `{"id":"o3","name":"siren","on":true,"seconds":5}`, "o3", true, `"name":"siren"`},
		{"boom", `{"id":"x1"}`, "x1", false, "panic: kaboom"},
		{"fail", `{"id":"f1"}`, "f1", false, "siren not wired"},
		{"refuse", `{"id":"r1"}`, "r1", false, `"open":["gate-door"]`},
		{"status", `{"id":"s3","verbose":true}`, "s3", false, `unknown argument \"verbose\"`},
	}
	added := 0
	for _, c := range cases {
		q.Add(20) // events keep flowing meanwhile
		added += 20
		tok := station.Publish(topics.Cmd(c.cmd), 1, false, c.payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", c.cmd, tok.Error())
		}
		select {
		case m := <-replies:
			var rep struct {
				OK bool `json:"ok"`
			}
			body := string(m.Payload())
			if err := json.Unmarshal(m.Payload(), &rep); err != nil {
				t.Errorf("%s %s: reply %q: %v", c.cmd, c.payload, body, err)
				continue
			}
			if m.Topic() != topics.Reply(c.replyTo) || rep.OK != c.ok || !contains(body, c.want) {
				t.Errorf("%s %s: got %s %s; want topic %s ok=%v containing %s", c.cmd, c.payload, m.Topic(), body, topics.Reply(c.replyTo), c.ok, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s %s: no reply", c.cmd, c.payload)
		}
	}
	devtest.WaitFor(t, 20*time.Second, "events", func() bool { return rec.count() == added })
	rec.check(t, added)
	if st := s.State(); st.Commands != uint64(len(cases)) {
		t.Errorf("commands counted %d, want %d", st.Commands, len(cases))
	}
}

// refusal is a DataError, as an arming refused with sensors open is.
type refusal struct{ open []string }

func (e refusal) Error() string  { return "open: " + e.open[0] }
func (e refusal) ReplyData() any { return map[string]any{"open": e.open} }

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestTelemetry(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	got := make(chan []byte, 4)
	c := client(t, b.Addr(), "station", true, nil)
	subscribe(t, c, topics.Telemetry(), func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m.Payload():
		default:
		}
	})
	tele := func() wire.Telemetry { return wire.Telemetry{UptimeS: 42, Viewers: 1} }
	run(t, uplink.New(config(t, b.Addr()), newQueue(), nil, tele, testLogger(t)))
	select {
	case p := <-got:
		var tm wire.Telemetry
		if err := json.Unmarshal(p, &tm); err != nil || tm.UptimeS != 42 || tm.Viewers != 1 {
			t.Errorf("telemetry %s: %v", p, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no telemetry")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	u, _ := url.Parse("http://example.invalid")
	for _, cfg := range []uplink.Config{
		{Gateway: gw},
		{Broker: u, Gateway: gw},
		{Broker: &url.URL{Scheme: "mqtt", Host: "127.0.0.1:1"}, Gateway: "Bad/Id"},
	} {
		if err := uplink.New(cfg, newQueue(), nil, nil, nil).Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) accepted a bad config", cfg)
		}
	}
}
