package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const recordBase = "gateway: {id: g, data_dir: /data/gw}\nuplink: {broker: mqtt://h}\nsensors:\n  - {name: cong-pir, kind: motion, driver: sim, every: 1s}\n"

func TestRecordingKeys(t *testing.T) {
	cfg, err := Parse([]byte(recordBase + `cameras:
  - name: c1
    url: rtsp://192.168.1.64/s
    record: clips
    clip_on: [cong-pir]
    pre_roll: 3s
    post_roll: 20s
    max_clip: 2m
  - {name: c2, url: "rtsp://192.168.1.65/s", record: continuous}
  - {name: c3, url: "rtsp://192.168.1.66/s"}
recording: {max_bytes: 1GiB, max_age: 48h, upload_budget: 50MiB, segment: 10s}
`))
	if err != nil {
		t.Fatal(err)
	}
	c1, c2, c3 := cfg.Cameras[0], cfg.Cameras[1], cfg.Cameras[2]
	if c1.Record != RecordClips || len(c1.ClipOn) != 1 || c1.PreRoll != 3*time.Second || c1.PostRoll != 20*time.Second || c1.MaxClip != 2*time.Minute {
		t.Errorf("c1 = %+v", c1)
	}
	if c2.Record != RecordContinuous || c2.PreRoll != DefaultPreRoll || c2.PostRoll != DefaultPostRoll || c2.MaxClip != DefaultMaxClip {
		t.Errorf("c2 = %+v", c2)
	}
	if c3.Record != "" {
		t.Errorf("c3 = %+v", c3)
	}
	r := cfg.Recording
	if r.Dir != filepath.Join("/data/gw", DefaultRecordingDirName) || r.MaxBytes != 1<<30 || r.MaxAge != 48*time.Hour || r.UploadBudget != 50<<20 || r.Segment != 10*time.Second {
		t.Errorf("recording = %+v", r)
	}
	cfg, err = Parse([]byte(recordBase))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Recording; r.MaxBytes != DefaultRecordingMaxBytes || r.MaxAge != DefaultRecordingMaxAge || r.Segment != time.Minute {
		t.Errorf("defaults = %+v", r)
	}
}

func TestRecordingErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", record: always}", `line 6: cameras[0].record: "always" is not one of clips, continuous`},
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", clip_on: [cong-pir]}", "line 6: cameras[0].clip_on: needs record: clips"},
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", record: clips, clip_on: [nope]}", `cameras[0].clip_on[0]: no sensor named "nope"`},
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", record: clips, clip_on: [cong-pir, cong-pir]}", `cameras[0].clip_on[1]: "cong-pir" is listed twice`},
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", record: clips, pre_roll: 1m}", "cameras[0].pre_roll: 1m0s is out of range; use 0s to 30s"},
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", record: clips, post_roll: 0s}", "cameras[0].post_roll: 0s is out of range"},
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", record: clips, pre_roll: 10s, post_roll: 1m, max_clip: 30s}", "cameras[0].max_clip: 30s is shorter than pre_roll + post_roll"},
		{"cameras:\n  - {name: c, url: \"rtsp://h/s\", post_roll: 5s}", "cameras[0].post_roll: only applies with record"},
		{"recording: {max_bytes: 1MiB}", "line 5: recording.max_bytes: 1MiB is below the minimum of 16MiB"},
		{"recording: {max_age: 10m}", "recording.max_age: 10m0s is too short"},
		{"recording: {segment: 2s}", "line 5: recording.segment: 2s is outside 5s to 10m0s (the default is 1m0s)"},
		{"recording: {segment: 1h}", "recording.segment: 1h0m0s is outside 5s to 10m0s"},
		{"recording: {max_bites: 1GiB}", `line 5: recording.max_bites: unknown key "max_bites"`},
	} {
		_, err := Parse([]byte(recordBase + tc.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.yaml, err, tc.want)
		}
	}
}
