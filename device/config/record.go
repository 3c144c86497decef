package config

import (
	"fmt"
	"path/filepath"
	"time"
)

// Recording defaults (docs/recording.md).
const (
	// DefaultRecordingDirName is recording.dir inside gateway.data_dir.
	DefaultRecordingDirName = "recordings"
	// DefaultRecordingMaxBytes holds about 9 hours of a 512 kbit/s
	// substream, or hundreds of event clips, on an 8 GB card.
	DefaultRecordingMaxBytes int64 = 2 << 30
	// MinRecordingMaxBytes holds a few clips of a 2 Mbit/s camera.
	MinRecordingMaxBytes int64 = 16 << 20
	// DefaultRecordingMaxAge keeps a week of continuous recording at most:
	// footage of people passing by is not kept longer than needed. Event
	// clips are kept until room is needed, whatever their age.
	DefaultRecordingMaxAge = 7 * 24 * time.Hour
	// DefaultPreRoll, DefaultPostRoll and DefaultMaxClip shape event clips.
	DefaultPreRoll  = 5 * time.Second
	DefaultPostRoll = 10 * time.Second
	DefaultMaxClip  = 60 * time.Second
	// MaxPreRoll bounds the pre-roll kept in memory for each camera.
	MaxPreRoll = 30 * time.Second
	// DefaultSegment is the length of a continuous segment: one clip
	// event a minute per camera (about 0.6 MB of uplink a day), and a
	// time range fetched over 4G carries at most a minute too much.
	DefaultSegment = time.Minute
	// MinSegment and MaxSegment bound recording.segment: shorter segments
	// make more clip events (5 s: about 7 MB of uplink a day per camera)
	// and an index entry each; longer ones make a range fetch bring more
	// than was asked for.
	MinSegment = 5 * time.Second
	MaxSegment = 10 * time.Minute
)

// Camera record modes (camera key record).
const (
	RecordClips      = "clips"
	RecordContinuous = "continuous"
)

// Recording is the top-level recording: section, the clip store.
type Recording struct {
	// Dir holds the clips and their index; absolute after loading.
	Dir string `json:"dir"`
	// MaxBytes bounds the recordings' total size; the partition also
	// keeps the outbox's room free whatever this says.
	MaxBytes int64 `json:"max_bytes"`
	// MaxAge removes continuous segments older than this (0: no limit).
	MaxAge time.Duration `json:"max_age"`
	// UploadBudget is the daily bytes automatic clip uploads may use over
	// the uplink (0: no limit); clips the station asks for always go.
	UploadBudget int64 `json:"upload_budget,omitempty"`
	// Segment is the length of each continuous recording's files.
	Segment time.Duration `json:"segment"`
}

// recordingKeys are the keys of the recording: section.
var recordingKeys = []string{"dir", "max_bytes", "max_age", "upload_budget", "segment"}

// cameraRecordKeys are a camera's recording keys.
var cameraRecordKeys = []string{"record", "clip_on", "pre_roll", "post_roll", "max_clip"}

// recording reads the recording: section (after gateway:, for data_dir).
func (d *decoder) recording(cfg *Config, f *fields) {
	r := &cfg.Recording
	r.Dir = filepath.Join(cfg.Gateway.DataDir, DefaultRecordingDirName)
	if f.str("dir", &r.Dir) {
		r.Dir = d.path(r.Dir)
	}
	r.MaxBytes = DefaultRecordingMaxBytes
	if f.size("max_bytes", &r.MaxBytes) && r.MaxBytes < MinRecordingMaxBytes {
		f.errf("max_bytes", "%s is below the minimum of %s: a single clip of a 2 Mbit/s camera takes several MiB (the default is %s)",
			FormatSize(r.MaxBytes), FormatSize(MinRecordingMaxBytes), FormatSize(DefaultRecordingMaxBytes))
	}
	r.MaxAge = DefaultRecordingMaxAge
	if f.duration("max_age", &r.MaxAge) && r.MaxAge != 0 && r.MaxAge < time.Hour {
		f.errf("max_age", "%s is too short; use 1h or more, or 0 for no limit (max_bytes still applies)", r.MaxAge)
	}
	if f.size("upload_budget", &r.UploadBudget) && r.UploadBudget < 0 {
		f.errf("upload_budget", "must not be negative (0: no limit)")
	}
	r.Segment = DefaultSegment
	if f.duration("segment", &r.Segment) && (r.Segment < MinSegment || r.Segment > MaxSegment) {
		f.errf("segment", "%s is outside %s to %s (the default is %s)", r.Segment, MinSegment, MaxSegment, DefaultSegment)
	}
}

// sensorList reads key, a list of sensor names (sensors: the configured
// ones), each named at most once; it returns how many were listed and the
// ones accepted, and reports the others at their line.
func (d *decoder) sensorList(cfg *Config, f *fields, key string, sensors map[string]bool) (int, []string) {
	names, lines := f.strList(key)
	var ok []string
	used := map[string]bool{}
	for i, n := range names {
		p := fmt.Sprintf("%s[%d]", f.key(key), i)
		switch {
		case !sensors[n]:
			d.add(lines[i], p, "no sensor named %q (configured: %s)", n, sensorNames(cfg))
		case used[n]:
			d.add(lines[i], p, "%q is listed twice", n)
		default:
			ok = append(ok, n)
		}
		used[n] = true
	}
	return len(names), ok
}

// cameraRecord reads a camera's record, clip_on, pre_roll, post_roll and
// max_clip; sensors are the configured sensor names.
func (d *decoder) cameraRecord(cfg *Config, f *fields, c *Camera, sensors map[string]bool) {
	f.oneOf("record", &c.Record, RecordClips, RecordContinuous)
	var listed int
	listed, c.ClipOn = d.sensorList(cfg, f, "clip_on", sensors)
	if listed > 0 && c.Record == "" && !f.has("record") {
		f.errf("clip_on", "needs record: clips (or continuous): the camera must be recording to keep what came before the event")
	}
	for _, k := range []string{"pre_roll", "post_roll", "max_clip"} {
		if f.has(k) && c.Record == "" && !f.has("record") {
			f.errf(k, "only applies with record: clips or continuous")
		}
	}
	if c.Record == "" {
		return
	}
	c.PreRoll, c.PostRoll, c.MaxClip = DefaultPreRoll, DefaultPostRoll, DefaultMaxClip
	if f.duration("pre_roll", &c.PreRoll) && (c.PreRoll < 0 || c.PreRoll > MaxPreRoll) {
		f.errf("pre_roll", "%s is out of range; use 0s to %s (it is kept in memory)", c.PreRoll, MaxPreRoll)
	}
	if f.duration("post_roll", &c.PostRoll) && (c.PostRoll < time.Second || c.PostRoll > 5*time.Minute) {
		f.errf("post_roll", "%s is out of range; use 1s to 5m", c.PostRoll)
	}
	if f.duration("max_clip", &c.MaxClip) && (c.MaxClip < 5*time.Second || c.MaxClip > 10*time.Minute) {
		f.errf("max_clip", "%s is out of range; use 5s to 10m (longer activity goes on in the next clip)", c.MaxClip)
	} else if c.MaxClip < c.PreRoll+c.PostRoll && f.has("max_clip") {
		f.errf("max_clip", "%s is shorter than pre_roll + post_roll (%s)", c.MaxClip, c.PreRoll+c.PostRoll)
	}
}
