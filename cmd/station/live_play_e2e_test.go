package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// playTileJS reads the tile of a playback: its state, mode, position (RFC
// 3339), last seek's answer, end reason and decoded frames.
const playTileJS = `(async () => {
  const el = document.querySelector(".tile");
  const out = {state: el.dataset.state, mode: el.dataset.mode || "", session: el.dataset.session || "",
    position: el.dataset.position || "", seeked: el.dataset.seeked || "", end: el.dataset.endReason || "",
    text: el.querySelector(".tile-status").textContent, frames: 0, width: 0};
  if (!el._pc) return out;
  (await el._pc.getStats()).forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "video") { out.frames = s.framesDecoded || 0; out.width = s.frameWidth || 0; }
  });
  return out;
})()`

type playTile struct {
	State, Mode, Session, Position, Seeked, End, Text string
	Frames, Width                                     int
}

// A recording played from the console with the real binaries: a gateway
// whose file camera records a clip for each of two sensor events; the
// officer opens "Xem lại bản ghi" of the first event (/live?…&at=T):
// Chromium decodes the recording through the station's relay, the tile
// shows the position (inside the first clip), a seek to the second clip
// moves it there, the end of the recordings ends the session with its
// reason shown, and open and close are audited with the range and the
// bytes (read after the gateway's close).
func TestPlaybackChromiumEndToEnd(t *testing.T) {
	s := startConsoleStation(t, t.TempDir(), "-turn", "")
	const gw, cam = "cong-khu-3", "cam-cong"
	gwProc := startLiveGateway(t, s, gw, `  - {name: pir, kind: motion, driver: sim, debounce: 0s, hold: 0s,
     script: [{at: 4s, level: high}, {at: 4500ms, level: low}, {at: 18s, level: high}, {at: 18500ms, level: low}]}
`, "  - {name: "+cam+", url: \"file://"+liveClip(t)+"\", record: clips, clip_on: [pir], pre_roll: 1s, post_roll: 6s}\n")

	type clipAt struct{ start, end time.Time }
	var clips []clipAt
	var motion time.Time
	devtest.WaitFor(t, 60*time.Second, "two clips and their motion events at the station", func() bool {
		var page struct {
			Items []struct {
				Event *struct {
					Kind  string         `json:"kind"`
					Time  time.Time      `json:"time"`
					Attrs map[string]any `json:"attrs"`
				} `json:"event"`
			} `json:"items"`
		}
		rq, _ := http.NewRequest("GET", "http://"+s.http+"/api/events?gateway="+gw+"&limit=100", nil)
		rq.Header.Set("Cookie", s.cookie)
		r, err := s.client.Do(rq)
		if err != nil {
			return false
		}
		defer r.Body.Close()
		if r.StatusCode != http.StatusOK || json.NewDecoder(r.Body).Decode(&page) != nil {
			return false
		}
		clips, motion = nil, time.Time{}
		for _, it := range page.Items {
			e := it.Event
			if e == nil {
				continue
			}
			switch e.Kind {
			case wire.KindMotion:
				if motion.IsZero() || e.Time.Before(motion) {
					motion = e.Time
				}
			case wire.KindClip:
				st, err := time.Parse(time.RFC3339Nano, cast(e.Attrs[wire.ClipAttrStart]))
				ms, _ := e.Attrs[wire.ClipAttrDuration].(float64)
				if err == nil && ms > 0 {
					clips = append(clips, clipAt{st, st.Add(time.Duration(ms) * time.Millisecond)})
				}
			}
		}
		return len(clips) == 2 && !motion.IsZero()
	})
	if clips[1].start.Before(clips[0].start) {
		clips[0], clips[1] = clips[1], clips[0]
	}
	if !clips[0].end.Before(clips[1].start) {
		t.Fatalf("clips overlap: %+v", clips)
	}

	link := "/live?gateway=" + gw + "&camera=" + cam + "&at=" + url.QueryEscape(motion.UTC().Format(time.RFC3339))
	ctx := openLiveConsole(t, s, link)
	read := func() playTile {
		t.Helper()
		st, err := chromedp.Run(ctx, chromedp.Evaluate[playTile](playTileJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal("tile:", err)
		}
		return st
	}
	pos := func(p playTile) time.Time {
		tm, _ := time.Parse(time.RFC3339Nano, p.Position)
		return tm
	}
	var st playTile
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st = read()
		if st.State == "failed" {
			t.Fatalf("tile failed: %s\nstation:\n%s\ngateway:\n%s", st.Text, e2eTail(s.stderr), e2eTail(gwProc.stderr))
		}
		if st.Mode == "play" && st.State == "replaying" && st.Frames >= 10 && pos(st).After(clips[0].start.Add(-time.Second)) {
			break
		}
		if time.Now().After(deadline) {
			dbg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({r: document.querySelector(".tile").getBoundingClientRect(), h: innerHeight, w: innerWidth, vis: document.visibilityState})`))
			t.Fatalf("after 30 s the tile is %+v (clips %+v) %s", st, clips, dbg)
		}
	}
	if st.Width != 320 || pos(st).After(clips[0].end) {
		t.Errorf("playing the first clip %+v: %+v", clips[0], st)
	}
	session := lastSeg(st.Session)

	// Seek to the second clip: the position moves there.
	at := clips[1].start.Truncate(time.Second).Add(time.Second) // inside it: the clip is ~7 s
	local := at.In(audit.Vietnam).Format("2006-01-02T15:04:05")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(".tile .pb-at").value = "`+local+`"; true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(".tile .pb-seek")); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 10*time.Second, "the seek's answer and the position in the second clip", func() bool {
		st = read()
		seeked, err := time.Parse(time.RFC3339Nano, st.Seeked)
		return err == nil && !seeked.After(at) && !seeked.Before(clips[1].start.Add(-time.Millisecond)) &&
			!pos(st).Before(clips[1].start.Add(-time.Millisecond))
	})
	frames := st.Frames
	devtest.WaitFor(t, 10*time.Second, "frames after the seek", func() bool { return read().Frames > frames+5 })

	// The end of the recordings: the tile says so; audited.
	devtest.WaitFor(t, 30*time.Second, "the playback's end shown", func() bool {
		st = read()
		return st.State == "ended"
	})
	if st.End != "playback reached the end of the recordings" && st.End != "playback reached the end of the asked range" {
		t.Errorf("end reason %q (%s)", st.End, st.Text)
	}
	var es struct {
		Entries []audit.Entry `json:"entries"`
	}
	var closed *audit.Entry
	devtest.WaitFor(t, 10*time.Second, "live_close audited", func() bool {
		s.api(t, "GET", "/api/audit?action="+audit.LiveClose, "", "", &es)
		for i, e := range es.Entries {
			if e.Detail["session"] == session {
				closed = &es.Entries[i]
			}
		}
		return closed != nil
	})
	from := motion.Add(-10 * time.Second).UTC().Truncate(time.Second)
	if n, _ := strconv.Atoi(closed.Detail["bytes"]); n < 1000 || closed.Detail["gateway_reason"] != st.End ||
		closed.Detail["from"] != from.Format(time.RFC3339) || closed.Detail["quality"] != "recording" || closed.Detail["stats_error"] != "" {
		t.Errorf("live_close %+v (want from %s)", closed, from.Format(time.RFC3339))
	}
	s.api(t, "GET", "/api/audit?action="+audit.LiveOpen, "", "", &es)
	found := false
	for _, e := range es.Entries {
		found = found || (e.OK && e.Detail["session"] == session && e.Detail["to"] == from.Add(10*time.Minute).Format(time.RFC3339) && e.Detail["speed"] == "1")
	}
	if !found {
		b, _ := json.Marshal(es)
		t.Errorf("no live_open entry with the range for %s: %s", session, b)
	}
}

func cast(v any) string { s, _ := v.(string); return s }
