package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/antt-gateway/antt/device/devtest"
)

// An error after the embedded broker has started (here the web console's
// options) makes the station exit with it. It used to wait for the broker,
// which stops only when the station's context ends, so the station hung
// with its listener open instead of exiting.
func TestStartupErrorAfterBrokerExits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := new(devtest.Buffer)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "data"),
			"-http", "127.0.0.1:0", "-http-cert", "cert.pem"}, nil, new(devtest.Buffer), stderr)
	}()
	stderr.WaitContains(t, waitLimit, "station: broker listening on")
	var code int
	devtest.WaitFor(t, waitLimit, "the station to exit on the start-up error", func() bool {
		select {
		case code = <-done:
			return true
		default:
			return false
		}
	})
	if code == 0 {
		t.Fatalf("exit 0 on a start-up error; stderr:\n%s", stderr.String())
	}
	stderr.WaitContains(t, waitLimit, "-http-cert")
}
