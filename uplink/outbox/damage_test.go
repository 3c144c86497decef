package outbox

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
)

// filled makes an outbox holding some events and returns the highest seq.
func filled(t *testing.T, path string) uint64 {
	return fillWith(t, path, 300, func(i int) (*wire.Event, []byte) {
		e := motion(i)
		e.Attrs["pad"] = string(bytes.Repeat([]byte("d"), 100))
		return e, nil
	})
}

// fillWith appends n events made by ev (with their attachments, if any),
// acks seqs 1-3, closes the outbox and returns the highest seq.
func fillWith(t *testing.T, path string, n int, ev func(i int) (*wire.Event, []byte)) uint64 {
	t.Helper()
	o := open(t, path, testOptions())
	var last uint64
	for i := range n {
		e, a := ev(i)
		seq, err := o.AppendAttached(context.Background(), e, a)
		if err != nil {
			t.Fatal(err)
		}
		last = seq
	}
	if err := o.Ack(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	return last
}

func TestDamagedFileIsMovedAsideAndReported(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/3); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated short", func(t *testing.T, path string) {
			if err := os.Truncate(path, 5000); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"random bytes", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			b := make([]byte, fi.Size())
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"zeroed meta pages", func(t *testing.T, path string) {
			overwrite(t, path, 0, make([]byte, 2*4096))
		}},
		{"garbled data pages", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			b := make([]byte, fi.Size()-2*4096)
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			overwrite(t, path, 2*4096, b)
		}},
		{"garbled leaf page", func(t *testing.T, path string) {
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			overwrite(t, path, leafPage(t, path)*4096, b)
		}},
		{"not an outbox", func(t *testing.T, path string) {
			os.Remove(path)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
			db.Close()
		}},
		{"counter behind records", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyNextSeq, seqKey(5)) })
			db.Close()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "outbox.db")
			last := filled(t, path)
			c.damage(t, path)
			before, _ := os.ReadFile(path)

			opt := testOptions()
			opt.Now = func() time.Time { return time.Date(2026, 11, 28, 6, 7, 8, 0, time.UTC) }
			o := open(t, path, opt)
			moved, e := checkReset(t, o, path, before, last)
			if e.Boot != "boot-1" || !e.ClockSynced {
				t.Fatalf("storage_reset event %+v", e)
			}
			t.Logf("reason: %v; resumed at %d", e.Attrs["reason"], e.Seq)
			seq, err := o.Append(context.Background(), motion(1))
			if err != nil || seq != e.Seq+1 {
				t.Fatalf("append after reset: %d %v", seq, err)
			}
			// A second damage in the same second does not overwrite the first.
			o.Close()
			overwrite(t, path, 0, make([]byte, 2*4096))
			o = open(t, path, opt)
			if _, err := os.Stat(moved + "-1"); err != nil {
				t.Fatalf("second damaged file: %v", err)
			}
			if recs := all(t, o); len(recs) != 1 || recs[0].Seq <= seq {
				t.Fatalf("after second reset: %v", seqsOf(recs))
			}
		})
	}
}

// checkReset checks that o, opened on the damaged file at path (whose
// bytes were before, its highest seq last), moved that file aside intact
// and holds exactly one storage_reset event naming it, with a seq beyond
// last. It returns where the file went and the event.
func checkReset(t *testing.T, o *Outbox, path string, before []byte, last uint64) (string, wire.Event) {
	t.Helper()
	moved := path + ".damaged-20261128T060708Z"
	kept, err := os.ReadFile(moved)
	if err != nil {
		t.Fatalf("damaged file not moved aside: %v (records now: %d)", err, len(all(t, o)))
	}
	if !bytes.Equal(kept, before) {
		t.Fatal("damaged file was modified")
	}
	recs := all(t, o)
	if len(recs) != 1 {
		t.Fatalf("fresh file holds %d records, want the storage_reset event", len(recs))
	}
	e := decode(t, recs[0])
	if e.Kind != wire.KindStorageReset || e.Attrs["moved_to"] != moved || e.Attrs["reason"] == "" ||
		uint64(e.Attrs["resumed_seq"].(float64)) != e.Seq {
		t.Fatalf("storage_reset event %+v", e)
	}
	if e.Seq <= last {
		t.Fatalf("seq %d after reset is not beyond %d: reused", e.Seq, last)
	}
	return moved, e
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestMissingFileWithSidecarIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	last := filled(t, path)
	os.Remove(path)
	o := open(t, path, testOptions())
	recs := all(t, o)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	if e := decode(t, recs[0]); e.Kind != wire.KindStorageReset || e.Seq <= last || e.Attrs["moved_to"] != "" {
		t.Fatalf("event %+v", e)
	}
}

func TestLockedFileIsNotDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, testOptions())
	if _, err := o.Append(context.Background(), motion(1)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Open(path, testOptions())
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("locked Open took %v", d)
	}
	if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 0 {
		t.Fatalf("locked file treated as damaged: %v", m)
	}
	if _, err := ReadOnly(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("ReadOnly on a locked file: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	last := filled(t, path)
	before, _ := os.ReadFile(path)
	r, err := ReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second reader is fine; a writer is not.
	r2, err := ReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if _, err := Open(path, testOptions()); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while a reader holds the file: %v", err)
	}
	st, err := r.Stats(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != int(last)-3 || st.NextSeq != last+1 || st.Bytes <= 0 || st.FileSize != int64(len(before)) {
		t.Fatalf("stats %+v", st)
	}
	var seqs []uint64
	if err := r.Records(0, func(rec Record) error { seqs = append(seqs, rec.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != st.Depth || seqs[0] != 4 || seqs[len(seqs)-1] != last {
		t.Fatalf("records %d..%d (%d)", seqs[0], seqs[len(seqs)-1], len(seqs))
	}
	stop := errors.New("stop")
	n := 0
	if err := r.Records(10, func(rec Record) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Records did not stop: %v %d", err, n)
	}
	r.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("ReadOnly modified the file")
	}
	if _, err := ReadOnly(filepath.Join(t.TempDir(), "none.db")); err == nil {
		t.Fatal("ReadOnly of a missing file succeeded")
	}
	overwrite(t, path, 0, make([]byte, 8192))
	if _, err := ReadOnly(path); err == nil {
		t.Fatal("ReadOnly of a damaged file succeeded")
	}
	if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 0 {
		t.Fatal("ReadOnly moved a damaged file")
	}
}

func TestCompactionShrinksDrainedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	opt := testOptions()
	opt.MaxBytes = 16 << 20
	opt.CompactAbove = 256 << 10
	o := open(t, path, opt)
	var seqs []uint64
	for i := range 40 {
		evs := make([]*wire.Event, 100)
		for j := range evs {
			evs[j] = motion(i*100 + j)
			evs[j].Attrs["pad"] = string(bytes.Repeat([]byte("c"), 300))
		}
		s, err := o.AppendBatch(context.Background(), evs)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s...)
	}
	big := o.Stats()
	if big.FileSize <= opt.CompactAbove {
		t.Fatalf("file only %d bytes", big.FileSize)
	}
	// Ack all but the last: no compaction while records remain.
	if err := o.Ack(seqs[:len(seqs)-1]...); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.FileSize != big.FileSize || st.Depth != 1 {
		t.Fatalf("compacted with records left: %+v", st)
	}
	if err := o.Ack(seqs[len(seqs)-1]); err != nil {
		t.Fatal(err)
	}
	small := o.Stats()
	if small.FileSize >= big.FileSize/4 || small.Depth != 0 || small.NextSeq != big.NextSeq {
		t.Fatalf("after compaction %+v, before %+v", small, big)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("compaction temp file left: %v", err)
	}
	seq, err := o.Append(context.Background(), motion(0))
	if err != nil || seq != big.NextSeq {
		t.Fatalf("append after compaction: %d %v, want %d", seq, err, big.NextSeq)
	}
	o.Close()
	// A stale temp file from a cut-off compaction is ignored and removed.
	os.WriteFile(path+".compact", []byte("half written"), 0o600)
	o = open(t, path, opt)
	if recs := all(t, o); len(recs) != 1 || recs[0].Seq != seq {
		t.Fatalf("after reopen: %v", seqsOf(recs))
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stale compaction file kept")
	}
}

// leafPage finds a page holding records, neither root nor freelist.
func leafPage(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int64
	db.View(func(tx *bolt.Tx) error {
		n := 0
		for i := 2; ; i++ {
			p, err := tx.Page(i)
			if err != nil || p == nil {
				return nil
			}
			if p.Type == "leaf" && p.Count > 5 {
				id = int64(i)
				if n++; n == 3 {
					return nil
				}
			}
		}
	})
	if id == 0 {
		t.Fatal("no leaf page found")
	}
	return id
}
