// Package mp4test judges recorded files with ffprobe (Debian ffmpeg), the
// way a viewer's player would: codec, size, frames, duration, and no error
// reading the whole file.
package mp4test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Package names the Debian package that provides ffprobe (.ci/test-deps.sh).
const Package = "ffmpeg"

// Probe is what ffprobe found in a file's first video stream.
type Probe struct {
	Codec         string
	Width, Height int
	// Frames is the number of frames decoded (counted, not read from a header).
	Frames int
	// Duration is the stream's duration; FirstKey tells whether the first
	// decoded frame is a key frame.
	Duration time.Duration
	FirstKey bool
	// Errors is what ffprobe printed on stderr at level error.
	Errors string
}

// Run probes path, decoding every frame; it fails the test when ffprobe is
// missing or cannot read the file at all.
func Run(t testing.TB, path string) Probe {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Fatalf("ffprobe not found: install Debian %s (.ci/test-deps.sh)", Package)
	}
	cmd := exec.Command(bin, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames,duration:frame=key_frame:format=duration",
		"-show_frames", "-of", "json", path)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, errb.String())
	}
	var r struct {
		Streams []struct {
			Codec    string `json:"codec_name"`
			Width    int    `json:"width"`
			Height   int    `json:"height"`
			Frames   string `json:"nb_read_frames"`
			Duration string `json:"duration"`
		} `json:"streams"`
		Frames []struct {
			Key int `json:"key_frame"`
		} `json:"frames"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out.String())
	}
	if len(r.Streams) == 0 {
		t.Fatalf("ffprobe %s: no video stream\n%s", path, out.String())
	}
	s := r.Streams[0]
	p := Probe{Codec: s.Codec, Width: s.Width, Height: s.Height, Errors: errb.String()}
	p.Frames, _ = strconv.Atoi(s.Frames)
	d := s.Duration
	if d == "" || d == "N/A" {
		d = r.Format.Duration
	}
	if f, err := strconv.ParseFloat(d, 64); err == nil {
		p.Duration = time.Duration(f * float64(time.Second))
	}
	p.FirstKey = len(r.Frames) > 0 && r.Frames[0].Key == 1
	return p
}
