package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
)

// attachSizeForDamage gives three in four events an attachment, enough of
// them (tens of KiB in all) that the attachments bucket has a branch root
// over several leaf pages.
func attachSizeForDamage(i int) int {
	if i%4 == 0 {
		return 0
	}
	return 300 + (i%7)*500
}

// filledWithAttachments makes an outbox holding events, most with an
// attachment, three of them acked, and returns the highest seq.
func filledWithAttachments(t *testing.T, path string) uint64 {
	return fillWith(t, path, 150, func(i int) (*wire.Event, []byte) {
		if n := attachSizeForDamage(i + 1); n > 0 {
			return motion(i + 1), jpegFor(i+1, n)
		}
		return motion(i + 1), nil
	})
}

// editFile changes the file through bbolt, the way a foreign writer (or an
// older or newer program) could.
func editFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// attachPages returns the offsets of the root page of the attachments
// bucket and of one of the leaf pages under it, read from the file.
func attachPages(t *testing.T, path string) (root, leaf int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ps := int64(db.Info().PageSize)
	_ = db.View(func(tx *bolt.Tx) error {
		root = int64(tx.Bucket(bucketAttach).Root())
		return nil
	})
	db.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := b[root*ps:]
	ne := binary.NativeEndian
	if root == 0 || ne.Uint16(p[8:]) != 0x01 || ne.Uint16(p[10:]) < 3 {
		t.Fatalf("attachments root %d is not a branch page over several leaves", root)
	}
	leaf = int64(ne.Uint64(p[pageHeaderSize+16+8:])) // the second child
	if q := b[leaf*ps:]; ne.Uint16(q[8:]) != 0x02 || ne.Uint16(q[10:]) < 2 {
		t.Fatalf("page %d is not a leaf with elements", leaf)
	}
	return root * ps, leaf * ps
}

func randomBytes(rnd *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

// TestDamagedAttachmentsMovedAside damages the attachments of a file in
// the ways bit rot or a foreign writer could. The outbox does not repair
// attachments: it treats each case as damage of the whole file (see the
// package doc), so the file must be moved aside unchanged, with a
// storage_reset event reporting where it went, and the outbox must go on at
// a fresh seq. Nothing may panic, including reading the moved file with
// ReadOnly.
func TestDamagedAttachmentsMovedAside(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	garble := func(page func(root, leaf int64) int64, keepHeader bool) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			off, n := page(attachPages(t, path)), 4096 // the whole page at the usual page size
			if keepHeader {
				off, n = off+pageHeaderSize, n-pageHeaderSize
			}
			overwrite(t, path, off, randomBytes(rnd, n))
		}
	}
	rootOf := func(root, _ int64) int64 { return root }
	leafOf := func(_, leaf int64) int64 { return leaf }
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"root page garbled", garble(rootOf, false)},
		{"root page body garbled", garble(rootOf, true)},
		{"leaf page garbled", garble(leafOf, false)},
		{"leaf page body garbled", garble(leafOf, true)},
		{"leaf keys out of order", func(t *testing.T, path string) {
			// Swap the first two element headers of a leaf (each position is
			// relative to its header), so its keys are no longer sorted.
			_, leaf := attachPages(t, path)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ne := binary.NativeEndian
			e0 := b[leaf+pageHeaderSize:][:16]
			e1 := b[leaf+pageHeaderSize+16:][:16]
			var h0, h1 [16]byte
			copy(h0[:], e0)
			copy(h1[:], e1)
			ne.PutUint32(h0[4:], ne.Uint32(h0[4:])-16)
			ne.PutUint32(h1[4:], ne.Uint32(h1[4:])+16)
			copy(e0, h1[:])
			copy(e1, h0[:])
			overwrite(t, path, leaf+pageHeaderSize, b[leaf+pageHeaderSize:][:32])
		}},
		{"attachment without its record", func(t *testing.T, path string) {
			editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketRecords).Delete(seqKey(10)) })
		}},
		{"attachment of an acked record", func(t *testing.T, path string) {
			editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketAttach).Put(seqKey(2), jpegFor(2, 100)) })
		}},
		{"attachment beyond the counter", func(t *testing.T, path string) {
			editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketAttach).Put(seqKey(1000), jpegFor(9, 100)) })
		}},
		{"attachment key malformed", func(t *testing.T, path string) {
			editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketAttach).Put([]byte("snap"), jpegFor(9, 100)) })
		}},
		{"bucket inside attachments", func(t *testing.T, path string) {
			// Record 12 has no attachment: the bucket takes its key.
			editFile(t, path, func(tx *bolt.Tx) error { _, err := tx.Bucket(bucketAttach).CreateBucket(seqKey(12)); return err })
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			last := filledWithAttachments(t, path)
			c.damage(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			opt := testOptions()
			opt.Now = func() time.Time { return time.Date(2026, 11, 28, 6, 7, 8, 0, time.UTC) }
			o := open(t, path, opt)
			moved, e := checkReset(t, o, path, before, last)
			t.Logf("reason: %v", e.Attrs["reason"])
			img := jpegFor(7, 3000)
			seq, err := o.AppendAttached(context.Background(), motion(7), img)
			if err != nil || seq != e.Seq+1 {
				t.Fatalf("append after reset: %d %v", seq, err)
			}
			if recs := all(t, o); len(recs) != 2 || !bytes.Equal(recs[1].Attachment, img) || o.Stats().Bytes != payloadOf(recs) {
				t.Fatalf("after reset: %d records, Stats %+v", len(recs), o.Stats())
			}

			// The operator's tools may look at the moved file: errors are
			// fine, a crash is not.
			if r, err := ReadOnly(moved); err == nil {
				_, _ = r.Stats(time.Now())
				_ = r.Records(0, func(Record) error { return nil })
				r.Close()
			}
		})
	}
}

// TestFileWithoutAttachmentsBucket opens a file from before attachments
// (no attachments bucket): that is not damage; its records stay, and the
// first attachment creates the bucket.
func TestFileWithoutAttachmentsBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, testOptions())
	for i := range 5 {
		if _, err := o.Append(context.Background(), motion(i)); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	editFile(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketAttach) })

	o = open(t, path, testOptions())
	if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 0 {
		t.Fatalf("old file taken for damaged: %v", m)
	}
	if err := o.Ack(2); err != nil { // an ack with no attachments bucket
		t.Fatal(err)
	}
	img := jpegFor(9, 5000)
	seq, err := o.AppendAttached(context.Background(), motion(9), img)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = open(t, path, testOptions())
	recs := all(t, o)
	if len(recs) != 5 || recs[4].Seq != seq || !bytes.Equal(recs[4].Attachment, img) || o.Stats().Bytes != payloadOf(recs) {
		t.Fatalf("records %v, Stats %+v", seqsOf(recs), o.Stats())
	}
	for _, r := range recs[:4] {
		if r.Attachment != nil {
			t.Fatalf("record %d got an attachment", r.Seq)
		}
	}
}

// TestDamagedAttachmentReasonIsSpecific makes sure the storage_reset event
// of an orphaned attachment names the cause, so an operator can tell it
// from a broken disk.
func TestDamagedAttachmentReasonIsSpecific(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	filledWithAttachments(t, path)
	editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketRecords).Delete(seqKey(10)) })
	o := open(t, path, testOptions())
	recs := all(t, o)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	if r, _ := decode(t, recs[0]).Attrs["reason"].(string); !strings.Contains(r, "attachment") || !strings.Contains(r, "000000000000000a") {
		t.Fatalf("reason %q does not name the orphaned attachment", r)
	}
}
