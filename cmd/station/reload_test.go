package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device/devtest"
)

// TestReloadOnHangup: station A's embedded broker refuses station B (an
// external-broker console whose user has the gateway role) its
// subscriptions; B keeps asking. Fixing A's access file and sending SIGHUP
// lets B subscribe without reconnecting, disconnects a gateway whose user
// was removed, and a broken file changes nothing.
func TestReloadOnHangup(t *testing.T) {
	dir := t.TempDir()
	pw, access := filepath.Join(dir, "passwd"), filepath.Join(dir, "access")
	for user, secret := range map[string]string{"cong-khu-3": "gw-secret", "ops": "ops-secret"} {
		if code := run(context.Background(), []string{"passwd", "-file", pw, "-iter", "1000", user},
			strings.NewReader(secret+"\n"), nil, new(devtest.Buffer)); code != 0 {
			t.Fatalf("passwd %s: %d", user, code)
		}
	}
	writeFile := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(access, "gateway cong-khu-3\ngateway ops\n") // ops lacks the station role
	if err := os.WriteFile(filepath.Join(dir, "ops.pw"), []byte("ops-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	start := func(args ...string) *devtest.Buffer {
		ctx, cancel := context.WithCancel(context.Background())
		stderr := new(devtest.Buffer)
		done := make(chan int, 1)
		go func() { done <- run(ctx, args, nil, new(devtest.Buffer), stderr) }()
		t.Cleanup(func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("station %v: exit %d:\n%s", args, code, stderr.String())
			}
		})
		return stderr
	}
	a := start("-listen", "127.0.0.1:0", "-passwd", pw, "-access", access, "-data", filepath.Join(dir, "a"))
	addr := a.WaitMatch(t, waitLimit, regexp.MustCompile(`station: broker listening on (\S+)`))
	a.WaitContains(t, waitLimit, "station: subscribed")

	gw := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("cong-khu-3").
		SetUsername("cong-khu-3").SetPassword("gw-secret").SetAutoReconnect(false))
	if tok := gw.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	defer gw.Disconnect(0)

	b := start("-broker", "mqtt://"+addr, "-username", "ops", "-password-file", filepath.Join(dir, "ops.pw"),
		"-client-id", "ops", "-data", filepath.Join(dir, "b")) // with the gateway role, its id must be its gateway id
	b.WaitContains(t, waitLimit, "antt/+/event (code 0x80)") // among the refused filters, clip chunks first

	hangup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	// A broken access file: A says so and keeps the old users.
	writeFile(access, "gateway cong-khu-3\nstation\n")
	hangup()
	a.WaitMatch(t, waitLimit, regexp.MustCompile(`station: (reload: access file \S+: line 2: .*previous users stay in force)`))
	if !gw.IsConnectionOpen() {
		t.Fatal("a failed reload disconnected the gateway")
	}

	// Fixed: ops becomes the station role, cong-khu-3 is removed.
	writeFile(access, "station ops\n")
	hangup()
	a.WaitContains(t, waitLimit, "station: users reloaded")
	b.WaitContains(t, waitLimit, "station: subscribed")
	if n := strings.Count(b.String(), "station: subscribed"); n != 1 {
		t.Errorf("B subscribed %d times", n)
	}
	devtest.WaitFor(t, 10*time.Second, "the removed gateway user to be disconnected", func() bool { return !gw.IsConnectionOpen() })
	again := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("cong-khu-3").
		SetUsername("cong-khu-3").SetPassword("gw-secret"))
	if tok := again.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() == nil {
		again.Disconnect(0)
		t.Fatal("a removed user could connect again")
	}
}
