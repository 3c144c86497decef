package record

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/mp4"
	"github.com/antt-gateway/antt/device/camera/mp4/mp4test"
	"github.com/antt-gateway/antt/uplink/wire"
)

func testClip(t testing.TB) (aus []h264.AccessUnit, tr mp4.Track) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	aus, err = h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		t.Fatal(err)
	}
	tr.SPS, tr.PPS = paramSets(aus[0].NALUs)
	return aus, tr
}

// writeClip records frames of the test clip into a new store clip and
// returns it unfinished with its writer.
func writeClip(t *testing.T, s *Store, camera string, start time.Time, frames int) (*Clip, *mp4.Writer) {
	t.Helper()
	aus, tr := testClip(t)
	c, err := s.Create(CreateOptions{Camera: camera, Start: start, Reason: ReasonEvent, Upload: UploadOnRequest})
	if err != nil {
		t.Fatal(err)
	}
	var w *mp4.Writer
	w, err = mp4.NewWriter(c, tr, mp4.WriterOptions{AfterFragment: func() error { return c.Sync(w.Frames(), w.Duration()) }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		au := aus[i%len(aus)]
		if err := w.WriteFrame(time.Duration(i)*40*time.Millisecond, au.Key, au.NALUs); err != nil {
			t.Fatal(err)
		}
	}
	return c, w
}

func finishClip(t *testing.T, c *Clip, w *mp4.Writer) Info {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	in, err := c.Finish(w.Frames(), w.Duration())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func openStore(t *testing.T, opt StoreOptions) *Store {
	t.Helper()
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	if opt.MaxBytes == 0 {
		opt.MaxBytes = 64 << 20
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := OpenStore(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreClipRoundTrip(t *testing.T) {
	s := openStore(t, StoreOptions{})
	start := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	c, w := writeClip(t, s, "Gate Cam", start, 75)
	if _, _, err := s.Open(c.ID()); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("open while writing: %v, want ErrIncomplete", err)
	}
	in := finishClip(t, c, w)
	if !wire.ValidClipID(in.ID) || in.Camera != "Gate Cam" || in.Frames != 75 || in.Duration != 3*time.Second || !in.Complete {
		t.Fatalf("info %+v", in)
	}
	r, got, err := s.Open(in.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got.ID != in.ID || r.Size() != in.Bytes {
		t.Fatalf("open: %+v size %d", got, r.Size())
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, r.Size())); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(h.Sum(nil)) != in.SHA256 {
		t.Fatal("sha256 does not match the file")
	}
	list, err := s.List("Gate Cam", start.Add(time.Second), start.Add(2*time.Second))
	if err != nil || len(list) != 1 || list[0].ID != in.ID {
		t.Fatalf("list %v %v", list, err)
	}
	if list, _ := s.List("Gate Cam", start.Add(time.Minute), time.Time{}); len(list) != 0 {
		t.Fatalf("list after the clip: %v", list)
	}
	if list, _ := s.List("other", time.Time{}, time.Time{}); len(list) != 0 {
		t.Fatalf("list of another camera: %v", list)
	}
	if _, err := s.Info("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("info of unknown: %v", err)
	}
	a := in.Attrs()
	if a[wire.ClipAttrID] != in.ID || a[wire.ClipAttrBytes] != in.Bytes || a[wire.ClipAttrDuration] != int64(3000) {
		t.Fatalf("attrs %v", a)
	}
	if st := s.Stats(); st.BytesToday != in.Bytes || st.Bytes != in.Bytes || st.Clips != 1 {
		t.Fatalf("stats %+v, want %d bytes", st, in.Bytes)
	}
}

// A crash while writing (the store not told, a torn fragment at the end)
// leaves a clip cut to its last synced fragment, complete and playable.
func TestStoreRecoversCrashedClip(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, StoreOptions{Dir: dir})
	c, w := writeClip(t, s, "cam1", time.Now(), 60) // 2 whole GOPs written, the third pending
	id := c.ID()
	synced := w.Bytes()
	// A torn write of the next fragment.
	f, err := os.OpenFile(filepath.Join(dir, id+".mp4"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s.Close()
	// An orphan file and a stale entry must not survive either.
	if err := os.WriteFile(filepath.Join(dir, "orphan-1.mp4"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, StoreOptions{Dir: dir})
	rec := s2.Recovered()
	if len(rec) != 1 || rec[0].ID != id || !rec[0].Complete || !rec[0].Recovered || rec[0].Bytes != synced || rec[0].Frames != 50 {
		t.Fatalf("recovered %+v, want %s complete with %d bytes, 50 frames", rec, id, synced)
	}
	if _, err := os.Stat(filepath.Join(dir, "orphan-1.mp4")); !os.IsNotExist(err) {
		t.Fatalf("orphan file kept: %v", err)
	}
	r, in, err := s2.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	p := mp4test.Run(t, filepath.Join(dir, id+".mp4"))
	if p.Errors != "" || p.Frames != 50 || p.Codec != "h264" || in.Duration != 2*time.Second {
		t.Fatalf("probe %+v, info %+v: want 50 frames, 2 s", p, in)
	}
}

// A flood of clips keeps the store within max_bytes, oldest first, and
// continuous segments go before event clips.
func TestStoreBoundUnderFlood(t *testing.T) {
	s := openStore(t, StoreOptions{MaxBytes: 400 << 10})
	start := time.Now().Add(-time.Hour)
	seg, w := writeClip(t, s, "cam1", start, 25)
	seg.SetMeta(ReasonContinuous, UploadOnRequest, 0)
	segInfo := finishClip(t, seg, w)
	var last Info
	for i := range 40 {
		c, w := writeClip(t, s, "cam1", start.Add(time.Duration(i+1)*time.Second), 50)
		last = finishClip(t, c, w)
		if st := s.Stats(); st.Bytes > 400<<10 {
			t.Fatalf("clip %d: store holds %d bytes, bound %d", i, st.Bytes, 400<<10)
		}
	}
	if _, err := s.Info(segInfo.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("continuous segment kept while clips went: %v", err)
	}
	list, _ := s.List("", time.Time{}, time.Time{})
	if len(list) < 2 || list[len(list)-1].ID != last.ID {
		t.Fatalf("list %d clips, last %v", len(list), list)
	}
	var sum int64
	for _, in := range list {
		sum += in.Bytes
	}
	ents, _ := os.ReadDir(s.opt.Dir)
	if len(ents) != len(list)+1 || sum != s.Stats().Bytes { // +1: the index
		t.Fatalf("%d files for %d clips; sum %d stats %d", len(ents), len(list), sum, s.Stats().Bytes)
	}
	if s.Stats().Evicted == 0 {
		t.Fatal("nothing evicted")
	}
}

// The partition's free space is kept for the outbox: recordings go before
// the partition falls under KeepFree, and a clip that cannot fit is cut.
func TestStoreKeepsFreeSpace(t *testing.T) {
	var s *Store
	const disk = 2 << 20
	avail := func(string) (int64, error) { return disk - s.total, nil } // called under s.mu
	s = openStore(t, StoreOptions{MaxBytes: 1 << 30, Statfs: avail, KeepFree: func() int64 { return disk - 300<<10 }})
	for i := range 10 {
		c, w := writeClip(t, s, "cam1", time.Now().Add(time.Duration(i)*time.Second), 50)
		finishClip(t, c, w)
		if s.Stats().Bytes > 300<<10 {
			t.Fatalf("store holds %d bytes, room is %d", s.Stats().Bytes, 300<<10)
		}
	}
	// Nothing complete left to remove: a clip larger than the room is cut.
	s2 := openStore(t, StoreOptions{MaxBytes: 1 << 30, Statfs: func(string) (int64, error) { return 1000, nil },
		KeepFree: func() int64 { return 4096 }})
	if _, err := s2.Create(CreateOptions{Camera: "c"}); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("create on a full disk: %v, want ErrStoreFull", err)
	}
}

func TestStoreMaxAgeRemovesOldSegments(t *testing.T) {
	now := time.Now()
	clock := now
	s := openStore(t, StoreOptions{MaxAge: time.Hour, Now: func() time.Time { return clock }})
	old, w := writeClip(t, s, "cam1", now.Add(-2*time.Hour), 25)
	old.SetMeta(ReasonContinuous, UploadOnRequest, 0)
	oldInfo := finishClip(t, old, w)
	ev, w2 := writeClip(t, s, "cam1", now.Add(-3*time.Hour), 25) // an old event clip stays
	evInfo := finishClip(t, ev, w2)
	clock = now.Add(2 * time.Minute) // the sweep runs once a minute
	c, w3 := writeClip(t, s, "cam1", now, 25)
	finishClip(t, c, w3)
	if _, err := s.Info(oldInfo.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old segment kept: %v", err)
	}
	if _, err := s.Info(evInfo.ID); err != nil {
		t.Fatalf("old event clip removed by max_age: %v", err)
	}
}
