package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// With Mosquitto as the broker, the station's persistent session is the
// path: events and snapshots published while the station is stopped are
// queued by Mosquitto and stored when it is back, each once.
func TestExternalBrokerStores(t *testing.T) {
	mq := mqtttest.Start(t, mqtttest.Options{})
	data := filepath.Join(t.TempDir(), "data")
	start := func() (stop func(), stdout *devtest.Buffer) {
		ctx, cancel := context.WithCancel(context.Background())
		stdout, stderr := new(devtest.Buffer), new(devtest.Buffer)
		done := make(chan int, 1)
		go func() { done <- run(ctx, []string{"-broker", mq.URL(), "-data", data}, nil, stdout, stderr) }()
		stderr.WaitContains(t, waitLimit, "station: store open "+data, "station: subscribed")
		return func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("station exit %d:\n%s", code, stderr.String())
			}
		}, stdout
	}
	gw := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + mq.Addr()).SetClientID("cong-khu-3"))
	if tok := gw.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	defer gw.Disconnect(0)
	pub := func(topic string, payload []byte) {
		t.Helper()
		if tok := gw.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	ev := func(seq uint64) []byte {
		b, _ := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID("cong-khu-3", seq), Epoch: "e7", Kind: wire.KindMotion, Time: time.Now()})
		return b
	}

	stop, out := start()
	pub("antt/cong-khu-3/event", ev(1))
	out.WaitMatch(t, waitLimit, regexp.MustCompile(`cong-khu-3 +#1 `))
	stop()

	const n = 30
	for seq := uint64(2); seq <= n; seq++ {
		pub("antt/cong-khu-3/event", ev(seq))
	}
	pub(fmt.Sprintf("antt/cong-khu-3/snapshot/%d", n), []byte("\xff\xd8 last"))
	stop, out = start()
	out.WaitMatch(t, waitLimit, regexp.MustCompile(`cong-khu-3 +snapshot for seq 30 `))
	stop()

	st, err := store.Open(filepath.Join(data, storeFile), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, _ := st.Counters("cong-khu-3")
	if c.Received != n || c.MaxSeq != n || c.GapsUnexplained != 0 || c.Snapshots != 1 {
		t.Fatalf("counters %+v", c)
	}
	if jpeg, ok, _ := st.Snapshot("cong-khu-3", "e7", n); !ok || string(jpeg) != "\xff\xd8 last" {
		t.Fatalf("snapshot %q %v", jpeg, ok)
	}
}
