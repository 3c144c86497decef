package clips

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
)

// events is a store.Reader holding a few events and snapshots.
type events struct {
	store.Reader
	ev   map[uint64]string
	snap map[uint64][]byte
}

func (e events) Event(gw, epoch string, seq uint64) ([]byte, bool, error) {
	s, ok := e.ev[seq]
	return []byte(s), ok, nil
}

func (e events) Snapshot(gw, epoch string, seq uint64) ([]byte, bool, error) {
	b, ok := e.snap[seq]
	return b, ok, nil
}

func exportFixture(t *testing.T) (zipBytes []byte, dir string) {
	dir = t.TempDir()
	cs, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	clip := bytes.Repeat([]byte("mp4!"), 5000)
	sum := sha256.Sum256(clip)
	if err := cs.Announce(Info{Gateway: "gw1", ID: "c1", Bytes: int64(len(clip)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Put("gw1", "c1", 0, clip); err != nil {
		t.Fatal(err)
	}
	key, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, _ := LoadOrCreateKey(dir)
	if !again.Equal(key) {
		t.Fatal("the key changed on a second load")
	}
	ev := events{ev: map[uint64]string{
		4: `{"seq":4,"kind":"door","attrs":{"clip":"c1"}}`,
		5: `{"seq":5,"kind":"clip","attrs":{"clip":"c1","bytes":20000}}`,
		6: `{"seq":6,"kind":"door","attrs":{"clip":{"id":"c2"}}}`,
	}, snap: map[uint64][]byte{4: []byte("\xff\xd8jpeg")}}
	var buf bytes.Buffer
	m, err := Exporter{Events: ev, Clips: cs, Key: key}.Write(&buf, "VV-2026-001", []EventRef{{"gw1", "e1", 4}, {"gw1", "e1", 5}, {"gw1", "e1", 6}}, "web:officer1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 5 || len(m.Missing) != 1 || !strings.Contains(m.Missing[0], "c2.mp4: missing") {
		t.Fatalf("manifest %+v", m)
	}
	return buf.Bytes(), dir
}

// rewrite copies a zip, changing it with edit (nil drops the file).
func rewrite(t *testing.T, src []byte, edit func(name string, b []byte) []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if b = edit(f.Name, b); b == nil {
			continue
		}
		w, _ := zw.Create(f.Name)
		w.Write(b)
	}
	zw.Close()
	return out.Bytes()
}

func verify(t *testing.T, b []byte, want ed25519.PublicKey) []string {
	t.Helper()
	_, problems, err := Verify(bytes.NewReader(b), int64(len(b)), want)
	if err != nil {
		t.Fatal(err)
	}
	return problems
}

func TestExportVerifies(t *testing.T) {
	z, dir := exportFixture(t)
	key, _ := LoadOrCreateKey(dir)
	if p := verify(t, z, key.Public().(ed25519.PublicKey)); len(p) != 0 {
		t.Fatalf("a fresh export: %v", p)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if p := verify(t, z, other); len(p) != 1 || !strings.Contains(p[0], "not the station's") {
		t.Fatalf("another station's key: %v", p)
	}
	for name, tc := range map[string]struct {
		edit func(string, []byte) []byte
		want string
	}{
		"edited clip": {func(n string, b []byte) []byte {
			if strings.HasPrefix(n, "clips/") {
				b = append([]byte(nil), b...)
				b[100] ^= 1
			}
			return b
		}, "clips/gw1-c1.mp4: changed"},
		"removed snapshot": {func(n string, b []byte) []byte {
			if strings.HasPrefix(n, "snapshots/") {
				return nil
			}
			return b
		}, "snapshots/gw1-e1-4.jpg: listed in the manifest, missing from the archive"},
		"rewritten unchanged": {func(n string, b []byte) []byte {
			if n == ManifestName {
				return b
			}
			return b
		}, ""},
		"edited manifest": {func(n string, b []byte) []byte {
			if n == ManifestName {
				return bytes.Replace(b, []byte("web:officer1"), []byte("web:officer2"), 1)
			}
			return b
		}, "bad signature"},
		"bad signature": {func(n string, b []byte) []byte {
			if n == SignatureName {
				return []byte(strings.Repeat("00", 64))
			}
			return b
		}, "bad signature"},
	} {
		p := verify(t, rewrite(t, z, tc.edit), nil)
		if tc.want == "" {
			if len(p) != 0 {
				t.Errorf("%s: %v", name, p)
			}
			continue
		}
		if len(p) != 1 || !strings.Contains(p[0], tc.want) {
			t.Errorf("%s: problems %q, want one naming %q", name, p, tc.want)
		}
	}
	extra := rewrite(t, z, func(n string, b []byte) []byte { return b })
	zr, _ := zip.NewReader(bytes.NewReader(extra), int64(len(extra)))
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		w, _ := zw.Create(f.Name)
		rc, _ := f.Open()
		io.Copy(w, rc)
		rc.Close()
	}
	w, _ := zw.Create("clips/planted.mp4")
	w.Write([]byte("x"))
	zw.Close()
	if p := verify(t, out.Bytes(), nil); len(p) != 1 || !strings.Contains(p[0], "planted.mp4: in the archive, not in the manifest") {
		t.Fatalf("planted file: %v", p)
	}
}
