package console

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device/devtest"
)

// Command goes out on {prefix}/{gw}/cmd/{name} with a request id and the
// caller's arguments, and returns the gateway's reply on reply/{id}
// through the embedded broker; a gateway that does not answer is
// ErrNoReply when the context ends.
func TestCommandReply(t *testing.T) {
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
	c, err := New(Config{Dial: b.Dial, Store: l, Out: new(devtest.Buffer), Ready: func() { ready <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
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

	gw := gateway(t, addr, "cong-khu-3")
	got := make(chan map[string]any, 4)
	tok := gw.Subscribe("antt/cong-khu-3/cmd/#", 1, func(cl paho.Client, m paho.Message) {
		var a map[string]any
		if err := json.Unmarshal(m.Payload(), &a); err != nil {
			t.Errorf("command payload: %v", err)
			return
		}
		a["topic"] = m.Topic()
		got <- a
		if a["mode"] == "night" { // a refused arming names the open sensors
			publish(t, cl, "antt/cong-khu-3/reply/"+a["id"].(string), 1, false,
				map[string]any{"id": a["id"], "ok": false, "error": "sensors open", "open": []string{"cong-truong"}})
		}
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	cctx, ccancel := context.WithTimeout(context.Background(), wait)
	defer ccancel()
	reply, err := c.Command(cctx, "cong-khu-3", "arm", map[string]any{"mode": "night", "user": "tuan"})
	if err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a["topic"] != "antt/cong-khu-3/cmd/arm" || a["user"] != "tuan" || a["mode"] != "night" || a["id"] == "" {
		t.Fatalf("command as published: %v", a)
	}
	var r struct {
		ID   string   `json:"id"`
		OK   bool     `json:"ok"`
		Open []string `json:"open"`
	}
	if err := json.Unmarshal(reply, &r); err != nil || r.ID != a["id"] || r.OK || len(r.Open) != 1 || r.Open[0] != "cong-truong" {
		t.Fatalf("reply %s (%v)", reply, err)
	}

	// No answer (silence is not answered by this stand-in gateway).
	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	if _, err := c.Command(sctx, "cong-khu-3", "silence", map[string]any{"user": "tuan"}); !errors.Is(err, ErrNoReply) {
		t.Fatalf("unanswered command: %v, want ErrNoReply", err)
	}
	if a := <-got; a["topic"] != "antt/cong-khu-3/cmd/silence" {
		t.Fatalf("silence as published: %v", a)
	}
}
