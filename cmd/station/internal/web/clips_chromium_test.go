package web

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/device/devtest"
)

// testMP4 makes a short fragmented H.264 MP4, as the gateway records them.
func testMP4(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=2",
		"-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "15",
		"-movflags", "frag_keyframe+empty_moov+default_base_moof", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg (Debian ffmpeg, .ci/test-deps.sh): %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Real headless Chromium: an officer sees a clip event's clip complete at
// the station, plays it in the row's <video> to its end at the camera's
// size (served with Range by /api/clips), sees a partial clip with its
// fetch button, and exports the event as a signed case file.
func TestChromiumClipPlays(t *testing.T) {
	mp4 := testMP4(t)
	dir := t.TempDir()
	cs, err := clips.Open(dir, clips.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	key, err := clips.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := &clipCommander{}
	f := newFixture(t, func(o *Options) { o.Now = time.Now; o.Clips = &Clips{Store: cs, Key: key}; o.Commands = cmd })
	sum := sha256.Sum256(mp4)
	for _, id := range []string{"cong-1", "cong-2"} {
		if err := cs.Announce(clips.Info{Gateway: gwGate, ID: id, Bytes: int64(len(mp4)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
			t.Fatal(err)
		}
	}
	for off := 0; off < len(mp4); off += 4096 {
		if _, err := cs.Put(gwGate, "cong-1", int64(off), mp4[off:min(off+4096, len(mp4))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.Put(gwGate, "cong-2", 0, mp4[:100]); err != nil {
		t.Fatal(err)
	}
	f.event(gwGate, "clip", "cong", map[string]any{"clip": "cong-2", "bytes": len(mp4)})
	seq := f.event(gwGate, "clip", "cong", map[string]any{"clip": "cong-1", "bytes": len(mp4)})

	base := serveFixture(t, f)
	ctx := newBrowser(t, 90*time.Second, chromedp.Flag("autoplay-policy", "no-user-gesture-required"))

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#user"),
		chromedp.SendKeys("#user", "tuan"), chromedp.SendKeys("#password", testPassword),
		chromedp.Click(`button.primary`), chromedp.WaitVisible(".cards"),
		chromedp.Navigate(base+"/events"), chromedp.WaitVisible("button.clip-play")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible("button.clip-fetch")); err != nil {
		t.Fatal(err)
	}
	partial, err := chromedp.Run(ctx, chromedp.Text(".clip-state.state-partial"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(partial, "đang tải về") {
		t.Errorf("partial clip shown as %q", partial)
	}
	if err := chromedp.Do(ctx, chromedp.Click("button.clip-play"), chromedp.WaitVisible("video.clip-video")); err != nil {
		t.Fatal(err)
	}
	type playState struct {
		Ended  bool    `json:"ended"`
		Width  int     `json:"w"`
		Height int     `json:"h"`
		Time   float64 `json:"t"`
		Err    int     `json:"err"`
	}
	var played playState
	deadline := time.Now().Add(30 * time.Second)
	for {
		played, err = chromedp.Run(ctx, chromedp.Evaluate[playState](`(() => { const v = document.querySelector("video.clip-video");
			return {ended: v.ended, w: v.videoWidth, h: v.videoHeight, t: v.currentTime, err: v.error ? v.error.code : 0}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		if played.Ended || played.Err != 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the page's state, with a deadline
	}
	if !played.Ended || played.Err != 0 || played.Width != 320 || played.Height != 240 || played.Time < 1.9 {
		t.Fatalf("the clip did not play to its end at 320x240: %+v", played)
	}

	// Fetch the partial clip: clip.get from the bytes the station holds.
	if err := chromedp.Do(ctx, chromedp.Click("button.clip-fetch"), chromedp.WaitVisible(`button.clip-fetch[disabled]`)); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the fetch audited", func() bool { return len(f.entries("clip.fetch")) == 1 })
	cmd.mu.Lock()
	got := cmd.got
	cmd.mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], `"offset":100`) {
		t.Fatalf("fetch sent %q", got)
	}

	// Export the played clip's event as a case.
	ref := gwGate + "/e1/" + strconv.FormatUint(seq, 10)
	if err := chromedp.Do(ctx, chromedp.Click(`tr[data-ref="`+ref+`"] .clip-pick input`), chromedp.SendKeys("#case-name", "VV-2026-07"),
		chromedp.Click(".clip-export button"), chromedp.WaitVisible(".export-result a")); err != nil {
		t.Fatal(err)
	}
	if es := f.entries("export"); len(es) != 1 || es[0].Actor != "tuan" || es[0].Detail["files"] != "2" {
		t.Fatalf("export audit %+v", es)
	}
}
