// Package wire holds the types and topic names of protocol v1, the contract
// between a gateway and its station (see docs/protocol.md).
//
// It is a leaf package with no dependencies beyond the standard library, so
// the outbox, the MQTT session and the station can all share it without an
// import cycle.
package wire

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ProtocolVersion is the version of the wire contract described here.
const ProtocolVersion = 1

// DefaultPrefix is the first level of every topic unless configured otherwise.
const DefaultPrefix = "antt"

// Event kinds. Sensors use their configured kind (motion, contact, tamper,
// panic); the rest are raised by the gateway itself.
const (
	KindMotion         = "motion"
	KindContact        = "contact"
	KindTamper         = "tamper"
	KindPanic          = "panic"
	KindCameraOffline  = "camera_offline"
	KindCameraOnline   = "camera_online"
	KindOutboxOverflow = "outbox_overflow"
	KindStorageReset   = "storage_reset"
	KindBoot           = "boot"
	// KindSnapshot is a snapshot taken on the snapshot command; its JPEG
	// follows on snapshot/{seq}.
	KindSnapshot = "snapshot"
	// KindCaptureFailed reports sensor edges the gateway could not make
	// durable (disk full, I/O error) and had to give up; attrs: count,
	// first, last (RFC 3339 times of the first and last lost edge), error.
	KindCaptureFailed = "capture_failed"
)

// Sensor states carried in Event.State.
const (
	StateActive   = "active"
	StateInactive = "inactive"
)

// Event is one thing that happened at a site. Seq, ID and Epoch are assigned
// by the outbox when the event is made durable; everything else by whoever
// raised it.
//
// Epoch names the gateway's sequence of seqs: it is created when the outbox
// has to start again at seq 1 (new storage: both the database and its seq
// sidecar are gone, as with a replaced SD card) and kept for as long as
// either survives. Seqs are strictly increasing within one epoch; a station
// keeps them per (gateway, epoch). Empty from gateways that predate epochs.
type Event struct {
	Seq         uint64         `json:"seq"`
	ID          string         `json:"id"`
	Epoch       string         `json:"epoch,omitempty"`
	Kind        string         `json:"kind"`
	Source      string         `json:"source,omitempty"`
	State       string         `json:"state,omitempty"`
	Time        time.Time      `json:"time"`
	ClockSynced bool           `json:"clock_synced"`
	UptimeMS    int64          `json:"uptime_ms"`
	Boot        string         `json:"boot"`
	Test        bool           `json:"test"`
	Attrs       map[string]any `json:"attrs,omitempty"`
}

// EventID is the globally unique id of event seq from gateway gw.
func EventID(gw string, seq uint64) string { return fmt.Sprintf("%s/%d", gw, seq) }

// Status is the retained payload on the status topic: the birth message
// (Online true) and the will / clean-stop message (Online false).
type Status struct {
	Online bool   `json:"online"`
	Boot   string `json:"boot"`
	// Epoch is the outbox's epoch (see Event.Epoch), in the birth message.
	Epoch   string    `json:"epoch,omitempty"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started,omitzero"`
}

// OutboxStats is the outbox part of telemetry and of /api/status.
type OutboxStats struct {
	Depth    int     `json:"depth"`
	OldestS  float64 `json:"oldest_s"`
	Bytes    int64   `json:"bytes"`
	Dropped  uint64  `json:"dropped"`
	FileSize int64   `json:"file_bytes,omitempty"`
	NextSeq  uint64  `json:"next_seq,omitempty"`
	// Epoch is the outbox's epoch (see Event.Epoch).
	Epoch string `json:"epoch,omitempty"`
	// Bound is the file bound really in use: MaxBytes (outbox.max_bytes),
	// or less when the data partition cannot hold that much.
	Bound    int64 `json:"bound_bytes,omitempty"`
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// Telemetry is published every telemetry_interval at QoS 0.
type Telemetry struct {
	UptimeS  float64           `json:"uptime_s"`
	Outbox   OutboxStats       `json:"outbox"`
	DiskFree int64             `json:"disk_free"`
	CPUTempC *float64          `json:"cpu_temp_c"`
	Cameras  map[string]string `json:"cameras"`
	Viewers  int               `json:"viewers"`
	// LiveBytesToday is the live-view media sent since the start of the
	// gateway's day (its timezone), ended sessions included: the SIM's
	// cost of live view today. Absent while zero.
	LiveBytesToday uint64 `json:"live_bytes_today,omitempty"`
	// Alarm is the alarm mode (disarmed, away, ...); absent without an alarm.
	Alarm string `json:"alarm,omitempty"`
	// Outputs tells which outputs (siren, strobe) are on; absent without outputs.
	Outputs map[string]bool `json:"outputs,omitempty"`
	// RecordingBytesToday is what recording wrote to the SD card since the
	// start of the gateway's day (its wear); absent while zero.
	RecordingBytesToday int64 `json:"recording_bytes_today,omitempty"`
	// ClipUpload is the clip uploader's daily budget and use (data on a
	// prepaid SIM); absent when no camera records.
	ClipUpload *ClipUploadStats `json:"clip_upload,omitempty"`
}

// ClipUploadStats is the clip uploader's report (device/clipupload).
type ClipUploadStats struct {
	Budget     int64  `json:"budget"`      // daily bytes for automatic uploads (0: none)
	BytesToday int64  `json:"bytes_today"` // clip bytes acknowledged today, asked and automatic
	AutoToday  int64  `json:"auto_today"`  // of which automatic
	Pending    int    `json:"pending"`     // clips waiting to be sent
	Held       int    `json:"held"`        // automatic uploads the budget holds until tomorrow
	Sending    string `json:"sending,omitempty"`
}

// Reply answers one command on reply/{id}.
type Reply struct {
	ID    string          `json:"id"`
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"-"`
}

// MarshalJSON flattens Data (a JSON object) into the reply beside id and ok,
// as the contract shows: {"id":R,"ok":true,...}.
func (r Reply) MarshalJSON() ([]byte, error) {
	type head struct {
		ID    string `json:"id"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	h, err := json.Marshal(head{r.ID, r.OK, r.Error})
	if err != nil {
		return nil, err
	}
	if len(r.Data) == 0 || string(r.Data) == "{}" || string(r.Data) == "null" {
		return h, nil
	}
	d := strings.TrimSpace(string(r.Data))
	if !strings.HasPrefix(d, "{") || !strings.HasSuffix(d, "}") {
		return nil, fmt.Errorf("reply data must be a JSON object, got %.20q", d)
	}
	return append(append(h[:len(h)-1], ','), d[1:]...), nil
}

// Topic names below {prefix}/{gateway}/.
const (
	TopicStatus    = "status"
	TopicEvent     = "event"
	TopicSnapshot  = "snapshot"
	TopicTelemetry = "telemetry"
	TopicCmd       = "cmd"
	TopicReply     = "reply"
)

// ValidID reports whether s may be used as a gateway id (and so as one topic
// level): lower-case letters, digits and '-', starting with a letter or digit,
// at most 63 characters. It is `^[a-z0-9][a-z0-9-]{0,62}$` written as a loop:
// the station checks it on every publish, where the regular expression cost
// more than the rest of the topic's handling (FuzzValidators keeps the two
// equal).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !lowerOrDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func lowerOrDigit(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// Topics builds the topic names of one gateway.
type Topics struct {
	Prefix  string
	Gateway string
}

// Base is "{prefix}/{gateway}/".
func (t Topics) Base() string { return t.Prefix + "/" + t.Gateway + "/" }

// Status is the retained birth/will topic.
func (t Topics) Status() string { return t.Base() + TopicStatus }

// Event is the topic events are published on.
func (t Topics) Event() string { return t.Base() + TopicEvent }

// Snapshot is the topic of the JPEG taken for event seq.
func (t Topics) Snapshot(seq uint64) string {
	return fmt.Sprintf("%s%s/%d", t.Base(), TopicSnapshot, seq)
}

// Telemetry is the periodic health topic.
func (t Topics) Telemetry() string { return t.Base() + TopicTelemetry }

// Cmd is the topic of command name; CmdFilter subscribes to all of them.
func (t Topics) Cmd(name string) string { return t.Base() + TopicCmd + "/" + name }

// CmdFilter is the subscription filter for every command to this gateway.
func (t Topics) CmdFilter() string { return t.Base() + TopicCmd + "/#" }

// Reply is the topic of the reply to request id.
func (t Topics) Reply(id string) string { return t.Base() + TopicReply + "/" + id }

// Split parses a full topic into gateway id and the rest below it
// ("event", "cmd/ping", ...). ok is false when the topic is not under prefix
// or names an invalid gateway.
func Split(prefix, topic string) (gateway, rest string, ok bool) {
	// Not prefix+"/": Split runs on every publish the station reads, and
	// the concatenation would allocate each time.
	if len(topic) <= len(prefix) || topic[len(prefix)] != '/' || !strings.HasPrefix(topic, prefix) {
		return "", "", false
	}
	gateway, rest, ok = strings.Cut(topic[len(prefix)+1:], "/")
	if !ok || !ValidID(gateway) || rest == "" {
		return "", "", false
	}
	return gateway, rest, true
}

// ValidEpoch reports whether s may be an Event.Epoch: 1 to 32 lower-case
// letters and digits (a gateway makes 16 hexadecimal digits from 64 random
// bits). The empty epoch of an older gateway is not valid here; callers
// accept it separately. It is `^[a-z0-9]{1,32}$` written as a loop, like
// ValidID.
func ValidEpoch(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !lowerOrDigit(s[i]) {
			return false
		}
	}
	return true
}
