package clips

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestRetentionHeldNotEvictedByAnnounced (review U1): the byte bound
// summed the announced lengths of every clip, continuous segments never
// fetched among them, which take no disk. A fetched, complete clip was
// deleted to make room for them (100 cameras at 512 kbit/s reach 64 GiB
// of announcements in ~3 h), and so were the index entries of older
// segments, whose later fetch was refused chunk by chunk. The bound counts
// the bytes held; announced-only entries never push a held clip out.
func TestRetentionHeldNotEvictedByAnnounced(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{MaxBytes: 1000, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held := bytes.Repeat([]byte("fetched!"), 75) // 600 bytes
	announce(t, s, "truong-a", "held", held)
	if _, err := s.Put("truong-a", "held", 0, held); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	for i := range 100 {
		now = now.Add(time.Minute)
		for _, gw := range []string{"truong-a", "truong-b"} {
			if err := s.Announce(Info{Gateway: gw, ID: fmt.Sprintf("seg-%03d", i), Camera: "cong", Bytes: 500, SHA256: sum, Upload: "on_request"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st, ok, _ := s.Status("truong-a", "held"); !ok || st.State != Complete {
		t.Fatalf("the fetched clip was deleted to make room for segments nobody fetched: %+v %v", st, ok)
	}
	for _, gw := range []string{"truong-a", "truong-b"} {
		if _, ok, _ := s.Status(gw, "seg-000"); !ok {
			t.Errorf("%s: the oldest announced segment lost its index entry (it takes no disk)", gw)
		}
	}
	// The bound still holds for bytes held: a second fetched clip of 600
	// bytes makes room by deleting the first.
	now = now.Add(time.Hour)
	second := bytes.Repeat([]byte("second.."), 75)
	announce(t, s, "truong-a", "held2", second)
	if _, err := s.Put("truong-a", "held2", 0, second); err != nil {
		t.Fatal(err)
	}
	l, _ := s.List("")
	var have int64
	for _, st := range l {
		have += st.Have
	}
	if have > 1000 {
		t.Errorf("%d bytes held, above the bound of 1000", have)
	}
	if st, _, _ := s.Status("truong-a", "held2"); st.State != Complete {
		t.Errorf("the newest fetched clip: %+v", st)
	}
}

// TestAnnounceDoesNotScanIndex (review U2): every announcement read the
// whole index under the store lock to apply retention (100 000 entries:
// 3 s per announcement, on the publishing gateway's path). Below the
// bounds an announcement, new or repeated, starts no read of the index.
func TestAnnounceDoesNotScanIndex(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	sum := strings.Repeat("ab", 32)
	s := openSeeded(t, Options{MaxBytes: 1 << 40, Now: func() time.Time { return now }}, 2000, func(i int) Info {
		return Info{Gateway: fmt.Sprintf("gw-%d", i%20), ID: fmt.Sprintf("seg-%d", i), Bytes: 4 << 20, SHA256: sum, Added: now.Add(-time.Duration(2000-i) * time.Second)}
	})
	reads := func() int { return s.db.Stats().TxN }
	for i, in := range []Info{
		{Gateway: "gw-x", ID: "new-1", Bytes: 4 << 20, SHA256: sum},
		{Gateway: "gw-x", ID: "new-1", Bytes: 4 << 20, SHA256: sum}, // repeated: changes nothing
		{Gateway: "gw-3", ID: "seg-3", Bytes: 4 << 20, SHA256: sum}, // repeated, from the index
		{Gateway: "gw-x", ID: "new-2", Bytes: 4 << 20, SHA256: sum},
	} {
		before := reads()
		if err := s.Announce(in); err != nil {
			t.Fatal(err)
		}
		if n := reads() - before; n != 0 {
			t.Errorf("announcement %d (%s/%s) below every bound started %d reads of the index", i, in.Gateway, in.ID, n)
		}
	}
}

// TestRetentionAnnouncedBounded (review U1): entries only announced take
// no disk but are bounded apart: by count per gateway and by age, the
// oldest announced going first, never a held clip, never another
// gateway's.
func TestRetentionAnnouncedBounded(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	s, err := Open(t.TempDir(), Options{MaxBytes: 1 << 30, MaxAnnounced: 10, MaxAnnouncedAge: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held := bytes.Repeat([]byte("kept"), 50)
	announce(t, s, "truong-a", "held", held)
	if _, err := s.Put("truong-a", "held", 0, held); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	seg := func(gw string, i int) {
		t.Helper()
		if err := s.Announce(Info{Gateway: gw, ID: fmt.Sprintf("seg-%03d", i), Bytes: 500, SHA256: sum}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		seg("truong-b", i)
	}
	announcedOf := func(gw string) (ids []string) {
		l, _ := s.List(gw)
		for _, st := range l {
			if st.Have == 0 {
				ids = append(ids, st.ID)
			}
		}
		return ids
	}
	for i := range 40 {
		now = now.Add(time.Second)
		seg("truong-a", i)
		if n := len(announcedOf("truong-a")); n > 10+s.countSlack() {
			t.Fatalf("after %d announcements, %d announced-only entries of one gateway, bound 10 (+%d)", i+1, n, s.countSlack())
		}
	}
	a := announcedOf("truong-a")
	if len(a) < 10 || a[len(a)-1] != "seg-039" || a[0] != fmt.Sprintf("seg-%03d", 40-len(a)) {
		t.Errorf("announced-only entries kept: %v, want the newest 10 or so", a)
	}
	if st, _, _ := s.Status("truong-a", "held"); st.State != Complete {
		t.Errorf("a held clip deleted for the count of announced entries: %+v", st)
	}
	if b := announcedOf("truong-b"); len(b) != 3 {
		t.Errorf("another gateway's entries: %v", b)
	}
	// Past MaxAnnouncedAge they go; the held clip stays (MaxAge is 90 days).
	now = now.Add(2 * time.Hour)
	seg("truong-c", 0)
	if a, b := announcedOf("truong-a"), announcedOf("truong-b"); len(a)+len(b) != 0 {
		t.Errorf("announced-only entries older than MaxAnnouncedAge kept: %v %v", a, b)
	}
	if st, _, _ := s.Status("truong-a", "held"); st.State != Complete {
		t.Errorf("a held clip deleted for the age of announced entries: %+v", st)
	}
	if c := announcedOf("truong-c"); len(c) != 1 {
		t.Errorf("the new announcement: %v", c)
	}
}

// The running totals are read back from the index at Open: a store
// reopened above its byte bound prunes at the next chunk.
func TestRetentionTotalsAfterReopen(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	opts := Options{MaxBytes: 1 << 20, Now: func() time.Time { return now }}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		now = now.Add(time.Hour)
		d := bytes.Repeat([]byte{byte(i)}, 300)
		announce(t, s, "gw1", fmt.Sprintf("c%d", i), d)
		if _, err := s.Put("gw1", fmt.Sprintf("c%d", i), 0, d); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	opts.MaxBytes = 700
	if s, err = Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.tot.held != 900 || s.tot.heldGW["gw1"] != 900 {
		t.Fatalf("totals read back: %+v", s.tot)
	}
	now = now.Add(time.Hour)
	d := []byte("a fourth clip")
	announce(t, s, "gw1", "c3", d)
	if _, err := s.Put("gw1", "c3", 0, d); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Status("gw1", "c0"); ok {
		t.Error("the least recently stored clip kept above the bound")
	}
	if s.tot.held > 700 {
		t.Errorf("%d bytes held after pruning, bound 700", s.tot.held)
	}
}

// BenchmarkAnnounceAtCountBound measures an announcement of a gateway at
// its bound of announced-only entries (DefaultMaxAnnounced, a week of ten
// cameras' minute segments): each drops the oldest, the index read once
// per slack (1/16 of the bound) and the cost spread over those.
func BenchmarkAnnounceAtCountBound(b *testing.B) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	sum := strings.Repeat("ab", 32)
	n := DefaultMaxAnnounced
	s := openSeeded(b, Options{MaxBytes: 1 << 50, Now: func() time.Time { return now }}, n, func(i int) Info {
		return Info{Gateway: "gw-1", ID: fmt.Sprintf("seg-%d", i), Camera: "cong", Bytes: 4 << 20, SHA256: sum,
			Start: now.Format(time.RFC3339), Duration: 60000, Upload: "on_request", Added: now.Add(-time.Duration(n-i) * time.Second)}
	})
	var worst time.Duration // the announcement that pruned: how long the gateway's path waited
	b.ResetTimer()
	for i := range b.N {
		now = now.Add(time.Second)
		t0 := time.Now()
		if err := s.Announce(Info{Gateway: "gw-1", ID: fmt.Sprintf("new-%d", i), Bytes: 4 << 20, SHA256: sum}); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
	if l := s.tot.announced["gw-1"]; l > n+s.countSlack() {
		b.Fatalf("%d announced-only entries, bound %d", l, n)
	}
}

// The running totals stay equal to the index while announcements, chunks
// and retention passes run at once.
func TestRetentionTotalsUnderConcurrency(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MaxBytes: 2000, MaxAnnounced: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum := strings.Repeat("ab", 32)
	var wg sync.WaitGroup
	for _, gw := range []string{"seg-a", "seg-b"} {
		wg.Go(func() {
			for i := range 200 {
				if err := s.Announce(Info{Gateway: gw, ID: fmt.Sprintf("s-%d", i), Bytes: 500, SHA256: sum}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for _, gw := range []string{"seg-a", "up-c"} {
		wg.Go(func() {
			for i := range 40 {
				id, d := fmt.Sprintf("u-%d", i), bytes.Repeat([]byte{byte(i)}, 100)
				if err := s.Announce(Info{Gateway: gw, ID: id, Bytes: 100, SHA256: sha(d)}); err != nil {
					t.Error(err)
					return
				}
				for off := 0; off < 100; off += 50 {
					if _, err := s.Put(gw, id, int64(off), d[off:off+50]); err != nil && !errors.Is(err, ErrRefused) {
						t.Error(err) // refused: deleted by retention before its chunk
						return
					}
				}
			}
		})
	}
	wg.Wait()
	l, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	want := totals{heldGW: map[string]int64{}, announced: map[string]int{}}
	for _, st := range l {
		if n := charge(&st); n > 0 {
			want.held += n
			want.heldGW[st.Gateway] += n
		}
		if announcedOnly(&st) {
			want.announced[st.Gateway]++
		}
	}
	s.totMu.Lock()
	got := s.tot
	s.totMu.Unlock()
	if got.held != want.held || fmt.Sprint(got.heldGW) != fmt.Sprint(want.heldGW) || fmt.Sprint(got.announced) != fmt.Sprint(want.announced) {
		t.Errorf("running totals %d %v %v, the index %d %v %v", got.held, got.heldGW, got.announced, want.held, want.heldGW, want.announced)
	}
	s.Prune()
	for gw, n := range s.tot.announced {
		if n > 20 {
			t.Errorf("%s: %d announced-only entries after Prune, bound 20", gw, n)
		}
	}
	if s.tot.held > 2000 {
		t.Errorf("%d bytes held after Prune, bound 2000", s.tot.held)
	}
}

// openSeeded opens a store in a new directory whose index holds n
// announced-only entries (entry(i), none of their bytes held), written
// in one transaction straight to the index, and reopens it so that it
// reads its running totals from them; it is closed when the test ends.
func openSeeded(tb testing.TB, opts Options, n int, entry func(i int) Info) *Store {
	tb.Helper()
	dir := tb.TempDir()
	s, err := Open(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		for i := range n {
			in := entry(i)
			if err := put(tx, &Status{Info: in, State: Missing, Spans: [][2]int64{}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, opts); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
