package clips

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

// FuzzVerify: verify-export reads archives from anyone (a court, a lawyer,
// a forger). Whatever the bytes, Verify does not panic, and the archive
// bytes it reads stay within a few times the archive's size (each listed
// file read once; nothing inflated past what the manifest says).
func FuzzVerify(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	ev := events{ev: map[uint64]string{4: `{"seq":4,"kind":"door"}`}, snap: map[uint64][]byte{4: bytes.Repeat([]byte("\xff\xd8jpeg"), 500)}}
	var good bytes.Buffer
	if _, err := (Exporter{Events: ev, Key: key}).Write(&good, "VV-1", []EventRef{{"gw1", "e1", 4}}, "web:x", time.Unix(0, 0)); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Fuzz(func(t *testing.T, b []byte) {
		cr := &countingReaderAt{r: bytes.NewReader(b)}
		_, _, _ = Verify(cr, int64(len(b)), nil)
		if n := cr.n.Load(); n > 4*int64(len(b))+1<<16 {
			t.Errorf("Verify read %d bytes of a %d-byte archive", n, len(b))
		}
	})
}
