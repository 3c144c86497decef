package uplink_test

import (
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
)

// A session that cannot reach its broker is still making progress: its
// reconnect loop, and the backoff wait inside it, stamp LastLoop.
func TestLastLoopWhileRetrying(t *testing.T) {
	cfg := config(t, "127.0.0.1:1")
	// One long backoff: only the wait's own beat can move LastLoop.
	cfg.Backoff.Min, cfg.Backoff.Max = time.Hour, time.Hour
	s := uplink.New(cfg, newQueue(), nil, nil, testLogger(t))
	if !s.LastLoop().IsZero() {
		t.Fatal("LastLoop set before Run")
	}
	run(t, s)
	devtest.WaitFor(t, 10*time.Second, "the connection to be refused", func() bool { return s.State().LastError != "" })
	first := s.LastLoop()
	devtest.WaitFor(t, 10*time.Second, "LastLoop to advance during the backoff", func() bool { return s.LastLoop().After(first) })
	if d := time.Since(s.LastLoop()); d < 0 || d > s.MaxLoopGap() {
		t.Errorf("LastLoop %s ago, want within %s", d, s.MaxLoopGap())
	}
}

func TestLastLoopPublisher(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	q := newQueue()
	s := uplink.New(config(t, b.Addr()), q, nil, nil, testLogger(t))
	run(t, s)
	devtest.WaitFor(t, 10*time.Second, "connected", func() bool { return s.State().Connected })
	before := s.LastLoop()
	q.Add(1)
	devtest.WaitFor(t, 10*time.Second, "the event acked", func() bool { return q.Len() == 0 })
	if !s.LastLoop().After(before) {
		t.Errorf("LastLoop %v did not move past %v while publishing", s.LastLoop(), before)
	}
}

func TestMaxLoopGap(t *testing.T) {
	// Defaults: keepalive 30s, so the idle publisher goes round every 30s,
	// and a lost connection takes up to the 10s connect timeout.
	s := uplink.New(uplink.Config{}, newQueue(), nil, nil, nil)
	if got := s.MaxLoopGap(); got != 40*time.Second {
		t.Errorf("default MaxLoopGap = %s, want 40s", got)
	}
	cfg := uplink.Config{ConnectTimeout: 20 * time.Second, KeepAlive: 5 * time.Second}
	// A given-up connect: 2×20s + 6s beats 10s idle + 20s.
	if got := uplink.New(cfg, newQueue(), nil, nil, nil).MaxLoopGap(); got != 46*time.Second {
		t.Errorf("MaxLoopGap = %s, want 46s", got)
	}
}
