package record

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// makeClip records a finished clip of frames with the given reason and
// upload policy.
func makeClip(t *testing.T, s *Store, start time.Time, frames int, reason, upload string) Info {
	t.Helper()
	c, w := writeClip(t, s, "cam1", start, frames)
	c.SetMeta(reason, upload, 0)
	return finishClip(t, c, w)
}

type lost struct {
	mu  sync.Mutex
	ids []string
}

func (l *lost) add(in Info) { l.mu.Lock(); l.ids = append(l.ids, in.ID); l.mu.Unlock() }
func (l *lost) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

// Evidence (clips to upload at once, not uploaded yet) is the last thing
// evicted: continuous segments go first, then clips kept on request (and
// evidence already off-site), then the evidence, oldest first; and every
// piece of evidence lost is reported, never silent.
func TestEvictionKeepsEvidenceLast(t *testing.T) {
	probe := openStore(t, StoreOptions{})
	size := makeClip(t, probe, time.Now(), 50, ReasonEvent, UploadOnRequest).Bytes

	var l lost
	s := openStore(t, StoreOptions{MaxBytes: 4*size + size/2, OnEvidenceLost: l.add})
	t0 := time.Now().Add(-time.Hour)
	evidence := makeClip(t, s, t0, 50, ReasonAlarm, UploadAuto)
	asked := makeClip(t, s, t0.Add(time.Second), 50, ReasonEvent, UploadOnRequest)
	seg := makeClip(t, s, t0.Add(2*time.Second), 50, ReasonContinuous, UploadOnRequest)
	sent := makeClip(t, s, t0.Add(3*time.Second), 50, ReasonAlarm, UploadAuto)
	if err := s.MarkUploaded(sent.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkUploaded("cam1-nope-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("mark unknown: %v, want ErrNotFound", err)
	}
	for i, want := range []Info{seg, asked, sent, evidence} {
		makeClip(t, s, t0.Add(time.Duration(10+i)*time.Second), 50, ReasonAlarm, UploadAuto)
		if _, err := s.Info(want.ID); !errors.Is(err, ErrNotFound) {
			list, _ := s.List("", time.Time{}, time.Time{})
			t.Fatalf("eviction %d: %s (%s, %s) kept; store holds %v", i, want.ID, want.Reason, want.Upload, list)
		}
		if got := len(s.infos); got != 4 {
			t.Fatalf("eviction %d: %d clips left, want 4", i, got)
		}
	}
	if got := l.get(); !slices.Equal(got, []string{evidence.ID}) {
		t.Fatalf("evidence lost reported %v, want only %s", got, evidence.ID)
	}
	if st := s.Stats(); st.EvidenceLost != 1 || st.Evicted != 4 {
		t.Fatalf("stats %+v, want 4 evicted of which 1 evidence", st)
	}
}

// MarkUploaded survives a restart: the evidence is off-site for good.
func TestMarkUploadedPersists(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, StoreOptions{Dir: dir})
	in := makeClip(t, s, time.Now(), 25, ReasonAlarm, UploadAuto)
	if err := s.MarkUploaded(in.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openStore(t, StoreOptions{Dir: dir})
	got, err := s2.Info(in.ID)
	if err != nil || !got.Uploaded {
		t.Fatalf("after restart: %+v %v, want uploaded", got, err)
	}
}

// The order of eviction is the order of recording, not of the clock: a
// board without a battery clock records with a 1970 (or build-day) time
// until NTP syncs, and its clips are then the newest, not the oldest.
func TestEvictionIgnoresClockJumps(t *testing.T) {
	probe := openStore(t, StoreOptions{})
	size := makeClip(t, probe, time.Now(), 50, ReasonEvent, UploadOnRequest).Bytes
	s := openStore(t, StoreOptions{MaxBytes: 2*size + size/2})
	first := makeClip(t, s, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), 50, ReasonEvent, UploadOnRequest)
	second := makeClip(t, s, time.Unix(3600, 0), 50, ReasonEvent, UploadOnRequest) // clock not synced yet
	makeClip(t, s, time.Date(2026, 12, 1, 8, 5, 0, 0, time.UTC), 50, ReasonEvent, UploadOnRequest)
	if _, err := s.Info(first.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the first clip recorded was kept (%v) and the second went: %v", err, s.infos[second.ID] == nil)
	}
	if _, err := s.Info(second.ID); err != nil {
		t.Fatalf("the clip recorded before the clock synced was evicted first: %v", err)
	}
}

// Clip ids never collide, even with a clock that does not move (a board
// before NTP, many clips in one second) and across restarts.
func TestClipIDsUniqueWithFrozenClock(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(0, 0)
	seen := map[string]bool{}
	for round := range 2 {
		s := openStore(t, StoreOptions{Dir: dir})
		for range 20 {
			c, err := s.Create(CreateOptions{Camera: "cam1", Start: at})
			if err != nil {
				t.Fatal(err)
			}
			if seen[c.ID()] {
				t.Fatalf("round %d: id %s given twice", round, c.ID())
			}
			seen[c.ID()] = true
			if _, err := c.Finish(0, 0); !errors.Is(err, ErrNotFound) {
				t.Fatalf("finish of an empty clip: %v", err)
			}
		}
		s.Close()
	}
}
