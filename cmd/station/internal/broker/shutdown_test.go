package broker

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestShutdownWhileClientsComeAndGo stops the broker while clients keep
// connecting and leaving: it must always stop. (mochi v2.7.9's own way of
// disconnecting a listener's clients takes a read lock twice and deadlocks
// against a client being registered meanwhile; see disconnectListener.)
func TestShutdownWhileClientsComeAndGo(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 8
	}
	for round := range rounds {
		b, err := New(Options{Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		addr, err := b.Start(ctx)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		connected := make(chan struct{}, 64)
		for g := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).
						SetClientID("churn-" + string(rune('a'+g))).SetConnectTimeout(time.Second).SetAutoReconnect(false))
					if tok := c.Connect(); tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
						select {
						case connected <- struct{}{}:
						default:
						}
						c.Disconnect(0)
					}
				}
			})
		}
		<-connected // clients are churning
		cancel()
		stopped := make(chan struct{})
		go func() { b.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: the broker did not stop while clients came and went", round)
		}
		close(stop)
		wg.Wait()
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("round %d: still listening after stop", round)
		}
	}
}
