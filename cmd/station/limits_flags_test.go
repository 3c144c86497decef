package main

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/antt-gateway/antt/device/devtest"
)

// TestRunBrokerLimitFlags: the embedded broker's limit flags reach it. With
// -connect-timeout 300ms an idle socket is closed then; with -max-clients
// 1 a second client is refused (server unavailable) while the station's
// own console stays subscribed; a bad value stops the station with the
// flag's problem named.
func TestRunBrokerLimitFlags(t *testing.T) {
	var stderr devtest.Buffer
	if code := run(context.Background(), []string{"-listen", "127.0.0.1:0", "-data", t.TempDir(), "-max-clients", "-3"},
		nil, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), "max clients is negative") {
		t.Fatalf("-max-clients -3: exit %d:\n%s", code, stderr.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	out := new(devtest.Buffer)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "st"),
			"-connect-timeout", "300ms", "-max-clients", "1"}, nil, io.Discard, out)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("station: exit %d:\n%s", code, out.String())
		}
	})
	addr := out.WaitMatch(t, waitLimit, regexp.MustCompile(`station: broker listening on (\S+)`))
	out.WaitContains(t, waitLimit, "station: subscribed")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(start.Add(waitLimit))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle socket: %v after %v, want it closed", err, time.Since(start))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("idle socket closed after %v with -connect-timeout 300ms", took)
	}

	dial := func(id string) error {
		cl := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetAutoReconnect(false))
		tok := cl.Connect()
		if !tok.WaitTimeout(waitLimit) {
			return errors.New("connect timed out")
		}
		if tok.Error() == nil {
			t.Cleanup(func() { cl.Disconnect(0) })
		}
		return tok.Error()
	}
	if err := dial("cong-khu-3"); err != nil {
		t.Fatalf("first client: %v", err)
	}
	if err := dial("truong-thcs"); !errors.Is(err, packets.ErrorRefusedServerUnavailable) {
		t.Fatalf("second client with -max-clients 1: %v, want server unavailable", err)
	}
}
