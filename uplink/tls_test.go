package uplink_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
)

func TestMQTTSWithClientCert(t *testing.T) {
	certs := mqtttest.NewCerts(t, gw)
	b := mqtttest.Start(t, mqtttest.Options{TLS: certs.ServerTLS(true)})
	tc, err := uplink.TLSConfig(certs.CA, certs.ClientCert, certs.ClientKey, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(t, b.Addr())
	cfg.Broker, _ = url.Parse(b.URL())
	cfg.TLS = tc
	q := newQueue()
	q.Add(100)
	s := uplink.New(cfg, q, nil, nil, testLogger(t))
	run(t, s)
	devtest.WaitFor(t, 10*time.Second, "queue drained over TLS", func() bool { return q.Len() == 0 })

	// Without a client certificate the broker refuses us.
	tc2, err := uplink.TLSConfig(certs.CA, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLS = tc2
	s2 := uplink.New(cfg, newQueue(), nil, nil, testLogger(t))
	run(t, s2)
	devtest.WaitFor(t, 10*time.Second, "refused", func() bool { return s2.State().LastError != "" })
	if s2.State().Connected {
		t.Error("connected without a client certificate")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	if _, err := uplink.TLSConfig("/nonexistent/ca.pem", "", "", ""); err == nil {
		t.Error("missing CA accepted")
	}
	if _, err := uplink.TLSConfig("", "cert.pem", "", ""); err == nil {
		t.Error("cert without key accepted")
	}
}
