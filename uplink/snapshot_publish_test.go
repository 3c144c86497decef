package uplink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// snapQueue is an in-memory uplink.Queue whose messages may carry
// attachments.
type snapQueue struct {
	mu     sync.Mutex
	msgs   []uplink.Message
	notify chan struct{}
	peeked []int64 // bytes each Peek returned
}

func (q *snapQueue) Peek(after uint64, max int, maxBytes int64) ([]uplink.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []uplink.Message
	var n int64
	for _, m := range q.msgs {
		if m.Seq > after && len(out) < max && (len(out) == 0 || n < maxBytes) {
			out = append(out, m)
			n += int64(len(m.Payload) + len(m.Attachment))
		}
	}
	q.peeked = append(q.peeked, n)
	return out, nil
}

func (q *snapQueue) Ack(seqs ...uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range seqs {
		for i, m := range q.msgs {
			if m.Seq == s {
				q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
				break
			}
		}
	}
	return nil
}

func (q *snapQueue) Notify() <-chan struct{} { return q.notify }

func (q *snapQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// TestSnapshotPublishedAfterItsEvent checks that an attachment goes out on
// snapshot/{seq}, byte for byte, after its event, and that the message is
// acked once both are delivered.
func TestSnapshotPublishedAfterItsEvent(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	tp := wire.Topics{Prefix: "antt", Gateway: "snap-gw"}
	jpeg := append([]byte{0xFF, 0xD8, 0xFF}, bytes.Repeat([]byte("snapshot"), 5000)...)
	q := &snapQueue{notify: make(chan struct{}, 1)}
	for seq := uint64(1); seq <= 3; seq++ {
		ev, _ := json.Marshal(wire.Event{Seq: seq, Kind: wire.KindMotion})
		m := uplink.Message{Seq: seq, Payload: ev}
		if seq >= 2 {
			m.Attachment = append([]byte{byte(seq)}, jpeg...)
		}
		q.msgs = append(q.msgs, m)
	}

	var mu sync.Mutex
	var got []mqtt.Message
	record := func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("snap-station").SetAutoReconnect(false)
	sub := mqtt.NewClient(o)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(tp.Base()+"#", 1, record); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	u, _ := url.Parse("mqtt://" + b.Addr())
	cfg := uplink.Config{Broker: u, Gateway: tp.Gateway, KeepAlive: 5 * time.Second,
		TelemetryInterval: time.Hour, ConnectTimeout: 3 * time.Second, Version: "test", Boot: "boot-1", Started: time.Now()}
	cfg.Backoff.Min, cfg.Backoff.Max = 10*time.Millisecond, 100*time.Millisecond
	s := uplink.New(cfg, q, nil, nil, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	var order []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		order = order[:0]
		snaps := map[string][]byte{}
		for _, m := range got {
			switch {
			case m.Topic() == tp.Event():
				var e wire.Event
				if err := json.Unmarshal(m.Payload(), &e); err != nil {
					t.Fatal(err)
				}
				order = append(order, "event/"+string(rune('0'+e.Seq)))
			case strings.HasPrefix(m.Topic(), tp.Base()+wire.TopicSnapshot+"/"):
				order = append(order, strings.TrimPrefix(m.Topic(), tp.Base()))
				snaps[m.Topic()] = m.Payload()
			}
		}
		mu.Unlock()
		if len(order) == 5 && q.len() == 0 {
			for seq := uint64(2); seq <= 3; seq++ {
				if want := append([]byte{byte(seq)}, jpeg...); !bytes.Equal(snaps[tp.Snapshot(seq)], want) {
					t.Fatalf("snapshot %d: %d bytes, not the attachment", seq, len(snaps[tp.Snapshot(seq)]))
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: saw %v, %d not acked", order, q.len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := "event/1 event/2 snapshot/2 event/3 snapshot/3"
	if strings.Join(order, " ") != want {
		t.Fatalf("order %v, want %s", order, want)
	}
}

// TestReadAheadBoundedInBytes: a backlog of large snapshots is read ahead a
// bounded number of bytes at a time, not 256 snapshots at once, and still
// drains completely.
func TestReadAheadBoundedInBytes(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	const snap = 300 << 10
	q := &snapQueue{notify: make(chan struct{}, 1)}
	for seq := uint64(1); seq <= 30; seq++ {
		ev, _ := json.Marshal(wire.Event{Seq: seq, Kind: wire.KindMotion})
		q.msgs = append(q.msgs, uplink.Message{Seq: seq, Payload: ev, Attachment: bytes.Repeat([]byte{byte(seq)}, snap)})
	}
	u, _ := url.Parse("mqtt://" + b.Addr())
	cfg := uplink.Config{Broker: u, Gateway: "snap-gw", KeepAlive: 5 * time.Second,
		TelemetryInterval: time.Hour, ConnectTimeout: 3 * time.Second, Version: "test", Boot: "boot-1", Started: time.Now()}
	cfg.Backoff.Min, cfg.Backoff.Max = 10*time.Millisecond, 100*time.Millisecond
	s := uplink.New(cfg, q, nil, nil, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	devtest.WaitFor(t, 60*time.Second, "the snapshot backlog drained", func() bool { return q.len() == 0 })
	q.mu.Lock()
	defer q.mu.Unlock()
	var most int64
	for _, n := range q.peeked {
		most = max(most, n)
	}
	// One message past the bound at most: the bound is checked before each.
	if most > 1<<20+snap+1024 || len(q.peeked) < 4 {
		t.Fatalf("largest read-ahead %d bytes over %d peeks, want at most 1 MiB and one snapshot", most, len(q.peeked))
	}
}
