// Package config reads the gateway's YAML configuration (on the image,
// /boot/gateway.yaml, so an installer can edit it from any laptop).
//
// Reading is strict: unknown keys, duplicate keys, values of the wrong type
// and settings that contradict each other are errors. All of them are found
// in one pass and returned together as *Errors, each one naming its line and
// key path ("line 12: sensors[1].debounce: ..."), so a file is fixed in one
// round. Settings left out get defaults chosen for a Raspberry Pi class
// board booting from an SD card; each default is a Default* constant below.
//
// Secrets (the MQTT password, TURN credentials, passwords inside camera
// URLs) are held in Secret and SecretURL, which print as "[redacted]" in fmt,
// JSON, YAML and slog output. They are best kept out of the file: see
// Uplink.Password for the order in which a password is looked for.
//
// Relative paths in the file (data_dir, password_file, tls files,
// credential_file) are taken relative to the file's own directory, so a
// config and its secrets can move together.
package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/antt-gateway/antt/device/output"

	// The boards' root file systems carry no zoneinfo; embedding it (about
	// 450 KB) lets gateway.timezone work everywhere.
	_ "time/tzdata"
)

// Defaults. Each applies when its key is left out of the file.
const (
	// DefaultDataDir is on the writable data partition of the SD-card image
	// (the root file system is read-only).
	DefaultDataDir = "/data/gateway"
	// DefaultTimezone is where the boards are installed; it only affects
	// local-time display and logs, events carry UTC instants.
	DefaultTimezone = "Asia/Ho_Chi_Minh"
	// DefaultPrefix is the first topic level (wire.DefaultPrefix).
	DefaultPrefix = "antt"
	// DefaultKeepalive notices a dead mobile uplink within about a minute
	// without waking a 4G modem too often.
	DefaultKeepalive = 30 * time.Second
	// DefaultTelemetryInterval keeps QoS-0 telemetry to about 1.5 MB a
	// month on metered links.
	DefaultTelemetryInterval = 60 * time.Second
	// DefaultWindow is how many events may be published and not yet
	// removed from the outbox (awaiting PUBACK, or acked and awaiting the
	// outbox's commit). It bounds the duplicates a crash can cause, and
	// with it a backlog drains at up to 10,000 events/s over a 4G link with
	// 100 ms round trips, and at the broker's pace on a LAN (measured in
	// docs/performance.md). Keep it equal to uplink.DefaultWindow.
	DefaultWindow = 1024
	// DefaultMaxBytes bounds the outbox to a small fraction of even an 8 GB
	// card while holding days of events (a few hundred bytes each) during
	// an outage.
	DefaultMaxBytes int64 = 256 << 20
	// MinMaxBytes is the smallest accepted outbox bound: below it bbolt's
	// own pages and free list take a large share of the file and an outage
	// of a few hours with snapshots would already start dropping events.
	MinMaxBytes int64 = 1 << 20
	// DefaultAPIListen keeps the local API on loopback: it is unauthenticated.
	DefaultAPIListen = "127.0.0.1:8080"
	// DefaultDebounce filters contact bounce and PIR output chatter without
	// delaying an alarm noticeably.
	DefaultDebounce = 50 * time.Millisecond
	// DefaultMotionHold is the hold-off after a motion event: PIRs retrigger
	// continuously while someone stands at a gate, and one event per 10 s
	// is enough to say so.
	DefaultMotionHold = 10 * time.Second
	// DefaultHold applies to contact, tamper and panic sensors: every
	// change of those matters.
	DefaultHold time.Duration = 0
	// DefaultMaxViewers bounds concurrent live viewers: each one costs a
	// share of a 4G uplink and of a small board's CPU.
	DefaultMaxViewers = 4
	// DefaultOfflineAfter is how long a camera may stay unreachable before a
	// camera_offline event: long enough to ride out a camera's reboot.
	DefaultOfflineAfter = 30 * time.Second
	// DefaultOutputMaxOn bounds how long an output (a siren) stays on when
	// a command or rule forgets to switch it off.
	DefaultOutputMaxOn = 3 * time.Minute
	// DefaultWatchdogDevice and DefaultWatchdogTimeout apply when a watchdog
	// section is present.
	DefaultWatchdogDevice  = "/dev/watchdog"
	DefaultWatchdogTimeout = 15 * time.Second
	// MaxFileSize bounds what Load reads, for the config and for secret
	// files; a typo pointing at a device or a log must not hang the boot.
	MaxFileSize = 1 << 20
)

// Environment variables that supply secrets kept out of the file.
const (
	EnvMQTTPassword   = "ANTT_MQTT_PASSWORD"
	EnvTURNCredential = "ANTT_TURN_CREDENTIAL"
)

// Config is one gateway's whole configuration, with defaults applied and
// secrets loaded.
type Config struct {
	Gateway Gateway  `json:"gateway"`
	Uplink  Uplink   `json:"uplink"`
	Outbox  Outbox   `json:"outbox"`
	API     API      `json:"api"`
	Sensors []Sensor `json:"sensors"`
	// Cameras are validated now and used once device/camera exists.
	Cameras []Camera `json:"cameras"`
	Outputs []Output `json:"outputs"`
	Live    Live     `json:"live"`
	// Alarm is the alarm logic (alarm: and the sensors' alarm keys).
	Alarm Alarm `json:"alarm"`
	// Recording is the clip store (recording:); cameras record with their
	// record key (see record.go).
	Recording Recording `json:"recording"`
	// Watchdog is nil when the file has no watchdog section.
	Watchdog *Watchdog `json:"watchdog,omitempty"`

	// Warnings are things accepted but worth a log line at startup (an
	// inline password, a remotely reachable API).
	Warnings []Problem `json:"-"`
}

// Gateway identifies the board.
type Gateway struct {
	// ID is the gateway's topic level and event id prefix (wire.ValidID).
	ID   string `json:"id"`
	Site string `json:"site,omitempty"`
	// DataDir holds the outbox and state; absolute after loading.
	DataDir  string `json:"data_dir"`
	Timezone string `json:"timezone"`
	// Location is Timezone loaded.
	Location *time.Location `json:"-"`
}

// Uplink is the MQTT session to the station.
type Uplink struct {
	// Broker is the URL as written, with the default port added
	// (mqtt://host:1883, mqtts://host:8883).
	Broker string `json:"broker"`
	// Address is the broker's host:port; TLS is true for mqtts.
	Address  string `json:"address"`
	TLS      bool   `json:"tls"`
	Prefix   string `json:"prefix"`
	Username string `json:"username,omitempty"`
	// Password is looked for in this order, first found wins:
	// password_file (read at load, trailing newline removed), then the
	// environment variable ANTT_MQTT_PASSWORD, then the inline password
	// key (accepted with a warning). The file wins over the environment
	// because it is what this config explicitly names; the environment
	// wins over the inline value so a deployment can override a file
	// copied from an example. password and password_file together are an
	// error: one of them would be silently ignored.
	Password Secret `json:"password,omitempty"`
	// PasswordSource says where Password came from ("password_file
	// /boot/secrets/mqtt-password", "env ANTT_MQTT_PASSWORD", "password"),
	// for the startup log; empty when there is none.
	PasswordSource    string        `json:"password_source,omitempty"`
	TLSFiles          TLS           `json:"tls_files"`
	Keepalive         time.Duration `json:"keepalive"`
	TelemetryInterval time.Duration `json:"telemetry_interval"`
	// Window is the number of publishes in flight (awaiting PUBACK).
	Window int `json:"window"`
	// ClientID defaults to the gateway id, which the broker ACL expects.
	ClientID string `json:"client_id"`
}

// TLS names the PEM files of an mqtts uplink; paths are absolute after
// loading and the files were readable at load. There is deliberately no
// way to skip verification: set CA to the station's own CA instead.
type TLS struct {
	CA         string `json:"ca,omitempty"`
	Cert       string `json:"cert,omitempty"`
	Key        string `json:"key,omitempty"`
	ServerName string `json:"server_name,omitempty"`
}

// Outbox bounds the durable event queue.
type Outbox struct {
	MaxBytes int64 `json:"max_bytes"`
}

// API is the local HTTP API (health, status, walk test).
type API struct {
	Listen string `json:"listen"`
	// AllowRemote must be set for a non-loopback Listen: the API has no
	// authentication, so exposing it is a decision, not a default.
	AllowRemote bool `json:"allow_remote,omitempty"`
	// Token (from token_file) is the bearer token WHEP requires when
	// AllowRemote is set.
	Token Secret `json:"token,omitempty"`
}

// The values accepted for sensors' kind, driver, active and pull.
var (
	sensorKinds = []string{"motion", "contact", "tamper", "panic", "keyswitch"}
	drivers     = []string{"gpio", "sim"}
	levels      = []string{"high", "low"}
	pulls       = []string{"up", "down", "none"}
)

// Sensor is one alarm input.
type Sensor struct {
	Name string `json:"name"`
	// Kind is the event kind raised: motion, contact, tamper or panic.
	Kind string `json:"kind"`
	// Driver is gpio (default) or sim.
	Driver string `json:"driver"`
	// Pin is a periph.io pin name (GPIO17, P1_11, ...); gpio only.
	Pin string `json:"pin,omitempty"`
	// Active is the level that means "active": high (default) or low.
	Active string `json:"active"`
	// Pull defaults to the opposite of Active (down for high, up for low)
	// so a disconnected input reads inactive rather than floating.
	Pull     string        `json:"pull"`
	Debounce time.Duration `json:"debounce"`
	// Hold is the hold-off after an activation (see DefaultMotionHold).
	Hold time.Duration `json:"hold"`
	// Every (sim) toggles the input periodically; Script (sim) plays
	// levels at offsets from start. Exactly one is set for sim sensors.
	Every  time.Duration `json:"every,omitempty"`
	Script []Step        `json:"script,omitempty"`
	// Initial (sim) is the electrical level the line has at start, high or
	// low; empty means the inactive level. It stands in for an input found
	// active at power-up (a door left open, a box tampered).
	Initial string `json:"initial,omitempty"`
}

// Step is one level change in a simulated sensor's script.
type Step struct {
	At    time.Duration `json:"at"`
	Level string        `json:"level"`
}

// Camera is one IP camera.
type Camera struct {
	Name string `json:"name"`
	// URL is the RTSP URL (rtsp:// or rtsps://), user info included.
	URL SecretURL `json:"url"`
	// SnapshotURL (http/https) gives a full-resolution JPEG; without it
	// the camera takes no snapshots (the gateway does not decode video).
	SnapshotURL SecretURL `json:"snapshot_url,omitempty"`
	// SnapshotOn names the sensors whose events take a snapshot.
	SnapshotOn []string `json:"snapshot_on,omitempty"`
	// Preload keeps the stream pulled while nobody watches, for an
	// instant first frame at the cost of constant traffic.
	Preload      bool          `json:"preload,omitempty"`
	OfflineAfter time.Duration `json:"offline_after"`
	// TLSFingerprint pins an rtsps camera's own (often self-signed)
	// certificate by its SHA-256, normalised to upper-case hex pairs joined
	// by colons; it then replaces verification against the system's roots
	// and the host name. Only valid with an rtsps:// URL. It is not a
	// secret: it identifies the camera, it does not grant access.
	TLSFingerprint string `json:"tls_fingerprint,omitempty"`
	// SubstreamURL is the camera's low-quality stream (rtsp/rtsps), sent
	// to viewers asking quality low.
	SubstreamURL SecretURL `json:"substream_url,omitempty"`
	// MaxViewers bounds this camera's live viewers (0: live.max_viewers).
	MaxViewers int `json:"max_viewers,omitempty"`
	// Record is RecordClips or RecordContinuous ("" records nothing);
	// ClipOn names the sensors whose events make a clip; PreRoll,
	// PostRoll and MaxClip shape a clip (see record.go).
	Record   string        `json:"record,omitempty"`
	ClipOn   []string      `json:"clip_on,omitempty"`
	PreRoll  time.Duration `json:"pre_roll,omitempty"`
	PostRoll time.Duration `json:"post_roll,omitempty"`
	MaxClip  time.Duration `json:"max_clip,omitempty"`
}

// Output is one switched output (siren, light, gate relay).
type Output struct {
	Name string `json:"name"`
	// Driver is gpio (default) or sim (demo, tests: no hardware).
	Driver string        `json:"driver"`
	Pin    string        `json:"pin,omitempty"`
	Active string        `json:"active"`
	MaxOn  time.Duration `json:"max_on"`
	// Rest is how long on requests are refused after a cut-off; 0 (the
	// default) refuses none: a new alarm sounds (see device/output).
	Rest time.Duration `json:"rest,omitempty"`
	// MaxCutOffs cut-offs within an hour lock the output out until
	// disarmed; 0 means output.DefaultMaxCutOffs.
	MaxCutOffs int `json:"max_cut_offs,omitempty"`
	// Pattern is what the output does when an alarm trigger left out of
	// the file drives it (steady by default).
	Pattern output.Pattern `json:"pattern"`
}

// Live configures WebRTC live view.
type Live struct {
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
	// ForceRelay sends media only through TURN (for sites whose NAT
	// blocks everything else); it needs a turn: or turns: server.
	ForceRelay bool `json:"force_relay,omitempty"`
	MaxViewers int  `json:"max_viewers"`
	// UDPPort is the one UDP port of every session (0: a free one).
	UDPPort int `json:"udp_port"`
	// Interfaces, when set, are the only network interfaces offered.
	Interfaces []string  `json:"interfaces,omitempty"`
	NAT1To1    []NAT1To1 `json:"nat_1to1,omitempty"`
	// LoopbackCandidates and MDNS are off by default (tests only).
	LoopbackCandidates bool          `json:"loopback_candidates,omitempty"`
	MDNS               bool          `json:"mdns,omitempty"`
	MaxSession         time.Duration `json:"max_session"`
}

// ICEServer is one STUN or TURN server. Credential is looked for as for
// Uplink.Password: credential_file, then ANTT_TURN_CREDENTIAL (for servers
// that have a username), then the inline credential.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential Secret   `json:"credential,omitempty"`
}

// Watchdog is the hardware watchdog the gateway feeds while healthy.
type Watchdog struct {
	Device  string        `json:"device"`
	Timeout time.Duration `json:"timeout"`
}

// Option changes how Parse and Load read a configuration.
type Option func(*options)

type options struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	baseDir   string
	fileName  string
}

// LookupEnv replaces os.LookupEnv, so tests need not touch the process
// environment.
func LookupEnv(f func(string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = f }
}

// ReadFile replaces the reading of secret files and the check that TLS
// files are readable (for tests and fuzzing).
func ReadFile(f func(string) ([]byte, error)) Option {
	return func(o *options) { o.readFile = f }
}

// BaseDir is the directory relative paths in the file are resolved from;
// Parse defaults to the working directory, Load to the file's directory.
func BaseDir(dir string) Option {
	return func(o *options) { o.baseDir = dir }
}

// FileName is the name used in *Errors.File.
func FileName(name string) Option {
	return func(o *options) { o.fileName = name }
}

// Load reads and parses the configuration file at path. Any failure,
// reading included, is returned as *Errors.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, &Errors{File: path, Problems: []Problem{{Msg: fmt.Sprintf("read config: %v", err)}}}
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return Parse(data, append([]Option{BaseDir(dir), FileName(path)}, opts...)...)
}

// readLimited is os.ReadFile refusing files over MaxFileSize.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes; is it the right file?", path, MaxFileSize)
	}
	return data, nil
}

// Parse reads a configuration from data. On failure the error is *Errors
// listing every problem found.
func Parse(data []byte, opts ...Option) (*Config, error) {
	o := options{lookupEnv: os.LookupEnv, readFile: readLimited, baseDir: "."}
	for _, opt := range opts {
		opt(&o)
	}
	if o.baseDir == "" || o.baseDir == "." {
		if wd, err := os.Getwd(); err == nil {
			o.baseDir = wd
		}
	}
	fail := func(ps []Problem) error { return &Errors{File: o.fileName, Problems: sorted(ps)} }
	if len(data) > MaxFileSize {
		return nil, fail([]Problem{{Msg: fmt.Sprintf("configuration is larger than %d bytes", MaxFileSize)}})
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail([]Problem{{Msg: "configuration is empty; it needs at least gateway.id and uplink.broker"}})
	}
	d := &decoder{walker: &walker{}, opts: o}
	cfg := d.document(data)
	if len(d.probs) > 0 {
		return nil, fail(d.probs)
	}
	cfg.Warnings = sorted(d.warns)
	return cfg, nil
}
