package mqtttest_test

import (
	"net"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/mqtttest"
)

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func TestBrokerStopRestartSamePort(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persistence: true})
	addr := b.Addr()
	b.Stop()
	if dial(addr) == nil {
		t.Fatal("stopped broker still accepts")
	}
	b.Restart()
	if b.Addr() != addr {
		t.Fatalf("port changed: %s → %s", addr, b.Addr())
	}
	if err := dial(addr); err != nil {
		t.Fatalf("restarted broker: %v", err)
	}
}

func TestProxyCutAndDown(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	p := mqtttest.NewProxy(t, b.Addr())
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The proxy registers the pair after dialing the broker: wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for p.Cut() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("connection never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after cut succeeded")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("cut did not close the client side")
	}
	if p.Cuts() != 1 {
		t.Errorf("Cuts = %d", p.Cuts())
	}
	p.SetDown(true)
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatal("down proxy forwarded")
	}
}

func TestTLSBrokerStarts(t *testing.T) {
	certs := mqtttest.NewCerts(t, "cong-khu-3")
	b := mqtttest.Start(t, mqtttest.Options{TLS: certs.ServerTLS(true)})
	if b.URL() != "mqtts://"+b.Addr() {
		t.Errorf("URL %s", b.URL())
	}
}
