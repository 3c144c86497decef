package clips

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingReaderAt counts the archive bytes Verify reads.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// selfSigned builds an export the way a forger with his own key would:
// every file listed (claimed lengths from claim, if set), the manifest
// signed, deflated entries.
func selfSigned(t *testing.T, files map[string][]byte, claim map[string]int64) []byte {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	m := Manifest{Format: ExportFormat, Case: "VV-x", ExportedBy: "web:x", ExportedAt: time.Now().UTC(), PublicKey: hex.EncodeToString(pub)}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for name, b := range files {
		sum := sha256.Sum256(b)
		n := int64(len(b))
		if c, ok := claim[name]; ok {
			n = c
		}
		m.Files = append(m.Files, ManifestFile{Name: name, Bytes: n, SHA256: hex.EncodeToString(sum[:])})
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	mb, _ := json.Marshal(m)
	w, _ := zw.Create(ManifestName)
	w.Write(mb)
	w, _ = zw.Create(SignatureName)
	w.Write([]byte(hex.EncodeToString(ed25519.Sign(priv, mb))))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestVerifyZipBomb: an entry that inflates far beyond its compressed
// size (a zip bomb) or beyond what the manifest says is not inflated:
// Verify reads a small part of the archive and names the entry.
func TestVerifyZipBomb(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 8 << 20
	}
	zeros := make([]byte, size)
	z, _ := exportFixture(t)
	// The clip replaced by zeros; the manifest (signed) says 20000 bytes.
	bomb := rewrite(t, z, func(n string, b []byte) []byte {
		if strings.HasPrefix(n, "clips/") {
			return zeros
		}
		return b
	})
	// A forger's manifest claiming the whole inflated length.
	forged := selfSigned(t, map[string][]byte{"clips/gw1-c1.mp4": zeros}, nil)
	for name, tc := range map[string]struct {
		zip  []byte
		want string
	}{
		"longer than the manifest says": {bomb, "clips/gw1-c1.mp4: changed"},
		"compressed like no media file": {forged, "clips/gw1-c1.mp4: compressed"},
	} {
		cr := &countingReaderAt{r: bytes.NewReader(tc.zip)}
		_, p, err := Verify(cr, int64(len(tc.zip)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 || !strings.Contains(p[0], tc.want) {
			t.Errorf("%s: problems %q, want one naming %q", name, p, tc.want)
		}
		if read := cr.n.Load(); read > int64(len(tc.zip))/2 {
			t.Errorf("%s: Verify read %d of the archive's %d bytes: it inflated the bomb", name, read, len(tc.zip))
		}
	}
}

// TestVerifyUnsafeNames: a manifest listing a file whose name would
// unpack outside the directory it is unpacked in (zip-slip) is named,
// even when the signature and hashes hold (a forger's own key).
func TestVerifyUnsafeNames(t *testing.T) {
	for _, name := range []string{"../evil.sh", "/etc/cron.d/x", `clips\..\..\x`, "clips/../../x"} {
		z := selfSigned(t, map[string][]byte{name: []byte("x"), "events/ok.json": []byte("{}")}, nil)
		p := verify(t, z, nil)
		if len(p) != 1 || !strings.Contains(p[0], "unsafe name") {
			t.Errorf("%q: problems %q, want one naming an unsafe name", name, p)
		}
	}
	if p := verify(t, selfSigned(t, map[string][]byte{"events/ok.json": []byte("{}")}, nil), nil); len(p) != 0 {
		t.Errorf("a well-formed forged export: %q (only -data tells it from the station's)", p)
	}
}

// TestExportRefusesUnsafeRefs: the export's file names are made of the
// events' gateway and epoch; Write refuses refs that are not ids, whoever
// calls it, so it can never write a name that unpacks outside its folder.
func TestExportRefusesUnsafeRefs(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	ev := events{ev: map[uint64]string{1: `{"seq":1,"kind":"door"}`}}
	for _, r := range []EventRef{{Gateway: "../../x", Epoch: "e1", Seq: 1}, {Gateway: "gw1", Epoch: "../../x", Seq: 1}} {
		var buf bytes.Buffer
		if _, err := (Exporter{Events: ev, Key: priv}).Write(&buf, "VV", []EventRef{r}, "web:x", time.Now()); err == nil {
			t.Errorf("ref %+v exported", r)
		} else if !strings.Contains(err.Error(), "not a") {
			t.Errorf("ref %+v: %v, want an error naming the bad id", r, err)
		}
	}
}
