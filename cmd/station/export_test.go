package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
)

type oneEventStore struct{}

func (oneEventStore) Event(gw, epoch string, seq uint64) ([]byte, bool, error) {
	return []byte(`{"seq":1,"kind":"clip","attrs":{"clip":"c1"}}`), true, nil
}
func (oneEventStore) Snapshot(gw, epoch string, seq uint64) ([]byte, bool, error) {
	return []byte("jpeg"), true, nil
}

// station verify-export says OK for an export as signed, and names the
// file that was edited, removed, or the bad signature.
func TestVerifyExportCommand(t *testing.T) {
	data := t.TempDir()
	cs, err := clips.Open(data, clips.Options{})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("clip"), 1000)
	sum := sha256.Sum256(body)
	if err := cs.Announce(clips.Info{Gateway: "gw1", ID: "c1", Bytes: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Put("gw1", "c1", 0, body); err != nil {
		t.Fatal(err)
	}
	key, err := clips.LoadOrCreateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	if _, err := (clips.Exporter{Events: oneEventStore{}, Clips: cs, Key: key}).Write(&zb, "VV-1", []clips.EventRef{{Gateway: "gw1", Epoch: "e1", Seq: 1}}, "web:tuan", time.Now()); err != nil {
		t.Fatal(err)
	}
	cs.Close()
	dir := t.TempDir()
	write := func(name string, edit func(string, []byte) []byte) string {
		zr, _ := zip.NewReader(bytes.NewReader(zb.Bytes()), int64(zb.Len()))
		var out bytes.Buffer
		zw := zip.NewWriter(&out)
		for _, f := range zr.File {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if b = edit(f.Name, b); b != nil {
				w, _ := zw.Create(f.Name)
				w.Write(b)
			}
		}
		zw.Close()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verify := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"verify-export"}, args...), nil, &out, &errb)
		return code, out.String() + errb.String()
	}
	good := write("good.zip", func(_ string, b []byte) []byte { return b })
	if code, out := verify("-data", data, good); code != 0 || !strings.Contains(out, `OK `) || !strings.Contains(out, `case "VV-1"`) {
		t.Fatalf("good export: %d\n%s", code, out)
	}
	for name, tc := range map[string]struct {
		edit func(string, []byte) []byte
		want string
	}{
		"edited": {func(n string, b []byte) []byte {
			if strings.HasPrefix(n, "clips/") {
				b[0] ^= 0x20
			}
			return b
		}, "BAD clips/gw1-c1.mp4: changed"},
		"removed": {func(n string, b []byte) []byte {
			if strings.HasPrefix(n, "events/") {
				return nil
			}
			return b
		}, "BAD events/gw1-e1-1.json: listed in the manifest, missing from the archive"},
		"signature": {func(n string, b []byte) []byte {
			if n == clips.SignatureName {
				return []byte(strings.Repeat("ab", 64))
			}
			return b
		}, "BAD manifest.sig: bad signature"},
	} {
		code, out := verify(write(name+".zip", tc.edit))
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, output:\n%s\nwant %q", name, code, out, tc.want)
		}
	}
	// Signed by another station's key: only -data tells.
	other := t.TempDir()
	if _, err := clips.LoadOrCreateKey(other); err != nil {
		t.Fatal(err)
	}
	if code, out := verify("-data", other, good); code == 0 || !strings.Contains(out, "not the station's") {
		t.Fatalf("another station: %d\n%s", code, out)
	}
	if code, out := verify(filepath.Join(dir, "nope.zip")); code == 0 || !strings.Contains(out, "no such file") {
		t.Fatalf("missing file: %d %s", code, out)
	}
}
