package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
)

// A range fetch never re-sends what the station holds, with the real
// parts: the GStreamer camera, the real gateway binary recording a clip
// per motion pulse, the real station binary. An officer fetches a range
// holding two clips: both come. The same range again: the station names
// them in skip, the gateway queues none and the officer is told they are
// held; a range within one held clip is answered by the station without
// asking the gateway. The gateway's bytes acknowledged today grow by
// exactly a third clip's, asked for afterwards by id: the repeats sent 0
// clip bytes.
func TestRangeFetchTwiceSendsNothingAgain(t *testing.T) {
	t.Parallel()
	cam := rtsptest.StartCamera(t, "--width", "320", "--height", "240", "--fps", "25", "--key-int-max", "25")
	dir := t.TempDir()
	st := startConsoleStation(t, filepath.Join(dir, "station"), "-turn", "")
	const gw, camName = "cong-khu-3", "cam-cong"
	api := devtest.FreeAddr(t)
	cfg := filepath.Join(dir, gw+".yaml")
	y := fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink: {broker: "mqtt://%s", client_id: %s, keepalive: 5s, telemetry_interval: 1h}
api: {listen: "%s"}
sensors:
  - {name: pir, kind: motion, driver: sim, debounce: 0s, hold: 0s,
     script: [{at: 3s, level: high}, {at: 3300ms, level: low},
              {at: 8s, level: high}, {at: 8300ms, level: low},
              {at: 13s, level: high}, {at: 13300ms, level: low}]}
cameras:
  - {name: %s, url: %q, record: clips, clip_on: [pir], pre_roll: 1s, post_roll: 1s}
`, gw, filepath.Join(dir, "gw"), st.addr, gw, api, camName, cam.URL)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	g := startBinGateway(t, cfg, api)

	type clip struct {
		Clip     string `json:"clip"`
		Camera   string `json:"camera"`
		Start    string `json:"start"`
		Duration int64  `json:"duration_ms"`
		Bytes    int64  `json:"bytes"`
		State    string `json:"state"`
	}
	var l struct{ Clips []clip }
	devtest.WaitFor(t, 60*time.Second, "three clips announced at the station", func() bool {
		st.tryAPI(t, "GET", "/api/clips/"+gw, &l)
		return len(l.Clips) >= 3
	})
	if len(l.Clips) != 3 {
		t.Fatalf("%d clips announced, want 3: %+v", len(l.Clips), l.Clips)
	}
	start := make([]time.Time, 3)
	end := make([]time.Time, 3)
	for i, c := range l.Clips {
		var err error
		if start[i], err = time.Parse(time.RFC3339Nano, c.Start); err != nil || c.Camera != camName || c.State != "missing" || c.Duration <= 0 {
			t.Fatalf("clip %+v (%v)", c, err)
		}
		end[i] = start[i].Add(time.Duration(c.Duration) * time.Millisecond)
	}
	from, to := start[0].Truncate(time.Second), end[1].Truncate(time.Second).Add(time.Second)
	if !start[2].After(to) {
		t.Fatalf("the third clip starts %v, within the range ending %v: the pulses are too close", start[2], to)
	}
	type answer struct {
		Result struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
			Reply struct {
				Clips   []clip `json:"clips"`
				Skipped int    `json:"skipped"`
			} `json:"reply"`
		} `json:"result"`
		Sent bool   `json:"sent"`
		Held int    `json:"held"`
		Note string `json:"note"`
	}
	fetch := func(from, to time.Time) answer {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"camera": camName, "from": from, "to": to})
		var a answer
		st.api(t, "POST", "/api/clips/"+gw+"/fetch", string(b), "", &a)
		if !a.Result.OK {
			t.Fatalf("range fetch [%v, %v]: %+v", from, to, a)
		}
		return a
	}
	uploaded := func(what string, want int64) {
		t.Helper()
		devtest.WaitFor(t, 60*time.Second, what, func() bool {
			u := g.status(t).Upload
			return u != nil && u.Pending == 0 && u.Sending == "" && u.BytesToday >= want
		})
		if got := g.status(t).Upload.BytesToday; got != want {
			t.Fatalf("%s: the gateway sent %d clip bytes today, want %d", what, got, want)
		}
	}

	a := fetch(from, to)
	if !a.Sent || len(a.Result.Reply.Clips) != 2 || a.Result.Reply.Skipped != 0 {
		t.Fatalf("first fetch: %+v", a)
	}
	first := l.Clips[0].Bytes + l.Clips[1].Bytes
	for _, c := range l.Clips[:2] {
		var s clip
		devtest.WaitFor(t, 60*time.Second, "clip "+c.Clip+" complete at the station", func() bool {
			st.tryAPI(t, "GET", "/api/clips/"+gw+"/"+c.Clip+"/status", &s)
			return s.State == "complete"
		})
	}
	uploaded("the first fetch", first)

	// The same range again: asked (the announcements leave gaps between
	// the clips), both skipped.
	a = fetch(from, to)
	if !a.Sent || len(a.Result.Reply.Clips) != 0 || a.Result.Reply.Skipped != 2 || a.Note == "" {
		t.Fatalf("second fetch: %+v, want both skipped and a note", a)
	}
	// Within the first clip: the station holds it all, the gateway is not asked.
	in := start[0].Truncate(time.Second).Add(time.Second)
	if !in.Before(end[0]) {
		t.Fatalf("the first clip (%v to %v) holds no whole second", start[0], end[0])
	}
	a = fetch(in, in)
	if a.Sent || a.Held != 1 || a.Note == "" || len(a.Result.Reply.Clips) != 0 {
		t.Fatalf("fetch within a held clip: %+v, want it answered by the station", a)
	}
	// The third clip by id: once it is here, anything the repeats had
	// queued would have gone before it.
	var one struct {
		Result struct {
			OK bool `json:"ok"`
		} `json:"result"`
	}
	st.api(t, "POST", "/api/clips/"+gw+"/"+l.Clips[2].Clip+"/fetch", "", "", &one)
	if !one.Result.OK {
		t.Fatalf("fetch of the third clip: %+v", one)
	}
	uploaded("the third clip", first+l.Clips[2].Bytes)
	t.Logf("first fetch %d bytes; repeats 0 bytes; third clip %d bytes", first, l.Clips[2].Bytes)
}
