package outbox_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The gateway's path for one event: append (durable on return), the uplink
// peeks and publishes, and acks once the broker has acknowledged it.
func Example() {
	dir, err := os.MkdirTemp("", "outbox-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Options{Gateway: "cong-khu-3", Boot: "b1"})
	if err != nil {
		log.Fatal(err)
	}
	defer ob.Close()

	e := &wire.Event{Kind: wire.KindMotion, Source: "gate-pir", State: wire.StateActive, Time: time.Now()}
	if _, err := ob.Append(context.Background(), e); err != nil {
		log.Fatal(err)
	}
	fmt.Println("captured", e.ID)

	recs, err := ob.Peek(0, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range recs {
		// publish r.Data at QoS 1 on the event topic, wait for PUBACK ...
		if err := ob.Ack(r.Seq); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("depth", ob.Stats().Depth)
	// Output:
	// captured cong-khu-3/1
	// depth 0
}
