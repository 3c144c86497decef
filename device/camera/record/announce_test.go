package record

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/mp4"
	"github.com/antt-gateway/antt/device/camera/mp4/mp4test"
	"github.com/antt-gateway/antt/device/devtest"
)

const envAnnounceDir = "RECORD_ANNOUNCE_DIR"

// announceChild records two clips into the store in dir, marks the first
// announced (its event was stored), says "DONE first second" and waits to
// be killed: the second clip is complete, its event never stored.
func announceChild(dir string) {
	fail := func(err error) { fmt.Println("ERR", err); os.Exit(1) }
	s, err := OpenStore(StoreOptions{Dir: dir, MaxBytes: 64 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fail(err)
	}
	var ids []string
	for range 2 {
		in, err := recordFile(s, 50)
		if err != nil {
			fail(err)
		}
		ids = append(ids, in.ID)
	}
	if err := s.MarkAnnounced(ids[0]); err != nil {
		fail(err)
	}
	fmt.Println("DONE", ids[0], ids[1])
	select {}
}

// recordFile records frames of the test clip as a complete clip, as the
// recorder does, without a testing.T (for child processes).
func recordFile(s *Store, frames int) (Info, error) {
	_, file, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		return Info{}, err
	}
	aus, err := h264.GroupAccessUnits(h264.SplitAnnexB(data))
	if err != nil {
		return Info{}, err
	}
	sps, pps := paramSets(aus[0].NALUs)
	c, err := s.Create(CreateOptions{Camera: "cam1", Start: time.Now(), Reason: ReasonAlarm, Upload: UploadAuto})
	if err != nil {
		return Info{}, err
	}
	var w *mp4.Writer
	w, err = mp4.NewWriter(c, mp4.Track{SPS: sps, PPS: pps}, mp4.WriterOptions{AfterFragment: func() error { return c.Sync(w.Frames(), w.Duration()) }})
	if err != nil {
		return Info{}, err
	}
	for i := range frames {
		au := aus[i%len(aus)]
		if err := w.WriteFrame(time.Duration(i)*40*time.Millisecond, au.Key, au.NALUs); err != nil {
			return Info{}, err
		}
	}
	if err := w.Close(); err != nil {
		return Info{}, err
	}
	return c.Finish(w.Frames(), w.Duration())
}

// TestAnnouncementSurvivesKill: a gateway killed (SIGKILL) after a clip
// is complete but before its clip event was stored finds it again at the
// next start in Unannounced; an announced clip is not announced twice.
func TestAnnouncementSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	cmd, sc, stderr := startChild(t, envAnnounceDir+"="+dir)
	line := ""
	if sc.Scan() {
		line = sc.Text()
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "DONE" {
		t.Fatalf("child said %q\n%s", line, stderr.String())
	}
	announced, unannounced := f[1], f[2]

	s := openStore(t, StoreOptions{Dir: dir})
	un := s.Unannounced()
	if len(un) != 1 || un[0].ID != unannounced || !un[0].Complete || un[0].Recovered {
		t.Fatalf("unannounced after the kill: %+v, want only %s, complete", un, unannounced)
	}
	if p := mp4test.Run(t, filepath.Join(dir, unannounced+".mp4")); p.Errors != "" || p.Frames != 50 {
		t.Fatalf("probe %+v", p)
	}
	if in, _ := s.Info(announced); !in.Announced {
		t.Fatalf("announced clip %+v lost its flag", in)
	}
	if err := s.MarkAnnounced(unannounced); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openStore(t, StoreOptions{Dir: dir})
	if un := s2.Unannounced(); len(un) != 0 {
		t.Fatalf("announced again after a clean restart: %+v", un)
	}
}

// A clip cut by a crash while being written is unannounced too (with its
// Recovered flag), until its event is stored.
func TestRecoveredClipIsUnannounced(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, StoreOptions{Dir: dir})
	c, _ := writeClip(t, s, "cam1", time.Now(), 60)
	s.Close() // as a crash leaves it
	s2 := openStore(t, StoreOptions{Dir: dir})
	un := s2.Unannounced()
	if len(un) != 1 || un[0].ID != c.ID() || !un[0].Recovered {
		t.Fatalf("unannounced %+v, want the recovered %s", un, c.ID())
	}
}

// A full partition (ENOSPC from a real, small tmpfs: the SD card filled
// by something else) cuts the clip: what Finish reports is the file, up
// to its last whole fragment, playable, with a hash that matches.
func TestFullPartitionKeepsWholeFragments(t *testing.T) {
	dir := devtest.MountTmpfs(t, 512<<10)
	s := openStore(t, StoreOptions{Dir: dir, MaxBytes: 64 << 20})
	aus, tr := testClip(t)
	c, err := s.Create(CreateOptions{Camera: "cam1", Start: time.Now(), Reason: ReasonEvent, Upload: UploadOnRequest})
	if err != nil {
		t.Fatal(err)
	}
	var w *mp4.Writer
	w, err = mp4.NewWriter(c, tr, mp4.WriterOptions{MaxFragment: 500 * time.Millisecond,
		AfterFragment: func() error { return c.Sync(w.Frames(), w.Duration()) }})
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := 0; werr == nil && i < 100000; i++ {
		au := aus[i%len(aus)]
		werr = w.WriteFrame(time.Duration(i)*40*time.Millisecond, au.Key, au.NALUs)
	}
	if werr == nil {
		t.Fatal("the tmpfs never filled")
	}
	t.Logf("write failed as expected: %v", werr)
	in, err := c.Finish(w.Frames(), w.Duration())
	if err != nil {
		t.Fatalf("finish after ENOSPC: %v", err)
	}
	path := filepath.Join(dir, in.ID+".mp4")
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != in.Bytes {
		t.Fatalf("file %v (%v), index says %d bytes", fi, err, in.Bytes)
	}
	data, _ := os.ReadFile(path)
	if fmt.Sprintf("%x", sha256sum(data)) != in.SHA256 {
		t.Fatal("sha256 of the file does not match the index")
	}
	p := mp4test.Run(t, path)
	if p.Errors != "" || p.Frames != in.Frames || in.Frames == 0 {
		t.Fatalf("probe %+v, index %+v", p, in)
	}
	if st := s.Stats(); st.Bytes != in.Bytes {
		t.Fatalf("store counts %d bytes, the clip is %d", st.Bytes, in.Bytes)
	}
}

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }
