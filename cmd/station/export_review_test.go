package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
)

// TestVerifyExportSaysWhenKeyUnchecked: without -data, verify-export
// checks an export against the key its own manifest names, which anyone
// can make: a wholly forged export then verifies. The OK line must then
// say the key was not checked, so nobody takes it for the station's word;
// with -data it says nothing of the kind.
func TestVerifyExportSaysWhenKeyUnchecked(t *testing.T) {
	forger := t.TempDir()
	key, err := clips.LoadOrCreateKey(forger)
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	if _, err := (clips.Exporter{Events: oneEventStore{}, Key: key}).Write(&zb, "VV-forged", []clips.EventRef{{Gateway: "gw1", Epoch: "e1", Seq: 1}}, "web:tuan", time.Now()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "forged.zip")
	if err := os.WriteFile(p, zb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"verify-export", p}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "NOT CHECKED") || !strings.Contains(out.String(), "-data") {
		t.Errorf("a self-signed export verified without a word that its key was not checked:\n%s", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"verify-export", "-data", forger, p}, nil, &out, &errb); code != 0 || strings.Contains(out.String(), "NOT CHECKED") {
		t.Errorf("with -data: exit %d\n%s", code, out.String())
	}
}
