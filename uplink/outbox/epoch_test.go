package outbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/antt-gateway/antt/uplink/wire"
	bolt "go.etcd.io/bbolt"
)

// epochsOf checks that every record carries epoch and returns their kinds.
func epochsOf(t *testing.T, o *Outbox, epoch string) []string {
	t.Helper()
	var kinds []string
	for _, r := range all(t, o) {
		e := decode(t, r)
		if e.Epoch != epoch {
			t.Fatalf("record %d (%s) carries epoch %q, want %q", r.Seq, e.Kind, e.Epoch, epoch)
		}
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func sidecarEpoch(t *testing.T, path string) string {
	t.Helper()
	_, e, ok, err := readSidecar(path + ".seq")
	if err != nil || !ok {
		t.Fatalf("sidecar: %v (exists %v)", err, ok)
	}
	return e
}

// TestEpochKeptWhileEitherFileSurvives: the epoch is made with the first
// database, carried by every event, written to the sidecar, and kept across
// a restart, a compaction, a damaged database (storage_reset) and a lost
// database; only when both files are gone does a new one begin, at seq 1.
func TestEpochKeptWhileEitherFileSurvives(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	ctx := context.Background()
	opt := testOptions()
	opt.NoSync = true
	opt.MaxBytes = MinMaxBytes
	opt.CompactAbove = 4096
	o, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	epoch := o.Epoch()
	if !wire.ValidEpoch(epoch) || len(epoch) != 16 {
		t.Fatalf("epoch %q: want 16 hexadecimal digits", epoch)
	}
	if st := o.Stats(); st.Epoch != epoch {
		t.Fatalf("Stats.Epoch %q, want %q", st.Epoch, epoch)
	}
	if got := sidecarEpoch(t, path); got != epoch {
		t.Fatalf("sidecar epoch %q, want %q", got, epoch)
	}
	e := motion(1)
	if _, err := o.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	if e.Epoch != epoch {
		t.Fatalf("appended event stamped with epoch %q", e.Epoch)
	}
	epochsOf(t, o, epoch)

	// Restart.
	o.Close()
	o = open(t, path, opt)
	if o.Epoch() != epoch {
		t.Fatalf("epoch after restart %q, want %q", o.Epoch(), epoch)
	}
	// Compaction: fill past CompactAbove, drain.
	var seqs []uint64
	for i := range 40 {
		seq, err := o.Append(ctx, motion(i))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	before := o.Commits()
	if err := o.Ack(append(seqs, 1)...); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() > 32<<10 || o.Commits() == before {
		t.Fatalf("not compacted: file %d bytes", fi.Size())
	}
	if _, err := o.Append(ctx, motion(50)); err != nil {
		t.Fatal(err)
	}
	epochsOf(t, o, epoch)
	o.Close()
	o = open(t, path, opt)
	if o.Epoch() != epoch {
		t.Fatalf("epoch after compaction %q, want %q", o.Epoch(), epoch)
	}
	next := o.Stats().NextSeq
	o.Close()

	// Damaged database: moved aside, storage_reset, same epoch, seq goes on.
	overwrite(t, path, 0, make([]byte, 2*4096))
	o = open(t, path, opt)
	if o.Epoch() != epoch {
		t.Fatalf("epoch after storage reset %q, want %q", o.Epoch(), epoch)
	}
	if kinds := epochsOf(t, o, epoch); len(kinds) != 1 || kinds[0] != wire.KindStorageReset {
		t.Fatalf("after damage: %v, want one storage_reset", kinds)
	}
	if st := o.Stats(); st.NextSeq <= next {
		t.Fatalf("seq went back: %d after %d", st.NextSeq, next)
	}
	o.Close()

	// Database lost, sidecar kept: the same epoch again.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	o = open(t, path, opt)
	if o.Epoch() != epoch {
		t.Fatalf("epoch after losing the database %q, want %q", o.Epoch(), epoch)
	}
	o.Close()

	// Sidecar lost, database kept: the database's epoch, written back.
	if err := os.Remove(path + ".seq"); err != nil {
		t.Fatal(err)
	}
	o = open(t, path, opt)
	if o.Epoch() != epoch || sidecarEpoch(t, path) != epoch {
		t.Fatalf("epoch after losing the sidecar %q (sidecar %q), want %q", o.Epoch(), sidecarEpoch(t, path), epoch)
	}
	o.Close()

	// Both gone (a new SD card): a new epoch, seq from 1.
	for _, p := range []string{path, path + ".seq"} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	o = open(t, path, opt)
	if o.Epoch() == epoch || !wire.ValidEpoch(o.Epoch()) {
		t.Fatalf("new storage kept epoch %q (old %q)", o.Epoch(), epoch)
	}
	seq, err := o.Append(ctx, motion(1))
	if err != nil || seq != 1 {
		t.Fatalf("first seq on new storage %d %v", seq, err)
	}
	epochsOf(t, o, o.Epoch())
}

// TestEpochForFilesFromBeforeEpochs: an old sidecar (a number only) and an
// old database (no epoch key) are read fine; the epoch is created at Open
// and recorded in both, and then kept.
func TestEpochForFilesFromBeforeEpochs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	opt := testOptions()
	opt.NoSync = true
	o := open(t, path, opt)
	for i := range 3 {
		if _, err := o.Append(context.Background(), motion(i)); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	// Make both files look like an older gateway's.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m, recs := tx.Bucket(bucketMeta), tx.Bucket(bucketRecords)
		old := []byte(`,"epoch":"` + string(m.Get(keyEpoch)) + `"`)
		c := recs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := recs.Put(k, bytes.Replace(v, old, nil, 1)); err != nil {
				return err
			}
		}
		return m.Delete(keyEpoch)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.WriteFile(path+".seq", []byte("65537\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	o = open(t, path, opt)
	epoch := o.Epoch()
	if !wire.ValidEpoch(epoch) {
		t.Fatalf("no epoch made for an old database: %q", epoch)
	}
	if o.Stats().Depth != 3 || o.Stats().NextSeq != 4 {
		t.Fatalf("old records not kept: %+v", o.Stats())
	}
	if got := sidecarEpoch(t, path); got != epoch {
		t.Fatalf("sidecar epoch %q, want %q", got, epoch)
	}
	if r, _, _ := readReservation(path + ".seq"); r < 65537 {
		t.Fatalf("reservation moved back to %d", r)
	}
	// Events stored before epochs keep their bytes; new ones carry it.
	if _, err := o.Append(context.Background(), motion(9)); err != nil {
		t.Fatal(err)
	}
	recs := all(t, o)
	if e := decode(t, recs[0]); e.Epoch != "" {
		t.Fatalf("old record rewritten: epoch %q", e.Epoch)
	}
	if e := decode(t, recs[len(recs)-1]); e.Epoch != epoch {
		t.Fatalf("new record epoch %q, want %q", e.Epoch, epoch)
	}
	o.Close()
	o = open(t, path, opt)
	if o.Epoch() != epoch {
		t.Fatalf("epoch not kept in the old database: %q, want %q", o.Epoch(), epoch)
	}
	o.Close()
	// Read-only stats (the "outbox stats" subcommand) show it too.
	r, err := ReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st, err := r.Stats(o.opt.Now())
	if err != nil || st.Epoch != epoch {
		t.Fatalf("read-only stats epoch %q (%v), want %q", st.Epoch, err, epoch)
	}
}

// TestSidecarForms: both sidecar forms parse, a broken epoch line is an
// error naming it, and what formatSidecar writes reads back.
func TestSidecarForms(t *testing.T) {
	for _, c := range []struct {
		in    string
		res   uint64
		epoch string
		bad   bool
	}{
		{"65536\n", 65536, "", false},
		{" 7 \n", 7, "", false},
		{"65536\nepoch 0123456789abcdef\n", 65536, "0123456789abcdef", false},
		{"65536\nepoch \n", 0, "", true},
		{"65536\nepoch ABC\n", 0, "", true},
		{"65536\nsomething else\n", 0, "", true},
		{"x\nepoch 0123456789abcdef\n", 0, "", true},
	} {
		res, epoch, err := parseSidecar([]byte(c.in))
		if (err != nil) != c.bad || res != c.res || epoch != c.epoch {
			t.Errorf("parseSidecar(%q) = %d %q %v", c.in, res, epoch, err)
		}
	}
	res, epoch, err := parseSidecar(formatSidecar(131072, "00ff00ff00ff00ff"))
	if err != nil || res != 131072 || epoch != "00ff00ff00ff00ff" {
		t.Fatalf("round trip: %d %q %v", res, epoch, err)
	}
}
