package record

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/mp4/mp4test"
	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/reexec"
)

const (
	envCrashDir = "RECORD_CRASH_DIR"
	envCrashURL = "RECORD_CRASH_URL"
)

// startChild re-executes the test binary with env added (the variable
// that makes TestMain run a child instead of the tests); its output is
// read line by line through the scanner, its stderr kept for failures.
func startChild(t *testing.T, env ...string) (*exec.Cmd, *bufio.Scanner, *devtest.Buffer) {
	t.Helper()
	cmd := reexec.Command("-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &devtest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out), stderr
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		crashChild(dir, os.Getenv(envCrashURL))
		return
	}
	if dir := os.Getenv(envAnnounceDir); dir != "" {
		announceChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild records the camera at url into a store in dir, one long clip
// triggered at once, and says "CLIP id" when it started; it runs until
// killed.
func crashChild(dir, url string) {
	store, err := OpenStore(StoreOptions{Dir: dir, MaxBytes: 256 << 20, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	hub := camera.NewHub(camera.HubOptions{Name: "cam1", URL: url, Logger: slog.New(slog.DiscardHandler)})
	rec := NewRecorder(RecorderOptions{Camera: "cam1", Hub: hub, Store: store, PreRoll: time.Second,
		PostRoll: 5 * time.Minute, MaxClip: 10 * time.Minute, MaxFragment: 500 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	go func() { _ = hub.Run(ctx) }()
	rec.Trigger(Trigger{Time: time.Now(), Reason: ReasonAlarm, Upload: UploadAuto})
	go func() {
		for {
			if l, _ := os.ReadDir(dir); len(l) > 1 {
				fmt.Println("CLIP")
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_ = rec.Run(ctx)
}

// TestKillDuringRecording kills (SIGKILL) a process recording the real
// camera in the middle of a clip, at a moment that falls anywhere in a
// fragment's write: the next Open completes the clip up to its last synced
// fragment, ffprobe reads it without an error, and the index matches the
// files.
func TestKillDuringRecording(t *testing.T) {
	cam := rtsptest.StartCamera(t, "--fps", "25", "--key-int-max", "50")
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		dir := t.TempDir()
		cmd, sc, stderr := startChild(t, envCrashDir+"="+dir, envCrashURL+"="+cam.URL)
		if !sc.Scan() || sc.Text() != "CLIP" {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child said %q\n%s", sc.Text(), stderr.String())
		}
		go func() {
			for sc.Scan() {
			}
		}()
		// Let it write several fragments, a different amount each round.
		var file string
		want := int64(30_000 + round*17_000)
		devtest.WaitFor(t, 30*time.Second, "the clip to grow", func() bool {
			l, _ := filepath.Glob(filepath.Join(dir, "*.mp4"))
			if len(l) != 1 {
				return false
			}
			file = l[0]
			fi, err := os.Stat(file)
			return err == nil && fi.Size() >= want
		})
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		killedAt, _ := os.Stat(file)

		s := openStore(t, StoreOptions{Dir: dir})
		rec := s.Recovered()
		if len(rec) != 1 {
			t.Fatalf("round %d: recovered %+v, want one clip", round, rec)
		}
		in := rec[0]
		if !in.Complete || !in.Recovered || in.Reason != ReasonAlarm || in.Upload != UploadAuto || in.Bytes > killedAt.Size() || in.Frames < 25 {
			t.Fatalf("round %d: recovered %+v (file had %d bytes at the kill)", round, in, killedAt.Size())
		}
		if list, _ := s.List("cam1", time.Time{}, time.Time{}); len(list) != 1 || list[0].ID != in.ID {
			t.Fatalf("round %d: list %+v", round, list)
		}
		fi, _ := os.Stat(file)
		if fi.Size() != in.Bytes || filepath.Base(file) != in.ID+".mp4" {
			t.Fatalf("round %d: file %s of %d bytes, index %+v", round, file, fi.Size(), in)
		}
		p := mp4test.Run(t, file)
		if p.Errors != "" || p.Codec != "h264" || p.Frames != in.Frames || !p.FirstKey {
			t.Fatalf("round %d: ffprobe %+v, index says %d frames", round, p, in.Frames)
		}
		if d := p.Duration - in.Duration; d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Fatalf("round %d: ffprobe %v, index %v", round, p.Duration, in.Duration)
		}
		t.Logf("round %d: killed at %d bytes; kept %d bytes, %d frames, %v", round, killedAt.Size(), in.Bytes, in.Frames, in.Duration)
		s.Close()
		if strings.Contains(stderr.String(), "panic") {
			t.Fatalf("child: %s", stderr.String())
		}
	}
}
