package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// `gateway outbox dump|stats` read a stopped gateway's file directly.
func TestOutboxCommandsFromFile(t *testing.T) {
	dir := t.TempDir()
	ob, err := outbox.Open(filepath.Join(dir, device.OutboxFile), outbox.Options{Gateway: "cong-khu-3"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := ob.Append(context.Background(), &wire.Event{Kind: wire.KindMotion, Source: "pir"}); err != nil {
			t.Fatal(err)
		}
	}
	epoch := ob.Epoch()
	ob.Close()

	var out, errb bytes.Buffer
	if code := run([]string{"outbox", "dump", "-data", dir}, &out, &errb); code != 0 {
		t.Fatalf("dump: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("dump printed %d lines, want 3:\n%s", len(lines), out.String())
	}
	for i, l := range lines {
		var e wire.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Seq != uint64(i+1) || e.ID != wire.EventID("cong-khu-3", e.Seq) {
			t.Errorf("line %d %q: %+v %v", i, l, e, err)
		}
	}
	out.Reset()
	if code := run([]string{"outbox", "stats", "-data", dir}, &out, &errb); code != 0 {
		t.Fatalf("stats: exit %d: %s", code, errb.String())
	}
	var st wire.OutboxStats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Depth != 3 || st.NextSeq != 4 || st.Epoch != epoch || !wire.ValidEpoch(epoch) {
		t.Fatalf("stats %q: %+v %v (epoch %q)", out.String(), st, err, epoch)
	}

	errb.Reset()
	if code := run([]string{"outbox", "dump", "-data", filepath.Join(dir, "missing")}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "missing") {
		t.Errorf("dump of a missing outbox: exit %d, %q", code, errb.String())
	}
	if code := run([]string{"outbox", "frob"}, &out, &errb); code != exitUsage {
		t.Errorf("outbox frob: exit %d", code)
	}
}

// While the gateway runs it holds the file's lock: the same commands go
// through its local API.
func TestOutboxCommandsThroughAPI(t *testing.T) {
	dir := t.TempDir()
	api := devtest.FreeAddr(t)
	cfg := gwConfig{ID: "cong-khu-3", DataDir: filepath.Join(dir, "data"), Broker: "mqtt://127.0.0.1:1", API: api}.write(t, dir)
	gw := startGateway(t, cfg, api)
	client := newHTTPClient()
	seq := walktest(client, api, "pir")
	if seq == 0 {
		t.Fatal("walk test failed")
	}
	var out, errb bytes.Buffer
	if code := run([]string{"outbox", "dump", "-config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("dump: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"id":"`+wire.EventID("cong-khu-3", seq)+`"`) {
		t.Errorf("dump through the API lacks seq %d:\n%s", seq, out.String())
	}
	out.Reset()
	if code := run([]string{"outbox", "stats", "-config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("stats: exit %d: %s", code, errb.String())
	}
	var st wire.OutboxStats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Depth < 2 || !wire.ValidEpoch(st.Epoch) || st.Bound <= 0 || st.Bound > st.MaxBytes {
		t.Fatalf("stats %q: %+v %v", out.String(), st, err)
	}
	gw.stop(t)
}
