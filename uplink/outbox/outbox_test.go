package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

const gw = "cong-khu-3"

func testOptions() Options {
	return Options{Gateway: gw, Boot: "boot-1", Logger: slog.New(slog.DiscardHandler)}
}

func open(t testing.TB, path string, opt Options) *Outbox {
	t.Helper()
	o, err := Open(path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func motion(i int) *wire.Event {
	return &wire.Event{Kind: wire.KindMotion, Source: "gate-pir", State: wire.StateActive,
		Time: time.Date(2026, 11, 28, 13, 0, 0, i, time.UTC), ClockSynced: true, UptimeMS: int64(i), Boot: "boot-1",
		Attrs: map[string]any{"i": i}}
}

func all(t testing.TB, o *Outbox) []Record {
	t.Helper()
	recs, err := o.Peek(0, 1<<30)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	return recs
}

func decode(t testing.TB, r Record) wire.Event {
	t.Helper()
	var e wire.Event
	if err := json.Unmarshal(r.Data, &e); err != nil {
		t.Fatalf("record %d: %v", r.Seq, err)
	}
	if e.Seq != r.Seq || e.ID != wire.EventID(gw, r.Seq) {
		t.Fatalf("record %d carries seq %d id %q", r.Seq, e.Seq, e.ID)
	}
	return e
}

func TestAppendPeekAckOrderAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, testOptions())
	ctx := context.Background()
	var seqs []uint64
	for i := range 10 {
		e := motion(i)
		seq, err := o.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != seq || e.ID != fmt.Sprintf("%s/%d", gw, seq) {
			t.Fatalf("event not stamped: seq %d id %q (returned %d)", e.Seq, e.ID, seq)
		}
		// The stored bytes are exactly what json.Marshal makes of the event.
		want, _ := json.Marshal(e)
		recs, _ := o.Peek(seq-1, 1)
		if len(recs) != 1 || string(recs[0].Data) != string(want) {
			t.Fatalf("stored %v, want %q", recs, want)
		}
		seqs = append(seqs, seq)
	}
	if seqs[0] != 1 || !slices.IsSorted(seqs) {
		t.Fatalf("seqs %v", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("gap in %v", seqs)
		}
	}
	recs, _ := o.Peek(3, 4)
	if len(recs) != 4 || recs[0].Seq != 4 || recs[3].Seq != 7 {
		t.Fatalf("Peek(3,4) = %v", recs)
	}
	for i, r := range recs {
		if e := decode(t, r); e.Attrs["i"] != float64(3+i) {
			t.Fatalf("record %d holds %v", r.Seq, e.Attrs)
		}
	}
	if err := o.Ack(1, 2, 5, 999, 2); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack(1); err != nil { // idempotent
		t.Fatal(err)
	}
	got := seqsOf(all(t, o))
	if want := []uint64{3, 4, 6, 7, 8, 9, 10}; !slices.Equal(got, want) {
		t.Fatalf("after ack: %v, want %v", got, want)
	}
	st := o.Stats()
	if st.Depth != 7 || st.NextSeq != 11 || st.Bytes <= 0 || st.FileSize <= 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(ctx, motion(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}

	o = open(t, path, testOptions())
	if got2 := seqsOf(all(t, o)); !slices.Equal(got2, got) {
		t.Fatalf("after restart: %v, want %v", got2, got)
	}
	if st2 := o.Stats(); st2.Depth != st.Depth || st2.Bytes != st.Bytes || st2.NextSeq != 11 {
		t.Fatalf("stats after restart %+v, before %+v", st2, st)
	}
	// Ack everything, restart: the counter still does not go back.
	if err := o.Ack(seqsOf(all(t, o))...); err != nil {
		t.Fatal(err)
	}
	o.Close()
	o = open(t, path, testOptions())
	seq, err := o.Append(ctx, motion(0))
	if err != nil || seq != 11 {
		t.Fatalf("first append after restart: %d %v, want 11", seq, err)
	}
}

func seqsOf(recs []Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return s
}

func TestNotify(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	select {
	case <-o.Notify():
		t.Fatal("notified before any append")
	default:
	}
	if _, err := o.Append(context.Background(), motion(1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.Notify():
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after a commit")
	}
	if err := o.Ack(1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-o.Notify():
		t.Fatal("notified by an ack")
	default:
	}
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	const n = 1000
	before := o.Commits()
	start := make(chan struct{})
	seqs := make([]uint64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			seqs[i], errs[i] = o.Append(context.Background(), motion(i))
		})
	}
	// Peek, Stats and Ack run alongside.
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := o.Peek(0, 50); err != nil {
				t.Error(err)
				return
			}
			_ = o.Stats()
		}
	})
	close(start)
	wg.Wait()
	close(stop)
	side.Wait()
	commits := o.Commits() - before
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("seqs not unique and contiguous: position %d holds %d", i, s)
		}
	}
	recs := all(t, o)
	if len(recs) != n {
		t.Fatalf("%d records stored, want %d", len(recs), n)
	}
	for _, r := range recs {
		decode(t, r)
	}
	t.Logf("%d concurrent appends took %d commits", n, commits)
	if commits > 20 {
		t.Fatalf("%d concurrent appends took %d commits, want ≤ 20", n, commits)
	}
}

func TestAppendBatch(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	evs := []*wire.Event{motion(1), motion(2), motion(3)}
	before := o.Commits()
	seqs, err := o.AppendBatch(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3}) || o.Commits()-before != 1 {
		t.Fatalf("seqs %v in %d commits", seqs, o.Commits()-before)
	}
	for i, e := range evs {
		if e.Seq != seqs[i] {
			t.Fatalf("event %d stamped %d", i, e.Seq)
		}
	}
	big := motion(0)
	big.Attrs["blob"] = strings.Repeat("x", 100<<10)
	if _, err := o.Append(context.Background(), big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized event: %v", err)
	}
}

func TestAppendCancelled(t *testing.T) {
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), testOptions())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := motion(1)
	if _, err := o.Append(ctx, e); !errors.Is(err, context.Canceled) {
		// The request may have been taken before ctx was seen; then it committed.
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Append(context.Background(), motion(2)); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "a.db"), Options{Gateway: "Bad/ID"}); err == nil {
		t.Fatal("invalid gateway id accepted")
	}
	if _, err := Open(filepath.Join(dir, "b.db"), Options{Gateway: gw, MaxBytes: 1000}); err == nil {
		t.Fatal("tiny MaxBytes accepted")
	}
	if _, err := Open(filepath.Join(dir, "missing", "c.db"), testOptions()); err == nil {
		t.Fatal("open in a missing directory succeeded")
	}
}

func TestSeqReservationSidecar(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := open(t, path, testOptions())
	if _, err := o.Append(context.Background(), motion(1)); err != nil {
		t.Fatal(err)
	}
	r, ok, err := readReservation(path + ".seq")
	if err != nil || !ok || r <= 1 {
		t.Fatalf("reservation %d %v %v", r, ok, err)
	}
	// Force the counter across the reservation and check it moves ahead
	// before the crossing seq is committed.
	o.Close()
	if err := writeFileAtomic(path+".seq", []byte("3\n"), true); err != nil {
		t.Fatal(err)
	}
	o = open(t, path, testOptions())
	for i := range 5 {
		seq, err := o.Append(context.Background(), motion(i))
		if err != nil {
			t.Fatal(err)
		}
		r, _, _ := readReservation(path + ".seq")
		if seq >= r {
			t.Fatalf("seq %d committed at or beyond reservation %d", seq, r)
		}
	}
}

// TestMain doubles as the crash test's child process.
func TestMain(m *testing.M) {
	if p := os.Getenv("OUTBOX_CRASH_CHILD"); p != "" {
		crashChild(p)
		return
	}
	if p := os.Getenv("OUTBOX_COMPACT_CHILD"); p != "" {
		compactChild(p)
		return
	}
	if p := os.Getenv(envAttachChild); p != "" {
		attachChild(p)
		return
	}
	os.Exit(m.Run())
}

var _ = io.Discard
