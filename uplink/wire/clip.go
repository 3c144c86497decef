package wire

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Recorded clips (protocol v1).
//
// A gateway records a clip (fragmented MP4) on the board and announces it
// with an event of kind KindClip once the file is complete. The bytes move
// only when asked (cmd/clip.get) or, for clips of armed-mode alarms, at once
// by the gateway's own choice. They travel as chunks, QoS 1, each on
//
//	{prefix}/{gateway}/clip/{clip}/{offset}
//
// with the raw file bytes [offset, offset+len) as payload, at most
// ClipChunkMax bytes, in file order with a few awaiting their PUBACK (so
// they may arrive out of order within that window). The station stores a chunk durably
// before its PUBACK, so the gateway resumes after a link cut from the end
// of the last acknowledged chunk. The clip event carries the file's length
// and SHA-256: the station knows the clip is whole when it holds every byte
// and the hash matches.
const (
	// TopicClip is the level under which clip chunks travel.
	TopicClip = "clip"

	// KindClip announces a complete clip on the board. Source is the
	// camera; attrs hold ClipAttr* keys.
	KindClip = "clip"

	// KindClipLost: evidence (a clip to upload at once) was evicted on the
	// board before it was uploaded. Source is the camera; attrs are the
	// clip's ClipAttr* and "lost", why.
	KindClipLost = "clip_lost"

	// KindRecordingFailed: the board's clip store cannot be opened (a
	// failing card, a broken index); the gateway runs on without
	// recording. Source is the gateway; attrs "error".
	KindRecordingFailed = "recording_failed"

	// ClipChunkMax is the largest chunk payload (256 KiB).
	ClipChunkMax = 256 << 10

	// CmdClipGet asks the gateway to send clips: {"clip":ID,"offset":N}
	// for one clip (from offset N, default 0), or {"camera":C,"from":T,
	// "to":T} for the recordings of a camera over a time range (RFC 3339),
	// with an optional "skip":[ID] of clips the station already holds
	// (at most ClipGetMaxSkip). The reply lists the clips that will be
	// sent: {"clips":[ClipInfo],"skipped":N}, N the clips of the range
	// left out because skip named them.
	CmdClipGet = "clip.get"

	// ClipGetMaxSkip bounds clip.get's "skip": a 2-hour range of one-minute
	// segments is 120 ids; a gateway refuses a longer list rather than
	// spend its memory on it.
	ClipGetMaxSkip = 1000
)

// ClipGetRange is clip.get's arguments for a time range, as the station
// sends them (the gateway decodes them strictly, device/clipupload).
type ClipGetRange struct {
	Camera string   `json:"camera"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	Skip   []string `json:"skip,omitempty"`
}

// CheckClipSkip tells what is wrong with a clip.get "skip" list: too many
// ids, or one that is not a clip id (named, so a station's bug is found
// from the reply alone).
func CheckClipSkip(ids []string) error {
	if len(ids) > ClipGetMaxSkip {
		return fmt.Errorf(`argument "skip": %d clip ids, more than %d`, len(ids), ClipGetMaxSkip)
	}
	for i, id := range ids {
		if !ValidClipID(id) {
			return fmt.Errorf(`argument "skip": item %d, %.90q, is not a clip id`, i, id)
		}
	}
	return nil
}

// Attribute keys of a KindClip event.
const (
	ClipAttrID       = "clip"        // clip id (ValidClipID)
	ClipAttrDuration = "duration_ms" // media duration in milliseconds
	ClipAttrBytes    = "bytes"       // file length
	ClipAttrSHA256   = "sha256"      // hex SHA-256 of the whole file
	ClipAttrStart    = "start"       // RFC 3339 time of the first frame
	ClipAttrForSeq   = "for_seq"     // seq of the event that caused it (0: continuous segment)
	ClipAttrUpload   = "upload"      // "auto" when the gateway sends it unasked, else "on_request"
	ClipAttrReason   = "reason"      // "event", "alarm" or "continuous"
)

// ClipInfo describes one clip in a clip.get reply.
type ClipInfo struct {
	ID       string `json:"clip"`
	Camera   string `json:"camera"`
	Start    string `json:"start"`
	Duration int64  `json:"duration_ms"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
}

var clipIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,79}$`)

// ValidClipID reports whether s may name a clip: it is one topic level,
// safe as a file name on both ends.
func ValidClipID(s string) bool { return clipIDRE.MatchString(s) && !strings.Contains(s, "..") }

// ClipChunk is the topic of clip's chunk starting at offset.
func (t Topics) ClipChunk(clip string, offset int64) string {
	return t.Base() + TopicClip + "/" + clip + "/" + strconv.FormatInt(offset, 10)
}

// ClipChunkFilter subscribes to every clip chunk of this gateway.
func (t Topics) ClipChunkFilter() string { return t.Base() + TopicClip + "/+/+" }

// ParseClipChunk reads the levels below the gateway's base ("clip/ID/OFFSET",
// as Split returns them) into the clip id and offset.
func ParseClipChunk(rest string) (clip string, offset int64, err error) {
	r, ok := strings.CutPrefix(rest, TopicClip+"/")
	if !ok {
		return "", 0, fmt.Errorf("clip chunk topic %q: not under %s/", rest, TopicClip)
	}
	id, off, ok := strings.Cut(r, "/")
	if !ok || !ValidClipID(id) {
		return "", 0, fmt.Errorf("clip chunk topic %q: bad clip id", rest)
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != off {
		return "", 0, fmt.Errorf("clip chunk topic %q: bad offset %q", rest, off)
	}
	return id, n, nil
}
