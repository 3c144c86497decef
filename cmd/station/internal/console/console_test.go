package console

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

const wait = 5 * time.Second

type station struct {
	addr   string
	log    *store.Store
	out    *devtest.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startStation opens a store, runs an open embedded broker on loopback
// that stores into it, and a console on both, and waits until the console
// has subscribed.
func startStation(t *testing.T) *station {
	t.Helper()
	l, err := store.Open(filepath.Join(t.TempDir(), "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{Listen: "127.0.0.1:0", Ingest: broker.StoreIngester(l)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := b.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{}, 10)
	s := &station{addr: addr, log: l, out: new(devtest.Buffer), cancel: cancel, done: make(chan error, 1)}
	c, err := New(Config{Dial: b.Dial, Store: l, Out: s.out, Ready: func() { ready <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-s.done; err != nil {
			t.Error(err)
		}
		b.Wait()
		l.Close()
	})
	select {
	case <-ready:
	case <-time.After(wait):
		t.Fatal("console did not subscribe")
	}
	return s
}

func gateway(t *testing.T, addr, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://"+addr).SetClientID(id).SetUsername(id).
		SetWill("antt/"+id+"/status", `{"online":false,"boot":"b1"}`, 1, true))
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, retain bool, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if tok := c.Publish(topic, qos, retain, b); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func event(gw string, seq uint64, kind string, attrs map[string]any) wire.Event {
	return wire.Event{Seq: seq, ID: wire.EventID(gw, seq), Kind: kind, Source: "gate-pir", State: wire.StateActive,
		Time: time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC), ClockSynced: true, Boot: "b1", Attrs: attrs}
}

func TestConsoleEndToEnd(t *testing.T) {
	s := startStation(t)
	gw := gateway(t, s.addr, "cong-khu-3")
	publish(t, gw, "antt/cong-khu-3/status", 1, true, wire.Status{Online: true, Boot: "b1", Version: "0.1.0"})
	s.out.WaitContains(t, wait, "cong-khu-3       online boot=b1 version=0.1.0")

	ev1 := event("cong-khu-3", 1, wire.KindMotion, nil)
	ev1.Test = true
	publish(t, gw, "antt/cong-khu-3/event", 1, false, ev1)
	publish(t, gw, "antt/cong-khu-3/event", 1, false, ev1) // duplicate: stored once, not printed
	publish(t, gw, "antt/cong-khu-3/event", 1, false, event("cong-khu-3", 5, wire.KindPanic, nil))
	publish(t, gw, "antt/cong-khu-3/event", 1, false,
		event("cong-khu-3", 9, wire.KindOutboxOverflow, map[string]any{"dropped": 3, "first_seq": 6, "last_seq": 8}))
	publish(t, gw, "antt/cong-khu-3/event", 1, false, event("cong-khu-3", 3, wire.KindContact, nil))
	s.out.WaitContains(t, wait,
		"2026-11-28 20:00:00 +07 cong-khu-3       #1      motion          source=gate-pir state=active TEST\n",
		"GAP seq 2-4 (3 events) UNEXPLAINED\n",
		"#5      panic",
		"GAP seq 6-8 (3 events) explained: outbox_overflow (event 9, 3 dropped)\n",
		"#3      contact         source=gate-pir state=active (late)\n",
	)
	if n := strings.Count(s.out.String(), "#1 "); n != 1 {
		t.Fatalf("event 1 printed %d times:\n%s", n, s.out.String())
	}
	c, _ := s.log.Counters("cong-khu-3")
	want := store.Counters{Received: 4, Duplicates: 1, GapsExplained: 1, GapsUnexplained: 2,
		MissingExplained: 3, MissingUnexplained: 2, MaxSeq: 9, Epochs: 1}
	if c != want {
		t.Fatalf("counters %+v, want %+v", c, want)
	}

	// Telemetry and replies.
	publish(t, gw, "antt/cong-khu-3/telemetry", 0, false, wire.Telemetry{UptimeS: 42})
	publish(t, gw, "antt/cong-khu-3/reply/r-7", 1, false, map[string]any{"id": "r-7", "ok": false, "error": "unknown command"})
	s.out.WaitContains(t, wait, "reply r-7 ok=false error=unknown command")
	// Telemetry came first on the same connection, and the console handles
	// messages in order: it is recorded by now.
	if st, _ := s.log.State("cong-khu-3"); st.Telemetry == nil || st.Telemetry.UptimeS != 42 || !st.Online() || st.LastSeq == 0 {
		t.Fatalf("state %+v", st)
	}

	// A forged event (id of another gateway) is refused, not stored.
	publish(t, gw, "antt/cong-khu-3/event", 1, false, event("truong-thcs", 10, wire.KindMotion, nil))
	publish(t, gw, "antt/cong-khu-3/event", 1, false, event("cong-khu-3", 10, wire.KindMotion, nil))
	s.out.WaitContains(t, wait, "cong-khu-3       #10 ")
	if gws, _ := s.log.Gateways(); len(gws) != 1 {
		t.Fatalf("gateways %v", gws)
	}

	// A clean stop publishes the offline form itself.
	publish(t, gw, "antt/cong-khu-3/status", 1, true, wire.Status{Online: false, Boot: "b1"})
	s.out.WaitContains(t, wait, "cong-khu-3       OFFLINE boot=b1")
}

func TestFormat(t *testing.T) {
	ev := event("g", 12, wire.KindTamper, nil)
	ev.ClockSynced = false
	ev.Source = "box\x1b[2J"
	ev.State = ""
	got := FormatEvent("g", ev, false, VietnamTime())
	want := "2026-11-28 20:00:00 +07? g                #12     tamper          source=box\\x1b[2J"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	g := FormatGap(store.Gap{Gateway: "g", First: 2, Last: 2}, false, time.UTC)
	if !strings.HasSuffix(g, " g                GAP seq 2-2 (1 events) UNEXPLAINED") {
		t.Fatalf("gap line %q", g)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	l, err := store.Open(filepath.Join(t.TempDir(), "e.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := New(Config{Store: l, Out: new(devtest.Buffer)}); err == nil {
		t.Fatal("config without a broker accepted")
	}
	c, err := New(Config{Store: l, Out: new(devtest.Buffer), Broker: "::bad"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("bad broker URL accepted")
	}
}

// Events published while the console is away are stored by the broker
// and printed when it is back, from where it stopped, in order, with no
// gap and nothing twice.
func TestEventsStoredWhileAway(t *testing.T) {
	l, err := store.Open(filepath.Join(t.TempDir(), "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := broker.New(broker.Options{Listen: "127.0.0.1:0", Ingest: broker.StoreIngester(l)})
	if err != nil {
		t.Fatal(err)
	}
	bctx, bcancel := context.WithCancel(context.Background())
	defer func() { bcancel(); b.Wait() }()
	addr, err := b.Start(bctx)
	if err != nil {
		t.Fatal(err)
	}
	out := new(devtest.Buffer)
	runConsole := func(from uint64) (stop func()) {
		ready := make(chan struct{}, 10)
		c, err := New(Config{Dial: b.Dial, Store: l, From: from, Out: out, Ready: func() { ready <- struct{}{} }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		select {
		case <-ready:
		case <-time.After(wait):
			t.Fatal("console did not subscribe")
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	stop := runConsole(0)
	gw := gateway(t, addr, "cong-khu-3")
	publish(t, gw, "antt/cong-khu-3/event", 1, false, event("cong-khu-3", 1, wire.KindMotion, nil))
	out.WaitContains(t, wait, "#1 ")
	stop()
	last, _ := l.LastArrival()

	const n = 40
	for seq := uint64(2); seq <= n; seq++ {
		publish(t, gw, "antt/cong-khu-3/event", 1, false, event("cong-khu-3", seq, wire.KindMotion, nil))
	}
	stop = runConsole(last)
	defer stop()
	out.WaitContains(t, wait, fmt.Sprintf("#%d ", n))
	if strings.Contains(out.String(), "GAP") || strings.Contains(out.String(), "(late)") || strings.Count(out.String(), "#1 ") != 1 {
		t.Fatalf("events out of order or printed twice:\n%s", out.String())
	}
	c, _ := l.Counters("cong-khu-3")
	if c.Received != n || c.GapsUnexplained != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// With a broker that does not store (as an external broker), the console
// stores events and snapshots itself and acknowledges them after the
// commit; snapshot and storage-replaced lines come from the store.
func TestIngestThroughConsole(t *testing.T) {
	l, err := store.Open(filepath.Join(t.TempDir(), "events.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := broker.New(broker.Options{Listen: "127.0.0.1:0"}) // no Ingest: stands for Mosquitto
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Wait() }()
	addr, err := b.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := new(devtest.Buffer)
	ready := make(chan struct{}, 10)
	c, err := New(Config{Dial: b.Dial, Store: l, Ingest: true, Out: out, Ready: func() { ready <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-ready:
	case <-time.After(wait):
		t.Fatal("console did not subscribe")
	}
	gw := gateway(t, addr, "cong-khu-3")
	e1 := event("cong-khu-3", 1, wire.KindMotion, nil)
	e1.Epoch = "aa01"
	publish(t, gw, "antt/cong-khu-3/event", 1, false, e1)
	if tok := gw.Publish("antt/cong-khu-3/snapshot/1", 1, false, []byte("\xff\xd8jpeg")); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("snapshot: %v", tok.Error())
	}
	e2 := event("cong-khu-3", 1, wire.KindBoot, nil)
	e2.Epoch = "bb02"
	publish(t, gw, "antt/cong-khu-3/event", 1, false, e2)
	publish(t, gw, "antt/cong-khu-3/event", 1, false, map[string]any{"seq": 2, "id": "someone-else/2"})
	out.WaitContains(t, wait,
		"#1      motion          source=gate-pir state=active epoch=aa01\n",
		"cong-khu-3       snapshot for seq 1 (6 bytes) epoch=aa01\n",
		`cong-khu-3       STORAGE REPLACED: epoch "aa01" ended at seq 1, now epoch "bb02" (seqs start again)`+"\n",
		"#1      boot            source=gate-pir state=active epoch=bb02\n",
	)
	if jpeg, ok, _ := l.Snapshot("cong-khu-3", "aa01", 1); !ok || string(jpeg) != "\xff\xd8jpeg" {
		t.Fatalf("snapshot stored %q %v", jpeg, ok)
	}
	if c, _ := l.Counters("cong-khu-3"); c.Received != 2 || c.Epochs != 2 {
		t.Fatalf("counters %+v", c)
	}
}
