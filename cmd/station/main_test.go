package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// waitLimit bounds each wait for output the station is sure to print.
const waitLimit = 10 * time.Second

func TestRunWithPasswords(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"passwd", "-file", pw, "-iter", "1000", "cong-khu-3"},
		strings.NewReader("gw-secret\n"), io.Discard, &errOut); code != 0 {
		t.Fatalf("passwd: %d %s", code, errOut.String())
	}
	if code := run(context.Background(), []string{"passwd", "-file", pw, "cong-khu-3"}, strings.NewReader(""), io.Discard, io.Discard); code == 0 {
		t.Fatal("empty password accepted")
	}

	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := new(devtest.Buffer), new(devtest.Buffer)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-passwd", pw, "-data", filepath.Join(dir, "data")}, nil, stdout, stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d; stderr:\n%s", code, stderr.String())
		}
	}()
	addr := stderr.WaitMatch(t, waitLimit, regexp.MustCompile(`station: broker listening on (\S+)`))
	stderr.WaitContains(t, waitLimit, "station: subscribed")

	gw := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("cong-khu-3").
		SetUsername("cong-khu-3").SetPassword("gw-secret"))
	if tok := gw.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	defer gw.Disconnect(0)
	b, _ := json.Marshal(wire.Event{Seq: 2, ID: "cong-khu-3/2", Kind: wire.KindMotion, Source: "gate-pir",
		State: wire.StateActive, Time: time.Now(), ClockSynced: true})
	if tok := gw.Publish("antt/cong-khu-3/event", 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	stdout.WaitMatch(t, waitLimit, regexp.MustCompile(`cong-khu-3 +GAP seq 1-1 \(1 events\) UNEXPLAINED`))
	stdout.WaitMatch(t, waitLimit, regexp.MustCompile(`cong-khu-3 +#2 +motion +source=gate-pir state=active`))
}

func TestRunRefusesOpenBrokerOnAllInterfaces(t *testing.T) {
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"-listen", ":0", "-data", t.TempDir()}, nil, io.Discard, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "-insecure") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

func TestRunBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"-log-format", "xml", "-data", t.TempDir()},
		{"-listen", "127.0.0.1:0", "extra", "-data", t.TempDir()},
		{"passwd", "user"},
		{"-access", "x", "-listen", "127.0.0.1:0", "-data", t.TempDir()},
	} {
		if code := run(context.Background(), args, nil, io.Discard, io.Discard); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, nil, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "station ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}

func TestPasswdFromPipe(t *testing.T) {
	// stdin that is a file but not a terminal: one line, no prompt.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("p\n")
	w.Close()
	defer r.Close()
	pw := filepath.Join(t.TempDir(), "passwd")
	if code := run(context.Background(), []string{"passwd", "-file", pw, "-iter", "1000", "station"}, r, io.Discard, io.Discard); code != 0 {
		t.Fatal("passwd from a pipe failed")
	}
	e, err := broker.LoadPasswords(pw)
	if err != nil || len(e) != 1 || !e[0].Hash.Verify("p") {
		t.Fatalf("entries %+v %v", e, err)
	}
}
