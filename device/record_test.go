package device_test

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/camera/h264"
	"github.com/antt-gateway/antt/device/camera/mp4"
	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// recordingConfig is a gateway recording the looped test clip (a file
// camera) into data.
func recordingConfig(t *testing.T, data string) *config.Config {
	t.Helper()
	clip := testClipPath(t)
	cfg, err := config.Parse(fmt.Appendf(nil, `gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: cong-pir, kind: motion, driver: sim, every: 1h}
cameras:
  - {name: cam-cong, url: "file://%s", record: clips, clip_on: [cong-pir]}
`, data, clip))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openRecordingGateway(t *testing.T, cfg *config.Config) (*device.Gateway, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw, err := device.Open(cfg, device.Options{Listener: ln, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		ln.Close()
	}
	return gw, err
}

// A broken recordings index (a failing SD card, a file the installer
// copied over) must not keep the gateway from guarding the site: it
// starts without recording, says so in an event and in its status.
func TestBrokenRecordingIndexDoesNotStopGateway(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := recordingConfig(t, data)
	if err := os.MkdirAll(cfg.Recording.Dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Recording.Dir, record.IndexFile), []byte("not a bbolt file, garbage from a bad card"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw, err := openRecordingGateway(t, cfg)
	if err != nil {
		t.Fatalf("the gateway refused to start over its recordings: %v", err)
	}
	base := runGateway(t, gw)
	if st := gw.Status().Recording; st == nil || st.Error == "" {
		t.Fatalf("status recording %+v, want the error", st)
	}
	devtest.WaitFor(t, 10*time.Second, "the recording_failed event", func() bool {
		for _, e := range outboxDump(t, base) {
			if e.Kind == record.KindRecordingFailed && e.Attrs["error"] != "" {
				return true
			}
		}
		return false
	})
}

// A clip complete on the board whose clip event was never stored (the
// gateway died between the two) is announced at the next start, once.
func TestUnannouncedClipAnnouncedAtStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := recordingConfig(t, data)
	// The state a kill -9 leaves (record.TestAnnouncementSurvivesKill
	// proves the store keeps it): a complete clip, not announced.
	st, err := record.OpenStore(record.StoreOptions{Dir: cfg.Recording.Dir, MaxBytes: 64 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id := recordTestClip(t, st)
	st.Close()

	for round := range 2 {
		gw, err := openRecordingGateway(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + gw.APIAddr()
		stop := startRun(t, gw)
		var n int
		devtest.WaitFor(t, 10*time.Second, "the clip announced and marked", func() bool {
			n = 0
			for _, e := range outboxDump(t, base) {
				if e.Kind == wire.KindClip && e.Attrs[wire.ClipAttrID] == id {
					n++
				}
			}
			in, err := gw.Clips().Info(id)
			return n >= 1 && err == nil && in.Announced
		})
		stop()
		if n != 1 {
			t.Fatalf("round %d: %d clip events for %s, want exactly one", round, n, id)
		}
	}
}

// recordTestClip records 50 frames of the test clip into st as a
// complete alarm clip and returns its id.
func recordTestClip(t *testing.T, st *record.Store) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		t.Fatal(err)
	}
	aus, err := h264.GroupAccessUnits(h264.SplitAnnexB(raw))
	if err != nil {
		t.Fatal(err)
	}
	var tr mp4.Track
	for _, n := range aus[0].NALUs {
		switch n[0] & 0x1f {
		case h264.NALSPS:
			tr.SPS = n
		case h264.NALPPS:
			tr.PPS = n
		}
	}
	c, err := st.Create(record.CreateOptions{Camera: "cam-cong", Start: time.Now(), Reason: record.ReasonAlarm, Upload: record.UploadOnRequest})
	if err != nil {
		t.Fatal(err)
	}
	var w *mp4.Writer
	w, err = mp4.NewWriter(c, tr, mp4.WriterOptions{AfterFragment: func() error { return c.Sync(w.Frames(), w.Duration()) }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		au := aus[i%len(aus)]
		if err := w.WriteFrame(time.Duration(i)*40*time.Millisecond, au.Key, au.NALUs); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	in, err := c.Finish(w.Frames(), w.Duration())
	if err != nil {
		t.Fatal(err)
	}
	return in.ID
}

// Evidence evicted before it was uploaded is reported by a clip_lost
// event, never silent: here a full store (an automatic-upload clip that
// never left, the uplink down) must make room for a new clip.
func TestEvidenceEvictionIsReported(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	clip := testClipPath(t)
	cfg, err := config.Parse(fmt.Appendf(nil, `gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: cua-cong, kind: contact, driver: sim, debounce: 0s, script: [{at: 1500ms, level: high}, {at: 1700ms, level: low}]}
cameras:
  - {name: cam-cong, url: "file://%s", record: clips, clip_on: [cua-cong], pre_roll: 1s, post_roll: 2s}
recording: {max_bytes: 16MiB}
`, data, clip))
	if err != nil {
		t.Fatal(err)
	}
	st, err := record.OpenStore(record.StoreOptions{Dir: cfg.Recording.Dir, MaxBytes: 64 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// An alarm clip filling the store (its bytes need not be video).
	c, err := st.Create(record.CreateOptions{Camera: "cam-cong", Start: time.Now().Add(-time.Hour), Reason: record.ReasonAlarm, Upload: record.UploadAuto})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 16<<20-32<<10)); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(1, time.Second); err != nil {
		t.Fatal(err)
	}
	evidence, err := c.Finish(1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	gw, err := openRecordingGateway(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := runGateway(t, gw)
	devtest.WaitFor(t, 20*time.Second, "the clip_lost event", func() bool {
		for _, e := range outboxDump(t, base) {
			if e.Kind == record.KindClipLost && e.Attrs[wire.ClipAttrID] == evidence.ID && e.Source == "cam-cong" {
				return true
			}
		}
		return false
	})
	if st := gw.Status().Recording; st == nil || st.EvidenceLost != 1 {
		t.Fatalf("status recording %+v, want evidence_lost 1", st)
	}
}

// recording.dir on a partition of its own (a USB stick, a second card)
// does not compete with the outbox: the store keeps only its margin free
// there, instead of refusing to record because the outbox's room (256 MiB
// by default) is more than that partition holds.
func TestRecordingOnItsOwnPartition(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	rdir := devtest.MountTmpfs(t, 64<<20)
	clip := testClipPath(t)
	cfg, err := config.Parse(fmt.Appendf(nil, `gateway: {id: cong-khu-3, data_dir: %s}
uplink: {broker: "mqtt://127.0.0.1:1"}
sensors:
  - {name: cua-cong, kind: contact, driver: sim, debounce: 0s, script: [{at: 1500ms, level: high}, {at: 1700ms, level: low}]}
cameras:
  - {name: cam-cong, url: "file://%s", record: clips, clip_on: [cua-cong], pre_roll: 1s, post_roll: 1s}
recording: {dir: %s, max_bytes: 32MiB}
`, data, clip, rdir))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := openRecordingGateway(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runGateway(t, gw)
	devtest.WaitFor(t, 20*time.Second, "a clip on the separate partition", func() bool {
		l, err := gw.Clips().List("cam-cong", time.Time{}, time.Time{})
		return err == nil && len(l) == 1
	})
}
