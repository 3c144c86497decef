package clips

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// A case export (vụ việc) is one zip: events/*.json (each event as the
// station stored it), snapshots/*.jpg, clips/*.mp4, and manifest.json
// listing every other file with its length and SHA-256, who exported it
// and when, and the station's ed25519 public key; manifest.sig is the
// signature of manifest.json's exact bytes by that key. Verify checks it.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
	ExportFormat  = "antt-case-export/1"
	// KeyFile is the station's signing key in its data directory (PKCS #8
	// PEM, 0600), made on first use.
	KeyFile = "export-key.pem"
	// MaxExportEvents bounds the events of one export.
	MaxExportEvents = 500
)

// Manifest is manifest.json.
type Manifest struct {
	Format     string         `json:"format"`
	Case       string         `json:"case"`
	ExportedBy string         `json:"exported_by"`
	ExportedAt time.Time      `json:"exported_at"`
	PublicKey  string         `json:"public_key"` // hex ed25519
	Files      []ManifestFile `json:"files"`
	// Missing names what the case holds but the export could not include
	// (a clip not uploaded, a snapshot deleted by retention).
	Missing []string `json:"missing,omitempty"`
}

// ManifestFile is one file of the zip.
type ManifestFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// EventRef names one stored event.
type EventRef struct {
	Gateway string `json:"gateway"`
	Epoch   string `json:"epoch"`
	Seq     uint64 `json:"seq"`
}

// LoadOrCreateKey reads the station's export key from dataDir, making it
// (0600) the first time.
func LoadOrCreateKey(dataDir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dataDir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create export key: %w", err)
		}
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write export key: %w", err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read export key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("export key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("export key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("export key %s: %T, want ed25519", path, k)
	}
	return priv, nil
}

// EventSource is what an export reads of the station's store
// (store.Store).
type EventSource interface {
	Event(gw, epoch string, seq uint64) ([]byte, bool, error)
	Snapshot(gw, epoch string, seq uint64) ([]byte, bool, error)
}

var _ EventSource = (store.Reader)(nil)

// Exporter writes case exports.
type Exporter struct {
	Events EventSource
	Clips  *Store
	Key    ed25519.PrivateKey
}

// Write writes the zip of the case to w and returns its manifest. by is
// the account exporting it (audit actor form).
func (x Exporter) Write(w io.Writer, caseName string, refs []EventRef, by string, at time.Time) (Manifest, error) {
	m := Manifest{Format: ExportFormat, Case: caseName, ExportedBy: by, ExportedAt: at.UTC(),
		PublicKey: hex.EncodeToString(x.Key.Public().(ed25519.PublicKey)), Files: []ManifestFile{}}
	if len(refs) == 0 || len(refs) > MaxExportEvents {
		return m, fmt.Errorf("export: %d events, want 1 to %d", len(refs), MaxExportEvents)
	}
	zw := zip.NewWriter(w)
	add := func(name string, r io.Reader) error {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: at})
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(fw, h), r)
		if err != nil {
			return fmt.Errorf("export %s: %w", name, err)
		}
		m.Files = append(m.Files, ManifestFile{Name: name, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}
	for _, r := range refs {
		// The file names are made of these: ids only, so none unpacks
		// outside its folder.
		if !wire.ValidID(r.Gateway) {
			return m, fmt.Errorf("export: gateway %.70q: not a gateway id", r.Gateway)
		}
		if r.Epoch != "" && !wire.ValidEpoch(r.Epoch) {
			return m, fmt.Errorf("export: epoch %.70q of gateway %s: not an epoch", r.Epoch, r.Gateway)
		}
	}
	seenClip, seenRef := map[string]bool{}, map[string]bool{}
	for _, r := range refs {
		base := fmt.Sprintf("%s-%s-%d", r.Gateway, r.Epoch, r.Seq)
		if r.Epoch == "" {
			base = fmt.Sprintf("%s-%d", r.Gateway, r.Seq)
		}
		if seenRef[base] {
			continue // named twice: its files once (a zip holding a name twice does not verify)
		}
		seenRef[base] = true
		raw, ok, err := x.Events.Event(r.Gateway, r.Epoch, r.Seq)
		if err != nil {
			return m, err
		}
		if !ok {
			return m, fmt.Errorf("export: event %s (epoch %q) is not in the store", wire.EventID(r.Gateway, r.Seq), r.Epoch)
		}
		if err := add("events/"+base+".json", bytes.NewReader(raw)); err != nil {
			return m, err
		}
		if jpeg, ok, err := x.Events.Snapshot(r.Gateway, r.Epoch, r.Seq); err != nil {
			return m, err
		} else if ok {
			if err := add("snapshots/"+base+".jpg", bytes.NewReader(jpeg)); err != nil {
				return m, err
			}
		}
		id := ClipOf(raw)
		if id == "" || seenClip[r.Gateway+"/"+id] {
			continue
		}
		seenClip[r.Gateway+"/"+id] = true
		name := "clips/" + r.Gateway + "-" + id + ".mp4"
		if x.Clips == nil {
			m.Missing = append(m.Missing, name+": no clip store")
			continue
		}
		f, st, err := x.Clips.Open(r.Gateway, id)
		if err != nil {
			m.Missing = append(m.Missing, fmt.Sprintf("%s: %s at the station", name, orMissing(st.State)))
			continue
		}
		err = add(name, f)
		f.Close()
		if err != nil {
			return m, err
		}
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Name < m.Files[j].Name })
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := add(ManifestName, bytes.NewReader(mb)); err != nil {
		return m, err
	}
	m.Files = m.Files[:len(m.Files)-1]
	if err := add(SignatureName, strings.NewReader(hex.EncodeToString(ed25519.Sign(x.Key, mb))+"\n")); err != nil {
		return m, err
	}
	m.Files = m.Files[:len(m.Files)-1]
	if err := zw.Close(); err != nil {
		return m, fmt.Errorf("export: finish zip: %w", err)
	}
	return m, nil
}

// maxInflate bounds how far Verify inflates a compressed entry, per byte
// compressed (above the first MiB): the station stores its files
// uncompressed, and re-zipped clips, pictures and events compress far
// less; zeros, a zip bomb's usual filling, reach about 1000.
const maxInflate = 200

// safeName reports whether an export's file name unpacks inside the
// folder it is unpacked in, with any unzip tool: relative, clean, no
// "..", no backslash or drive letter.
func safeName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "\\:\x00") && path.Clean(name) == name &&
		!strings.HasPrefix(name, "/") && name != ".." && !strings.HasPrefix(name, "../")
}

func orMissing(s State) State {
	if s == "" {
		return Missing
	}
	return s
}

// ClipOf is the clip id an event (its stored JSON) names in its "clip"
// attr: a clip event's own clip, or the clip a sensor event caused (the
// attr is then the id, or an object with the id under "id" or "clip").
func ClipOf(raw []byte) string {
	var ev struct {
		Attrs map[string]any `json:"attrs"`
	}
	if json.Unmarshal(raw, &ev) != nil {
		return ""
	}
	var id string
	switch v := ev.Attrs[wire.ClipAttrID].(type) {
	case string:
		id = v
	case map[string]any:
		if s, ok := v["id"].(string); ok {
			id = s
		} else if s, ok := v["clip"].(string); ok {
			id = s
		}
	}
	if !wire.ValidClipID(id) {
		return ""
	}
	return id
}

// Verify checks an export: the signature of its manifest by the key the
// manifest names (and, if want is not nil, that it is that key), and the
// length and SHA-256 of every file, and that the zip holds no file the
// manifest does not list. Each problem is one entry of problems; err is
// for an archive that cannot be read at all.
func Verify(r io.ReaderAt, size int64, want ed25519.PublicKey) (m Manifest, problems []string, err error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return m, nil, fmt.Errorf("not a zip archive: %w", err)
	}
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if files[f.Name] != nil {
			problems = append(problems, fmt.Sprintf("%s: in the archive twice", f.Name))
		}
		files[f.Name] = f
	}
	read := func(name string) ([]byte, error) {
		f := files[name]
		if f == nil {
			return nil, fmt.Errorf("%s: missing from the archive", name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, 16<<20))
	}
	mb, err := read(ManifestName)
	if err != nil {
		return m, append(problems, err.Error()), nil
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		return m, append(problems, fmt.Sprintf("%s: %v", ManifestName, err)), nil
	}
	if m.Format != ExportFormat {
		problems = append(problems, fmt.Sprintf("%s: format %q, want %q", ManifestName, m.Format, ExportFormat))
	}
	pub, err := hex.DecodeString(m.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		problems = append(problems, fmt.Sprintf("%s: public_key is not an ed25519 key", ManifestName))
	} else {
		if want != nil && !bytes.Equal(pub, want) {
			problems = append(problems, fmt.Sprintf("%s: signed by key %s, not the station's %s", ManifestName, m.PublicKey, hex.EncodeToString(want)))
		}
		sb, err := read(SignatureName)
		sig, herr := hex.DecodeString(strings.TrimSpace(string(sb)))
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case herr != nil || len(sig) != ed25519.SignatureSize:
			problems = append(problems, SignatureName+": not an ed25519 signature in hex")
		case !ed25519.Verify(pub, mb, sig):
			problems = append(problems, SignatureName+": bad signature: manifest.json was changed or signed by another key")
		}
	}
	listed := map[string]bool{ManifestName: true, SignatureName: true}
	for _, mf := range m.Files {
		if listed[mf.Name] {
			// Each listing would be read and hashed again: one large file
			// listed 10^5 times is terabytes read from a small archive.
			problems = append(problems, fmt.Sprintf("%.200q: listed in the manifest twice", mf.Name))
			continue
		}
		listed[mf.Name] = true
		if !safeName(mf.Name) {
			problems = append(problems, fmt.Sprintf("%.200q: unsafe name: it would unpack outside the folder the export is unpacked in", mf.Name))
			continue
		}
		f := files[mf.Name]
		if f == nil {
			problems = append(problems, fmt.Sprintf("%s: listed in the manifest, missing from the archive", mf.Name))
			continue
		}
		// What is not the length the manifest says is not inflated to
		// find out, nor is what inflates like no media or JSON file does
		// (a zip bomb): the work stays bounded by the archive's size.
		if f.UncompressedSize64 != uint64(mf.Bytes) {
			problems = append(problems, fmt.Sprintf("%s: changed (%d bytes in the archive; the manifest says %d bytes)", mf.Name, f.UncompressedSize64, mf.Bytes))
			continue
		}
		if f.Method != zip.Store && f.UncompressedSize64 > maxInflate*f.CompressedSize64+1<<20 {
			problems = append(problems, fmt.Sprintf("%s: compressed %d bytes to %d, like no file of an export: not inflated (a zip bomb?)", mf.Name, f.UncompressedSize64, f.CompressedSize64))
			continue
		}
		rc, err := f.Open()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", mf.Name, err))
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, io.LimitReader(rc, mf.Bytes+1))
		rc.Close()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: unreadable: %v", mf.Name, err))
		case n != mf.Bytes || hex.EncodeToString(h.Sum(nil)) != mf.SHA256:
			problems = append(problems, fmt.Sprintf("%s: changed (%d bytes, SHA-256 %x; the manifest says %d bytes, %s)", mf.Name, n, h.Sum(nil), mf.Bytes, mf.SHA256))
		}
	}
	for _, f := range zr.File {
		if !listed[f.Name] {
			problems = append(problems, fmt.Sprintf("%s: in the archive, not in the manifest", f.Name))
		}
	}
	return m, problems, nil
}
