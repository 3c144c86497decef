package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/device/camera/snapshot"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

func openWith(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "events.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func epochEv(gw, epoch string, seq uint64, kind string) []byte {
	b, err := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(gw, seq), Epoch: epoch, Kind: kind,
		Time: time.Unix(1_800_000_000, 0).UTC(), Boot: "b1"})
	if err != nil {
		panic(err)
	}
	return b
}

func mustAdd(t *testing.T, s *Store, gw, rest string, payload []byte) Result {
	t.Helper()
	r, err := s.Add(gw, rest, payload)
	if err != nil {
		t.Fatalf("add %s %s: %v", gw, rest, err)
	}
	return r
}

func setHook(s *Store, h func() error) {
	if h == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&h)
}

// Many submissions from many goroutines go into few commits, each done is
// called once, and those of one submitter in its order.
func TestGroupCommit(t *testing.T) {
	s := openWith(t, Options{CommitDelay: 5 * time.Millisecond})
	const gws, per = 8, 250
	var wg sync.WaitGroup
	orders := make([][]uint64, gws)
	var mu sync.Mutex
	var calls atomic.Int64
	for g := range gws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw := fmt.Sprintf("gw-%d", g)
			var inner sync.WaitGroup
			for seq := uint64(1); seq <= per; seq++ {
				inner.Add(1)
				s.Submit(gw, wire.TopicEvent, epochEv(gw, "", seq, wire.KindMotion), func(r Result, err error) {
					defer inner.Done()
					calls.Add(1)
					if err != nil || r.Status != New {
						t.Errorf("%s/%d: %+v %v", gw, seq, r, err)
					}
					mu.Lock()
					orders[g] = append(orders[g], r.Event.Seq)
					mu.Unlock()
				})
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	if calls.Load() != gws*per {
		t.Fatalf("%d done calls, want %d", calls.Load(), gws*per)
	}
	for g, o := range orders {
		for i, seq := range o {
			if seq != uint64(i+1) {
				t.Fatalf("gw-%d: done order %v...", g, o[:min(len(o), i+3)])
			}
		}
	}
	st := s.Stats()
	if st.Requests != gws*per || st.Commits > gws*per/10 {
		t.Fatalf("stats %+v: want %d requests in at most %d commits", st, gws*per, gws*per/10)
	}
	t.Logf("%d requests in %d commits", st.Requests, st.Commits)
	c, _ := s.Counters("")
	if c.Received != gws*per || c.GapsUnexplained != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// A failed commit fails every request of its batch and stores none of
// them; the same payloads sent again are stored once.
func TestFailedCommitFailsBatch(t *testing.T) {
	s := openWith(t, Options{})
	mustAdd(t, s, "a", wire.TopicEvent, epochEv("a", "", 1, wire.KindMotion))
	before, _ := s.LastArrival()

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	setHook(s, func() error {
		once.Do(func() { close(entered) })
		<-release
		return errors.New("disk on fire")
	})
	errs := make(chan error, 4)
	// The first request holds the writer in the hook; the next three queue
	// up and form the second batch.
	s.Submit("a", wire.TopicEvent, epochEv("a", "", 2, wire.KindMotion), func(_ Result, err error) { errs <- err })
	<-entered
	s.Submit("a", wire.TopicEvent, epochEv("a", "", 3, wire.KindMotion), func(_ Result, err error) { errs <- err })
	s.Submit("a", wire.TopicSnapshot+"/3", []byte("\xff\xd8jpeg"), func(_ Result, err error) { errs <- err })
	s.Submit("b", wire.TopicEvent, epochEv("b", "", 1, wire.KindMotion), func(_ Result, err error) { errs <- err })
	commits := s.Stats().Commits
	close(release)
	for range 4 {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "disk on fire") || errors.Is(err, ErrInvalid) {
			t.Fatalf("err %v, want the commit's error", err)
		}
	}
	if got := s.Stats().Commits - commits; got != 2 {
		t.Fatalf("%d commits, want 2 (the first request alone, then the three queued)", got)
	}
	if n, _ := s.LastArrival(); n != before {
		t.Fatalf("arrival moved from %d to %d by failed commits", before, n)
	}
	for _, k := range [][2]any{{"a", uint64(2)}, {"a", uint64(3)}, {"b", uint64(1)}} {
		if _, ok, _ := s.Event(k[0].(string), "", k[1].(uint64)); ok {
			t.Fatalf("event %v stored by a failed commit", k)
		}
	}
	if _, ok, _ := s.Snapshot("a", "", 3); ok {
		t.Fatal("snapshot stored by a failed commit")
	}

	setHook(s, nil)
	for _, seq := range []uint64{2, 3} {
		if r := mustAdd(t, s, "a", wire.TopicEvent, epochEv("a", "", seq, wire.KindMotion)); r.Status != New {
			t.Fatalf("resent %d: %+v", seq, r)
		}
	}
	if c, _ := s.Counters("a"); c.Received != 3 || c.Duplicates != 0 || c.GapsUnexplained != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// An invalid payload is kept in quarantine and then answered with
// ErrInvalid (in submission order, after its entry is committed), and does
// not fail the valid requests around it; the quarantine lists each one
// with its error, size and checksum, the start of a large one, and keeps
// only the newest MaxQuarantined.
func TestInvalidQuarantined(t *testing.T) {
	s := openWith(t, Options{})
	var wg sync.WaitGroup
	ok := func(_ Result, err error) {
		defer wg.Done()
		if err != nil {
			t.Errorf("valid request failed: %v", err)
		}
	}
	wg.Add(1)
	s.Submit("a", wire.TopicEvent, epochEv("a", "", 1, wire.KindMotion), ok)
	bigEvent := `{"seq":2,"id":"a/2","kind":"motion","attrs":{"x":"` + strings.Repeat("x", MaxEventBytes) + `"}}`
	cases := []struct{ name, gw, rest, payload, why string }{
		{"not json", "a", "event", "{", "unexpected end"},
		{"wrong id", "a", "event", `{"seq":2,"id":"b/2"}`, `want "a/2"`},
		{"bad epoch", "a", "event", `{"seq":2,"id":"a/2","epoch":"Not-Valid"}`, "epoch"},
		{"long epoch", "a", "event", `{"seq":2,"id":"a/2","epoch":"` + strings.Repeat("a", 33) + `"}`, "epoch"},
		{"snapshot seq 0", "a", "snapshot/0", "x", "snapshot/{seq}"},
		{"snapshot seq 07", "a", "snapshot/07", "x", "snapshot/{seq}"},
		{"snapshot seq x", "a", "snapshot/x", "x", "snapshot/{seq}"},
		{"snapshot empty", "a", "snapshot/2", "", "empty"},
		{"snapshot deep", "a", "snapshot/2/3", "x", "snapshot/{seq}"},
		{"other topic", "a", "telemetry", "{}", "not stored"},
		{"bad gateway", "A", "event", `{"seq":1,"id":"A/1"}`, "gateway id"},
		{"event too big", "a", "event", bigEvent, fmt.Sprintf("limit %d", MaxEventBytes)},
	}
	var order []string
	var mu sync.Mutex
	for _, c := range cases {
		wg.Add(1)
		s.Submit(c.gw, c.rest, []byte(c.payload), func(_ Result, err error) {
			defer wg.Done()
			mu.Lock()
			order = append(order, c.name)
			mu.Unlock()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("%s: err %v, want ErrInvalid saying %q", c.name, err, c.why)
			}
		})
	}
	big := bytes.Repeat([]byte{0xff}, MaxSnapshotBytes+1)
	if _, err := s.Add("a", "snapshot/1", big); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized snapshot: %v", err)
	}
	wg.Add(1)
	s.Submit("a", wire.TopicEvent, epochEv("a", "", 2, wire.KindMotion), ok)
	wg.Wait()
	for i, c := range cases {
		if order[i] != c.name {
			t.Fatalf("answered in the order %q", order)
		}
	}
	if c, _ := s.Counters("a"); c.Received != 2 || c.Snapshots != 0 {
		t.Fatalf("counters %+v", c)
	}
	qs, err := s.Quarantine(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != len(cases)+1 {
		t.Fatalf("%d quarantine entries, want %d", len(qs), len(cases)+1)
	}
	for i, c := range cases {
		q := qs[i]
		sum := sha256.Sum256([]byte(c.payload))
		if q.N != uint64(i+1) || q.Gateway != c.gw || q.Topic != c.rest || !strings.Contains(q.Error, c.why) ||
			q.Bytes != len(c.payload) || q.SHA256 != hex.EncodeToString(sum[:]) || q.Time.IsZero() {
			t.Errorf("%s: entry %+v", c.name, q)
		}
		if want := c.payload[:min(len(c.payload), MaxQuarantinePayload)]; q.Payload != want || q.Truncated != (len(c.payload) > MaxQuarantinePayload) {
			t.Errorf("%s: payload %.40q (truncated %v)", c.name, q.Payload, q.Truncated)
		}
	}
	if q := qs[len(cases)]; q.Payload != "" || len(q.PayloadB64) != MaxQuarantinePayload || !q.Truncated || q.Bytes != len(big) {
		t.Errorf("binary snapshot: entry %+v", q)
	}
	// Only the newest MaxQuarantined are kept.
	for range MaxQuarantined {
		if _, err := s.Add("a", "event", []byte("[]")); !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	}
	qs, err = s.Quarantine(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := uint64(len(cases) + 1 + MaxQuarantined); len(qs) != MaxQuarantined || qs[0].N != last-MaxQuarantined+1 || qs[len(qs)-1].N != last {
		t.Fatalf("%d entries kept, %d to %d", len(qs), qs[0].N, qs[len(qs)-1].N)
	}
}

func TestSnapshotLimitMatchesGateway(t *testing.T) {
	if MaxSnapshotBytes != snapshot.DefaultMaxBytes {
		t.Fatalf("station accepts %d-byte snapshots, the gateway sends up to %d", MaxSnapshotBytes, snapshot.DefaultMaxBytes)
	}
}

// A new epoch of a known gateway records a notice with the old epoch's
// last seq; seqs, duplicates and gaps are kept per epoch.
func TestEpochs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if r := mustAdd(t, s, "a", "event", epochEv("a", "", seq, wire.KindMotion)); r.Notice != nil {
			t.Fatalf("notice for the first epoch: %+v", r.Notice)
		}
	}
	r := mustAdd(t, s, "a", "event", epochEv("a", "e1", 1, wire.KindBoot))
	if r.Status != New || r.Notice == nil || len(r.NewGaps) != 0 {
		t.Fatalf("first event of e1: %+v", r)
	}
	want := Notice{Gateway: "a", Kind: NoticeStorageReplaced, OldEpoch: "", OldLastSeq: 3, NewEpoch: "e1", Time: r.Notice.Time}
	if *r.Notice != want {
		t.Fatalf("notice %+v, want %+v", *r.Notice, want)
	}
	mustAdd(t, s, "a", "event", epochEv("a", "e1", 2, wire.KindMotion))
	if r := mustAdd(t, s, "a", "event", epochEv("a", "e1", 1, wire.KindBoot)); r.Status != Duplicate {
		t.Fatalf("e1/1 again: %+v", r)
	}
	// The old epoch is still its own: its seq 2 is a duplicate there.
	if r := mustAdd(t, s, "a", "event", epochEv("a", "", 2, wire.KindMotion)); r.Status != Duplicate || r.Notice != nil {
		t.Fatalf("old epoch's 2 again: %+v", r)
	}
	// A duplicate is not stored: the current epoch stays e1, which the
	// notice of a third epoch names.
	r = mustAdd(t, s, "a", "event", epochEv("a", "e2", 5, wire.KindMotion))
	if r.Notice == nil || r.Notice.OldEpoch != "e1" || r.Notice.OldLastSeq != 2 || gapsString(r.NewGaps) != "1-4" || r.NewGaps[0].Epoch != "e2" {
		t.Fatalf("e2/5: notice %+v gaps %q", r.Notice, gapsString(r.NewGaps))
	}
	// Another gateway's first epoch is no replacement.
	if r := mustAdd(t, s, "b", "event", epochEv("b", "f1", 1, wire.KindMotion)); r.Notice != nil {
		t.Fatalf("notice for b: %+v", r.Notice)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eps, _ := s.Epochs("a")
	if len(eps) != 3 || eps[0].Epoch != "" || eps[0].MaxSeq != 3 || eps[1].Epoch != "e1" || eps[1].MaxSeq != 2 || !eps[2].Current {
		t.Fatalf("epochs %+v", eps)
	}
	recs, _ := s.After(0, 0)
	var notices []Notice
	for _, rec := range recs {
		if rec.Type == RecordNotice {
			notices = append(notices, *rec.Notice)
		}
	}
	if len(notices) != 2 || notices[0].NewEpoch != "e1" || notices[1].NewEpoch != "e2" {
		t.Fatalf("notices after reopen %+v", notices)
	}
	c, _ := s.Counters("a")
	if c.Epochs != 3 || c.Received != 6 || c.Duplicates != 2 || c.MissingUnexplained != 4 {
		t.Fatalf("counters %+v", c)
	}
	if raw, ok, _ := s.Event("a", "e1", 2); !ok || !bytes.Equal(raw, epochEv("a", "e1", 2, wire.KindMotion)) {
		t.Fatalf("e1/2: %s %v", raw, ok)
	}
}

// Records come in arrival order (gaps opened by an event before it, gaps
// it explained after), page by After, and Changed is closed by a commit.
func TestArrivals(t *testing.T) {
	s := openWith(t, Options{})
	ch := s.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any commit")
	default:
	}
	mustAdd(t, s, "a", "event", epochEv("a", "", 1, wire.KindMotion))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed by a commit")
	}
	ch = s.Changed()
	mustAdd(t, s, "a", "event", epochEv("a", "", 5, wire.KindMotion))
	ov := map[string]any{"dropped": 3, "first_seq": 2, "last_seq": 4}
	b, _ := json.Marshal(wire.Event{Seq: 6, ID: "a/6", Kind: wire.KindOutboxOverflow, Attrs: ov})
	mustAdd(t, s, "a", "event", b)
	mustAdd(t, s, "a", "snapshot/6", []byte("jpeg6"))
	// A duplicate and an invalid payload add no record.
	mustAdd(t, s, "a", "event", epochEv("a", "", 1, wire.KindMotion))
	<-ch

	var got []string
	var last uint64
	for {
		page, err := s.After(last, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if r.Arrival != last+1 {
				t.Fatalf("arrival %d after %d", r.Arrival, last)
			}
			last = r.Arrival
			switch r.Type {
			case RecordEvent:
				var e wire.Event
				if err := json.Unmarshal(r.Event, &e); err != nil || e.Seq != r.Seq {
					t.Fatalf("record %+v: event %s", r, r.Event)
				}
				got = append(got, fmt.Sprintf("event %d", r.Seq))
			case RecordGap:
				got = append(got, fmt.Sprintf("gap %d-%d explained=%v later=%v", r.Gap.First, r.Gap.Last, r.Gap.Explained, r.Later))
			case RecordSnapshot:
				got = append(got, fmt.Sprintf("snapshot %d %d", r.Seq, r.Bytes))
			default:
				got = append(got, r.Type)
			}
		}
	}
	want := []string{"event 1", "gap 2-4 explained=false later=false", "event 5", "event 6",
		"gap 2-4 explained=true later=true", "snapshot 6 5"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("records\n %q\nwant\n %q", got, want)
	}
	if n, _ := s.LastArrival(); n != last {
		t.Fatalf("last arrival %d, read up to %d", n, last)
	}
}

// Snapshots belong to the gateway's current epoch, are found by their
// event whichever came first, and are kept within the byte and age bounds.
func TestSnapshots(t *testing.T) {
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	s := openWith(t, Options{SnapshotMaxBytes: MaxSnapshotBytes, SnapshotMaxAge: time.Hour})
	s.now = func() time.Time { return *clock.Load() }

	mustAdd(t, s, "a", "event", epochEv("a", "e1", 7, wire.KindMotion))
	jpeg := []byte("\xff\xd8 seven")
	r := mustAdd(t, s, "a", "snapshot/7", jpeg)
	if !r.Snapshot || r.Status != New || r.Event.Epoch != "e1" {
		t.Fatalf("snapshot 7: %+v", r)
	}
	got, ok, _ := s.Snapshot("a", "e1", 7)
	info, iok, _ := s.SnapshotInfo("a", "e1", 7)
	sum := sha256.Sum256(jpeg)
	if !ok || !bytes.Equal(got, jpeg) || !iok || info.Bytes != len(jpeg) || info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("snapshot read back %q %v, info %+v %v", got, ok, info, iok)
	}
	if r := mustAdd(t, s, "a", "snapshot/7", []byte("other")); r.Status != Duplicate || !r.Conflict {
		t.Fatalf("second snapshot 7: %+v", r)
	}
	// Before its event (no event of b yet): epoch "", linked once it comes.
	mustAdd(t, s, "b", "snapshot/9", []byte("nine"))
	mustAdd(t, s, "b", "event", epochEv("b", "", 9, wire.KindMotion))
	if _, ok, _ := s.SnapshotInfo("b", "", 9); !ok {
		t.Fatal("snapshot stored before its event is not found by it")
	}

	// Bytes: 1.5 MiB each, bound 4 MiB: the third pushes the oldest out.
	big := func(c byte) []byte { return bytes.Repeat([]byte{c}, 3<<19) }
	for seq := uint64(10); seq <= 12; seq++ {
		mustAdd(t, s, "a", "event", epochEv("a", "e1", seq, wire.KindMotion))
		mustAdd(t, s, "a", fmt.Sprintf("snapshot/%d", seq), big(byte(seq)))
	}
	for seq, want := range map[uint64]bool{7: false, 10: false, 11: true, 12: true} {
		if _, ok, _ := s.Snapshot("a", "e1", seq); ok != want {
			t.Errorf("snapshot %d kept=%v, want %v", seq, ok, want)
		}
	}
	c, _ := s.Counters("")
	if c.SnapshotBytes > MaxSnapshotBytes || c.Snapshots != 2 || c.SnapshotBytes != 2*3<<19 {
		t.Fatalf("counters %+v", c)
	}
	// b/9 was older than a/10 but small; it went first, oldest first.
	if _, ok, _ := s.Snapshot("b", "", 9); ok {
		t.Error("older snapshot b/9 kept while newer ones were deleted")
	}

	// Age: an hour later, the next commit deletes the old ones.
	later := now.Add(time.Hour + time.Second)
	clock.Store(&later)
	mustAdd(t, s, "a", "event", epochEv("a", "e1", 13, wire.KindMotion))
	if _, ok, _ := s.Snapshot("a", "e1", 12); ok {
		t.Fatal("snapshot past its age kept")
	}
	if c, _ := s.Counters(""); c.Snapshots != 0 || c.SnapshotBytes != 0 {
		t.Fatalf("counters after age pruning %+v", c)
	}
	// Without traffic the writer's ticker asks agedSnapshots.
	mustAdd(t, s, "a", "snapshot/13", []byte("x"))
	if s.agedSnapshots() {
		t.Fatal("a new snapshot counted as aged")
	}
	evenLater := later.Add(2 * time.Hour)
	clock.Store(&evenLater)
	if !s.agedSnapshots() {
		t.Fatal("agedSnapshots does not see an old snapshot")
	}
	// Events are never deleted.
	if _, ok, _ := s.Event("a", "e1", 10); !ok {
		t.Fatal("event deleted with its snapshot")
	}
}

// writeOldLayout writes a file as package eventlog did.
func writeOldLayout(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		root, _ := tx.CreateBucket([]byte("gateways"))
		g, _ := root.CreateBucket([]byte("a"))
		ev, _ := g.CreateBucket([]byte("events"))
		for _, seq := range []uint64{5, 1, 2} {
			if err := ev.Put(be(seq), epochEv("a", "", seq, wire.KindMotion)); err != nil {
				return err
			}
		}
		gaps, _ := g.CreateBucket([]byte("gaps"))
		gv, _ := json.Marshal(Gap{Gateway: "a", First: 3, Last: 4})
		gaps.Put(be(3), gv)
		g.CreateBucket([]byte("explain"))
		g.Put([]byte("max_seq"), be(5))
		g.Put([]byte("received"), be(3))
		g.Put([]byte("duplicates"), be(1))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A file of package eventlog's layout is migrated at open: its events
// become epoch "" and carry on.
func TestMigrateEventlog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	writeOldLayout(t, path)
	if _, err := Open(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("read-only open of the old layout: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, _ := s.Counters("a")
	if c.Received != 3 || c.Duplicates != 1 || c.MaxSeq != 5 || c.GapsUnexplained != 1 || c.Epochs != 1 {
		t.Fatalf("counters after migration %+v", c)
	}
	if gs, _ := s.Gaps("a"); gapsString(gs) != "3-4" || gs[0].Epoch != "" {
		t.Fatalf("gaps %+v", gs)
	}
	recs, _ := s.After(0, 0)
	var seqs []uint64
	for _, r := range recs {
		if r.Type != RecordEvent || r.Event == nil {
			t.Fatalf("record %+v", r)
		}
		seqs = append(seqs, r.Seq)
	}
	if fmt.Sprint(seqs) != "[1 2 5]" {
		t.Fatalf("migrated arrivals %v", seqs)
	}
	// The console reads from the last arrival down, and a new record must
	// not take a migrated one's number.
	if n, err := s.LastArrival(); err != nil || n != uint64(len(recs)) {
		t.Fatalf("last arrival after migration %d (%v), want %d", n, err, len(recs))
	}
	if r := mustAdd(t, s, "a", "event", epochEv("a", "", 2, wire.KindMotion)); r.Status != Duplicate {
		t.Fatalf("old event again: %+v", r)
	}
	if r := mustAdd(t, s, "a", "event", epochEv("a", "", 4, wire.KindMotion)); !r.Late {
		t.Fatalf("late fill: %+v", r)
	}
	r := mustAdd(t, s, "a", "event", epochEv("a", "e1", 1, wire.KindBoot))
	if r.Notice == nil || r.Notice.OldEpoch != "" || r.Notice.OldLastSeq != 5 {
		t.Fatalf("notice %+v", r.Notice)
	}
	if recs, _ := s.After(0, 0); len(recs) < 3 || recs[0].Seq != 1 || recs[0].Gateway != "a" || recs[0].Epoch != "" {
		t.Fatalf("the first migrated record after new ones: %+v", recs)
	}
}

// Close commits what is queued; Submit after Close fails at once.
func TestCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path, Options{CommitDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var stored atomic.Int32
	for seq := uint64(1); seq <= 50; seq++ {
		s.Submit("a", "event", epochEv("a", "", seq, wire.KindMotion), func(_ Result, err error) {
			if err == nil {
				stored.Add(1)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if stored.Load() != 50 {
		t.Fatalf("%d of 50 committed by Close", stored.Load())
	}
	if _, err := s.Add("a", "event", epochEv("a", "", 51, wire.KindMotion)); !errors.Is(err, ErrClosed) {
		t.Fatalf("add after close: %v", err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if c, _ := ro.Counters("a"); c.Received != 50 {
		t.Fatalf("read-only counters %+v", c)
	}
	if _, err := ro.Add("a", "event", epochEv("a", "", 51, wire.KindMotion)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("add to read-only: %v", err)
	}
}

// A second opener of a held file fails with ErrLocked after the timeout.
func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(path, Options{ReadOnly: true, LockTimeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

// A full queue blocks Submit until the writer takes requests again:
// Submit returns only after the batch before it is committed.
func TestBackpressure(t *testing.T) {
	s := openWith(t, Options{QueueLen: 2})
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	setHook(s, func() error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	})
	var firstDone atomic.Bool
	s.Submit("a", "event", epochEv("a", "", 1, wire.KindMotion), func(Result, error) { firstDone.Store(true) })
	<-entered
	noop := func(Result, error) {}
	s.Submit("a", "event", epochEv("a", "", 2, wire.KindMotion), noop)
	s.Submit("a", "event", epochEv("a", "", 3, wire.KindMotion), noop)
	returned := make(chan bool)
	go func() {
		s.Submit("a", "event", epochEv("a", "", 4, wire.KindMotion), noop)
		returned <- firstDone.Load()
	}()
	close(release)
	if !<-returned {
		t.Fatal("Submit into a full queue returned before the writer had committed the batch ahead")
	}
	devtest.WaitFor(t, 10*time.Second, "all four stored", func() bool { c, _ := s.Counters("a"); return c.Received == 4 })
}

// testdata/eventlog-layout.db was written by package eventlog itself
// (cong-khu-3: 1, 2, 5, 2 again, an overflow at 12 for 8-10; truong-thcs:
// 3) just before that package was folded into this one.
func TestMigrateRealEventlogFile(t *testing.T) {
	src, err := os.ReadFile("testdata/eventlog-layout.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "events.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if gs, _ := s.Gaps("cong-khu-3"); gapsString(gs) != "3-4 6-7 8-10! 11-11" {
		t.Fatalf("gaps %q", gapsString(gs))
	}
	if gs, _ := s.Gaps("truong-thcs"); gapsString(gs) != "1-2" {
		t.Fatalf("gaps %q", gapsString(gs))
	}
	c, _ := s.Counters("")
	if c.Received != 5 || c.Duplicates != 1 || c.MaxSeq != 12 || c.Epochs != 2 {
		t.Fatalf("counters %+v", c)
	}
	recs, _ := s.After(0, 0)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s/%d", r.Gateway, r.Seq))
	}
	if strings.Join(got, " ") != "cong-khu-3/1 cong-khu-3/2 cong-khu-3/5 cong-khu-3/12 truong-thcs/3" {
		t.Fatalf("arrivals %v", got)
	}
	// The migrated gateway carries on where it was.
	if r := mustAdd(t, s, "cong-khu-3", "event", epochEv("cong-khu-3", "", 11, wire.KindMotion)); !r.Late {
		t.Fatalf("11: %+v", r)
	}
	if r := mustAdd(t, s, "cong-khu-3", "event", epochEv("cong-khu-3", "", 13, wire.KindMotion)); r.Status != New || len(r.NewGaps) != 0 {
		t.Fatalf("13: %+v", r)
	}
}

// A gateway upgraded to epochs goes on counting under its new epoch: no gap
// from 1 and an epoch_started notice; a new SD card after that is a
// replacement again.
func TestEpochStartedByUpgrade(t *testing.T) {
	s := openWith(t, Options{})
	for seq := uint64(1); seq <= 4; seq++ {
		mustAdd(t, s, "a", "event", epochEv("a", "", seq, wire.KindMotion))
	}
	r := mustAdd(t, s, "a", "event", epochEv("a", "e1", 6, wire.KindBoot))
	if r.Notice == nil || r.Notice.Kind != NoticeEpochStarted || r.Notice.OldLastSeq != 4 || gapsString(r.NewGaps) != "5-5" {
		t.Fatalf("upgrade: notice %+v gaps %q", r.Notice, gapsString(r.NewGaps))
	}
	r = mustAdd(t, s, "a", "event", epochEv("a", "e2", 1, wire.KindBoot))
	if r.Notice == nil || r.Notice.Kind != NoticeStorageReplaced || r.Notice.OldEpoch != "e1" || r.Notice.OldLastSeq != 6 {
		t.Fatalf("new card: notice %+v", r.Notice)
	}
	// From epoch "" a restart at 1 is a new card, not an upgrade.
	mustAdd(t, s, "b", "event", epochEv("b", "", 9, wire.KindMotion))
	if r := mustAdd(t, s, "b", "event", epochEv("b", "f1", 1, wire.KindBoot)); r.Notice == nil || r.Notice.Kind != NoticeStorageReplaced {
		t.Fatalf("b: notice %+v", r.Notice)
	}
}

// TestRepairArrivalAfterBuggyMigration: a file migrated while migrate left
// the arrival counter at 0 gets it back at the next open, so the migrated
// events show and are not overwritten.
func TestRepairArrivalAfterBuggyMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	writeOldLayout(t, path)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyArrival, be(0)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.LastArrival(); err != nil || n != 3 {
		t.Fatalf("last arrival after the repair %d (%v), want 3", n, err)
	}
}
