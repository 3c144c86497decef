package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
)

// jpegFor is an attachment whose bytes say which event it belongs to, so a
// mix-up between records shows.
func jpegFor(i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	copy(b, []byte{0xFF, 0xD8, 0xFF})
	binary.BigEndian.PutUint32(b[3:], uint32(i))
	return b
}

// payloadOf is what Stats.Bytes must equal: every stored byte counted once.
func payloadOf(recs []Record) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r.Data) + len(r.Attachment))
	}
	return n
}

func attachmentKeys(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketAttach); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n
}

func TestAttachmentDurableAndAckedAway(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, testOptions())
	ctx := context.Background()
	img := jpegFor(2, 5000)
	if _, err := o.Append(ctx, motion(1)); err != nil {
		t.Fatal(err)
	}
	s2, err := o.AppendAttached(ctx, motion(2), img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(ctx, motion(3)); err != nil {
		t.Fatal(err)
	}
	check := func(o *Outbox) {
		t.Helper()
		recs := all(t, o)
		if len(recs) != 3 || recs[0].Attachment != nil || recs[2].Attachment != nil || !bytes.Equal(recs[1].Attachment, img) || recs[1].Seq != s2 {
			t.Fatalf("records %+v", recs)
		}
		if got, want := o.Stats().Bytes, payloadOf(recs); got != want {
			t.Fatalf("Stats.Bytes %d, stored %d", got, want)
		}
	}
	check(o)
	o.Close()
	o = open(t, path, testOptions())
	check(o)

	if err := o.Ack(s2); err != nil {
		t.Fatal(err)
	}
	recs := all(t, o)
	if len(recs) != 2 || o.Stats().Bytes != payloadOf(recs) {
		t.Fatalf("after ack: %d records, Stats.Bytes %d, stored %d", len(recs), o.Stats().Bytes, payloadOf(recs))
	}
	o.Close()
	if n := attachmentKeys(t, path); n != 0 {
		t.Fatalf("%d attachments left after the ack", n)
	}
}

func TestAttachmentDroppedWithItsEvent(t *testing.T) {
	opt := testOptions()
	opt.MaxBytes = 256 << 10
	budget := opt.MaxBytes / 2
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, opt)
	ctx := context.Background()
	const n = 200 // 200 × 4 KiB is six times the budget
	var seqs []uint64
	for i := 1; i <= n; i++ {
		seq, err := o.AppendAttached(ctx, motion(i), jpegFor(i, 4096))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		seqs = append(seqs, seq)
		if st := o.Stats(); st.Bytes > budget {
			t.Fatalf("after %d: %d bytes over the budget %d", i, st.Bytes, budget)
		}
	}
	recs := all(t, o)
	var kept uint64
	present := map[uint64]bool{}
	var reported [][2]uint64
	for _, r := range recs {
		e := decode(t, r)
		present[r.Seq] = true
		if e.Kind == "outbox_overflow" {
			first, last := uint64(e.Attrs["first_seq"].(float64)), uint64(e.Attrs["last_seq"].(float64))
			reported = append(reported, [2]uint64{first, last})
			if r.Attachment != nil {
				t.Fatalf("overflow event %d has an attachment", r.Seq)
			}
			continue
		}
		kept++
		i := int(e.Attrs["i"].(float64))
		if !bytes.Equal(r.Attachment, jpegFor(i, 4096)) {
			t.Fatalf("record %d (event %d) carries the wrong attachment", r.Seq, i)
		}
	}
	// Every event is still there or inside a reported drop: nothing
	// vanished with (or because of) its attachment.
	for _, seq := range seqs {
		covered := present[seq]
		for _, r := range reported {
			covered = covered || (r[0] <= seq && seq <= r[1])
		}
		if !covered {
			t.Fatalf("seq %d neither stored nor reported dropped", seq)
		}
	}
	if len(reported) == 0 || kept == n {
		t.Fatal("nothing was dropped")
	}
	if got, want := o.Stats().Bytes, payloadOf(recs); got != want {
		t.Fatalf("Stats.Bytes %d, stored %d", got, want)
	}
	o.Close()
	if k := attachmentKeys(t, path); uint64(k) != kept {
		t.Fatalf("%d attachments stored for %d events", k, kept)
	}
	o = open(t, path, opt) // verify: no orphan attachments, same accounting
	if got, want := o.Stats().Bytes, payloadOf(all(t, o)); got != want {
		t.Fatalf("after reopen Stats.Bytes %d, stored %d", got, want)
	}
}

func TestAttachmentTooLarge(t *testing.T) {
	opt := testOptions()
	opt.MaxBytes = 256 << 10
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), opt)
	_, err := o.AppendAttached(context.Background(), motion(1), make([]byte, opt.MaxBytes/8))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if len(all(t, o)) != 0 {
		t.Fatal("a refused event was stored")
	}
}

// TestAttachmentsInMixedGroupCommits appends with and without attachments
// concurrently, so group commits mix both kinds of request.
func TestAttachmentsInMixedGroupCommits(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for j := range 8 {
				i := g*8 + j
				var err error
				if i%2 == 0 {
					_, err = o.AppendAttached(ctx, motion(i), jpegFor(i, 100+i))
				} else {
					_, err = o.AppendBatch(ctx, []*wire.Event{motion(i), motion(i + 1000)})
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs := all(t, o)
	if len(recs) != 32+64 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		i := int(decode(t, r).Attrs["i"].(float64))
		if i%2 == 0 && i < 1000 {
			if !bytes.Equal(r.Attachment, jpegFor(i, 100+i)) {
				t.Fatalf("event %d: wrong attachment", i)
			}
		} else if r.Attachment != nil {
			t.Fatalf("event %d: unexpected attachment", i)
		}
	}
}
