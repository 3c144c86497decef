package clips

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAnnounceHugeLengthRefused: retention sums the announced lengths in
// an int64. A compromised gateway announcing a few clips of 2^62 bytes
// made the sum wrap negative, and from then on nothing was deleted for
// bytes, whoever filled the disk. A length no clip can have is refused,
// and the byte bound (of bytes held: an entry only announced takes no
// disk, review U1) holds.
func TestAnnounceHugeLengthRefused(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum := strings.Repeat("ab", 32)
	if err := s.Announce(Info{Gateway: "gw-a", ID: "a1", Bytes: 100, SHA256: sum}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		err := s.Announce(Info{Gateway: "evil", ID: fmt.Sprintf("huge-%d", i), Bytes: 1 << 62, SHA256: sum})
		if !errors.Is(err, ErrRefused) {
			t.Errorf("a clip of 2^62 bytes announced: %v", err)
		}
	}
	for i := range 20 {
		d := bytes.Repeat([]byte{byte(i)}, 100)
		announce(t, s, "evil", fmt.Sprintf("e-%d", i), d)
		if _, err := s.Put("evil", fmt.Sprintf("e-%d", i), 0, d); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, st := range l {
		total += st.Have
	}
	if total > 1000 {
		t.Errorf("%d clips of %d bytes kept, above the store's bound of 1000", len(l), total)
	}
}

// TestExportSameEventTwice: an export request naming one event twice
// (a double click, a crafted request) gave a zip holding events/…json
// twice, which the station's own verify-export rejects ("in the archive
// twice"), and up to MaxExportEvents copies of its snapshot. Each event
// is exported once.
func TestExportSameEventTwice(t *testing.T) {
	dir := t.TempDir()
	key, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ev := events{ev: map[uint64]string{4: `{"seq":4,"kind":"door"}`}, snap: map[uint64][]byte{4: []byte("\xff\xd8jpeg")}}
	var buf bytes.Buffer
	ref := EventRef{"gw1", "e1", 4}
	m, err := Exporter{Events: ev, Key: key}.Write(&buf, "VV-1", []EventRef{ref, ref, ref}, "web:officer1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 {
		t.Errorf("manifest lists %d files for one event and its snapshot: %+v", len(m.Files), m.Files)
	}
	if p := verify(t, buf.Bytes(), key.Public().(ed25519.PublicKey)); len(p) != 0 {
		t.Errorf("the station's own export does not verify: %q", p)
	}
}

// TestVerifyManifestListsFileTwice: a crafted export whose manifest lists
// one large file many times made Verify hash that file once per listing
// (a 16 MiB manifest holds ~10^5 of them: terabytes read from one
// archive). A name listed twice is a problem, and the file is read once.
func TestVerifyManifestListsFileTwice(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	body := bytes.Repeat([]byte{1}, 1<<20)
	sum := sha256.Sum256(body)
	m := Manifest{Format: ExportFormat, Case: "VV-x", ExportedBy: "web:x", ExportedAt: time.Now().UTC(), PublicKey: hex.EncodeToString(pub)}
	for range 200 {
		m.Files = append(m.Files, ManifestFile{Name: "clips/a.mp4", Bytes: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "clips/a.mp4", Method: zip.Store})
	w.Write(body)
	mb, _ := json.Marshal(m)
	w, _ = zw.Create(ManifestName)
	w.Write(mb)
	w, _ = zw.Create(SignatureName)
	w.Write([]byte(hex.EncodeToString(ed25519.Sign(priv, mb))))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	cr := &countingReaderAt{r: bytes.NewReader(out.Bytes())}
	_, problems, err := Verify(cr, int64(out.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), "twice") {
		t.Errorf("a manifest listing one file 200 times: problems %q", problems)
	}
	if n := cr.n.Load(); n > 4*int64(out.Len()) {
		t.Errorf("Verify read %d bytes of a %d-byte archive", n, out.Len())
	}
}

// TestRetentionEndlessPartialUploads: a clip being uploaded (partial, a
// chunk within Uploading) is never deleted for bytes. A compromised
// gateway announcing many clips and sending each a chunk now and then
// kept all of them "being uploaded": the store grew past its bound with
// their bytes for as long as it liked (up to a full disk, the event store
// with it). A gateway sends one clip at a time; only its few most recently
// touched partial clips count as being uploaded.
func TestRetentionEndlessPartialUploads(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{MaxBytes: 1000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := bytes.Repeat([]byte("g"), 300)
	announce(t, s, "good", "g1", good)
	if _, err := s.Put("good", "g1", 0, good); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	for i := range 12 {
		now = now.Add(time.Second)
		id := fmt.Sprintf("e-%d", i)
		if err := s.Announce(Info{Gateway: "evil", ID: id, Bytes: 1000, SHA256: sum}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put("evil", id, 0, []byte("0123456789")); err != nil && !errors.Is(err, ErrRefused) {
			t.Fatal(err)
		}
	}
	s.Prune()
	l, _ := s.List("evil")
	if len(l) > uploadingPerGateway+1 {
		t.Errorf("%d partial clips of one gateway kept above the store's bound (want at most %d being uploaded and the newest)", len(l), uploadingPerGateway+1)
	}
	if _, ok, _ := s.Status("good", "g1"); !ok {
		t.Error("another gateway's clip deleted")
	}
}

// BenchmarkAnnounceWithIndex measures one announcement against an index
// already holding n clips. Every gateway's continuous recording announces
// a segment a minute per camera, kept -clip-max-age (90 days): 130 000
// entries per camera. Each announcement applies retention, which reads
// the whole index under the store lock, on the publishing gateway's path.
func BenchmarkAnnounceWithIndex(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
			sum := strings.Repeat("ab", 32)
			s := openSeeded(b, Options{MaxBytes: 1 << 50, Now: func() time.Time { return now }}, n, func(i int) Info {
				return Info{Gateway: fmt.Sprintf("gw-%d", i%300), ID: fmt.Sprintf("seg-%d", i), Camera: "cong", Bytes: 4 << 20,
					SHA256: sum, Start: now.Format(time.RFC3339), Duration: 60000, Upload: "on_request", Added: now.Add(-time.Duration(n-i) * time.Second)}
			})
			b.ResetTimer()
			for i := range b.N {
				if err := s.Announce(Info{Gateway: "gw-x", ID: fmt.Sprintf("new-%d", i), Bytes: 4 << 20, SHA256: sum}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
