package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// decoder turns the YAML tree into a Config, collecting problems.
type decoder struct {
	*walker
	opts       options
	alarmLines alarmLines // see alarm.go
}

// yamlLineRE finds the line in the YAML library's syntax errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// pinRE is what a periph.io pin name looks like (GPIO17, P1_11); any such
// name is accepted here, the driver finds out whether the board has it.
var pinRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func (d *decoder) syntax(data []byte, err error) {
	msg := err.Error()
	for l := range strings.SplitSeq(msg, "\n") {
		l = strings.TrimSpace(l)
		if m := yamlLineRE.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			if strings.Contains(m[2], "tab character") {
				// The YAML library reports a tab in indentation at the
				// line before it; point at the tab itself, since tabs
				// from an editor are the most common mistake.
				if t := tabLine(data, n); t > 0 {
					d.add(t, "", "YAML syntax: a tab is used for indentation; indent with spaces")
					return
				}
			}
			d.add(n, "", "YAML syntax: %s", m[2])
			return
		}
	}
	d.add(0, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// tabLine returns the first line from line on whose indentation holds a
// tab, or 0.
func tabLine(data []byte, from int) int {
	n := 0
	for l := range strings.SplitSeq(string(data), "\n") {
		n++
		if n < from {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if strings.Contains(indent, "\t") {
			return n
		}
	}
	return 0
}

func (d *decoder) document(data []byte) *Config {
	cfg := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(0, "", "configuration is empty; it needs at least gateway.id and uplink.broker")
		} else {
			d.syntax(data, err)
		}
		return cfg
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.add(max(extra.Line, 1), "", "only one YAML document is allowed; remove the second ---")
	} else if !errors.Is(err, io.EOF) {
		d.syntax(data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			d.add(0, "", "configuration is empty; it needs at least gateway.id and uplink.broker")
			return cfg
		}
		root = root.Content[0]
	}
	root = deref(root)
	if root == nil || isNull(root) {
		d.add(0, "", "configuration is empty; it needs at least gateway.id and uplink.broker")
		return cfg
	}
	if root.Kind != yaml.MappingNode {
		d.add(max(root.Line, 1), "", "the configuration must be a mapping of sections (gateway:, uplink:, sensors:, ...), got %s", kindName(root))
		return cfg
	}
	top := d.mapping(root, "", 1, "gateway", "uplink", "outbox", "api", "sensors", "cameras", "outputs", "live", "watchdog", "alarm", "recording")
	section := func(name string, allowed ...string) *fields {
		return d.mapping(top.vals[name], name, top.keyLineOf(name), allowed...)
	}
	d.gateway(cfg, section("gateway", "id", "site", "data_dir", "timezone"))
	d.uplink(cfg, section("uplink", "broker", "prefix", "username", "password", "password_file", "tls",
		"keepalive", "telemetry_interval", "window", "client_id"))
	d.outbox(cfg, section("outbox", "max_bytes"))
	d.api(cfg, section("api", "listen", "allow_remote", "token_file"))
	pins := map[string]string{}
	d.sensors(cfg, top, pins)
	d.recording(cfg, section("recording", recordingKeys...))
	d.cameras(cfg, top)
	d.outputs(cfg, top, pins)
	d.alarmSection(cfg, top)
	d.live(cfg, section("live", liveKeys...))
	if top.has("watchdog") {
		d.watchdog(cfg, section("watchdog", "device", "timeout"))
	}
	return cfg
}

// path resolves p against the configuration's directory.
func (d *decoder) path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(d.opts.baseDir, p)
}

// readSecret reads a *_file key: trailing newlines (an editor's or echo's)
// are removed. Problems name the file but never its contents.
func (d *decoder) readSecret(f *fields, key string) (Secret, string, bool) {
	var p string
	if !f.str(key, &p) {
		return "", "", false
	}
	p = d.path(p)
	data, err := d.opts.readFile(p)
	if err != nil {
		f.errf(key, "cannot read %s: %s", p, fileErr(err))
		return "", p, false
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		f.errf(key, "%s is empty", p)
		return "", p, false
	}
	return Secret(s), p, true
}

// checkFile checks that a file named by key is readable and returns its
// resolved path.
func (d *decoder) checkFile(f *fields, key string) string {
	var p string
	if !f.str(key, &p) {
		return ""
	}
	p = d.path(p)
	if _, err := d.opts.readFile(p); err != nil {
		f.errf(key, "cannot read %s: %s", p, fileErr(err))
	}
	return p
}

// fileErr is err without the path that *fs.PathError repeats.
func fileErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (d *decoder) gateway(cfg *Config, f *fields) {
	g := &cfg.Gateway
	if f.str("id", &g.ID) {
		if !wire.ValidID(g.ID) {
			f.errf("id", "%q is not a valid id: use lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters (like cong-khu-3)", g.ID)
		}
	} else if f.missing("id") {
		f.errf("id", "is required (like id: cong-khu-3); it names this gateway in every topic and event")
	}
	f.str("site", &g.Site)
	g.DataDir = DefaultDataDir
	if f.str("data_dir", &g.DataDir) {
		g.DataDir = d.path(g.DataDir)
	}
	g.Timezone = DefaultTimezone
	f.str("timezone", &g.Timezone)
	loc, err := time.LoadLocation(g.Timezone)
	if err != nil || g.Timezone == "Local" {
		f.errf("timezone", "%q is not a known time zone (like Asia/Ho_Chi_Minh or UTC)", g.Timezone)
	} else {
		g.Location = loc
	}
}

func (d *decoder) uplink(cfg *Config, f *fields) {
	u := &cfg.Uplink
	if f.str("broker", &u.Broker) {
		d.broker(f, u)
	} else if f.missing("broker") {
		f.errf("broker", "is required (like broker: mqtts://station.local:8883)")
	}
	u.Prefix = DefaultPrefix
	if f.str("prefix", &u.Prefix) {
		p := u.Prefix
		switch {
		case strings.ContainsAny(p, "+#\x00"):
			f.errf("prefix", "%q must not contain the MQTT wildcards + or #", p)
		case strings.HasPrefix(p, "$"):
			f.errf("prefix", "%q must not start with $ (brokers reserve those topics)", p)
		case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
			f.errf("prefix", "%q must not start or end with / or contain an empty level", p)
		}
	}
	f.str("username", &u.Username)
	u.ClientID = cfg.Gateway.ID
	f.str("client_id", &u.ClientID)

	// Password: password_file, then the environment, then inline.
	var inline string
	hasInline := f.str("password", &inline)
	env, envOK := d.opts.lookupEnv(EnvMQTTPassword)
	envOK = envOK && env != ""
	switch {
	case f.has("password_file") && f.has("password"):
		f.errf("password_file", "password and password_file are both set; keep only password_file")
	case f.has("password_file"):
		if s, p, ok := d.readSecret(f, "password_file"); ok {
			u.Password, u.PasswordSource = s, "password_file "+p
		}
		if envOK {
			f.warnf("password_file", "%s is set in the environment but password_file takes precedence", EnvMQTTPassword)
		}
	case envOK:
		u.Password, u.PasswordSource = Secret(env), "env "+EnvMQTTPassword
		if hasInline {
			f.warnf("password", "overridden by %s from the environment", EnvMQTTPassword)
		}
	case hasInline:
		u.Password, u.PasswordSource = Secret(inline), "password"
		f.warnf("password", "a password in the configuration file can be read by anyone holding the SD card; prefer password_file or %s", EnvMQTTPassword)
	}

	if f.has("tls") {
		t := d.mapping(f.vals["tls"], f.key("tls"), f.keyLineOf("tls"), "ca", "cert", "key", "server_name")
		if u.Broker != "" && !u.TLS && len(t.vals) > 0 {
			f.errf("tls", "is set but the broker is not mqtts://; use mqtts:// or remove tls")
		}
		u.TLSFiles.CA = d.checkFile(t, "ca")
		u.TLSFiles.Cert = d.checkFile(t, "cert")
		u.TLSFiles.Key = d.checkFile(t, "key")
		t.str("server_name", &u.TLSFiles.ServerName)
		switch {
		case t.has("cert") && !t.has("key"):
			t.errf("cert", "a client certificate needs its key: add tls.key")
		case t.has("key") && !t.has("cert"):
			t.errf("key", "a client key needs its certificate: add tls.cert")
		}
	}

	u.Keepalive = DefaultKeepalive
	if f.duration("keepalive", &u.Keepalive) {
		if u.Keepalive < time.Second || u.Keepalive > 65535*time.Second {
			f.errf("keepalive", "%s is out of range; MQTT allows 1s to 18h12m15s", u.Keepalive)
		}
	}
	u.TelemetryInterval = DefaultTelemetryInterval
	if f.duration("telemetry_interval", &u.TelemetryInterval) && u.TelemetryInterval < time.Second {
		f.errf("telemetry_interval", "%s is too short; use 1s or more", u.TelemetryInterval)
	}
	u.Window = DefaultWindow
	if f.integer("window", &u.Window) && (u.Window < 1 || u.Window > 65535) {
		f.errf("window", "%d is out of range; use 1 to 65535 publishes in flight", u.Window)
	}
}

// broker checks and normalises uplink.broker. The raw value is never
// echoed when it may hold a password.
func (d *decoder) broker(f *fields, u *Uplink) {
	raw := u.Broker
	u.Broker = ""
	if !strings.Contains(raw, "://") {
		if strings.Contains(raw, "@") {
			f.errf("broker", "needs a scheme (mqtt:// or mqtts://) and must not carry a user name or password")
			return
		}
		f.errf("broker", "%q needs a scheme: mqtt://%s or mqtts://%s", raw, raw, raw)
		return
	}
	p, err := url.Parse(raw)
	if err != nil {
		f.errf("broker", "is not a valid URL (like mqtts://station.local:8883)")
		return
	}
	if p.User != nil {
		f.errf("broker", "must not carry a user name or password; use uplink.username and uplink.password_file")
		return
	}
	port := ""
	switch p.Scheme {
	case "mqtt":
		port = "1883"
	case "mqtts":
		port, u.TLS = "8883", true
	default:
		f.errf("broker", "scheme %q is not supported; use mqtt:// or mqtts://", p.Scheme)
		return
	}
	if p.Hostname() == "" {
		f.errf("broker", "%q has no host (like %s://station.local)", raw, p.Scheme)
		return
	}
	if (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Fragment != "" {
		f.errf("broker", "%q must be just scheme://host[:port], without a path or query", raw)
		return
	}
	if ps := p.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			f.errf("broker", "port %q is not a port number (1-65535)", ps)
			return
		}
		port = ps
	}
	u.Address = net.JoinHostPort(p.Hostname(), port)
	u.Broker = p.Scheme + "://" + u.Address
}

// maxBytesLimit is the largest outbox.max_bytes this board can map (1 GiB
// on 32-bit ARM); a variable so tests can check the 32-bit rule anywhere.
var maxBytesLimit = outbox.MaxBytesLimit(strconv.IntSize)

func (d *decoder) outbox(cfg *Config, f *fields) {
	cfg.Outbox.MaxBytes = DefaultMaxBytes
	if !f.size("max_bytes", &cfg.Outbox.MaxBytes) {
		return
	}
	switch mb := cfg.Outbox.MaxBytes; {
	case mb < MinMaxBytes:
		f.errf("max_bytes", "%s is below the minimum of 1MiB: the database's own pages take part of the bound, and the rest must hold hours of events during an outage (the default is %s)",
			FormatSize(mb), FormatSize(DefaultMaxBytes))
	case mb > maxBytesLimit:
		f.errf("max_bytes", "%s is above %s, the most this board can use: the outbox's database is memory-mapped whole, and a 32-bit board cannot map more than 1GiB (the default is %s)",
			FormatSize(mb), FormatSize(maxBytesLimit), FormatSize(DefaultMaxBytes))
	}
}

func (d *decoder) api(cfg *Config, f *fields) {
	a := &cfg.API
	a.Listen = DefaultAPIListen
	f.boolean("allow_remote", &a.AllowRemote)
	if !f.str("listen", &a.Listen) && f.has("listen") {
		return
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil {
		f.errf("listen", "%q is not host:port (like 127.0.0.1:8080)", a.Listen)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		f.errf("listen", "port %q in %q is not a port number (0-65535)", port, a.Listen)
		return
	}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		loopback = true
	}
	switch {
	case !loopback && !a.AllowRemote:
		f.errf("listen", "%q can be reached from the network, and the local API has no authentication; listen on 127.0.0.1 or set api.allow_remote: true to accept that", a.Listen)
	case !loopback:
		f.warnf("listen", "the local API (no authentication) is reachable from the network at %s because api.allow_remote is true", a.Listen)
	case a.AllowRemote:
		f.warnf("allow_remote", "has no effect: api.listen %s is a loopback address", a.Listen)
	}
	d.apiToken(a, f)
}

// items walks a list section whose entries are mappings.
func (d *decoder) items(top *fields, key string, allowed ...string) []*fields {
	var out []*fields
	for i, it := range top.list(key) {
		p := fmt.Sprintf("%s[%d]", top.key(key), i)
		it = deref(it)
		if isNull(it) {
			line := top.line(key)
			if it != nil && it.Line > 0 {
				line = it.Line
			}
			d.add(line, p, "is empty; each entry needs at least a name")
			continue
		}
		m := d.mapping(it, p, it.Line, allowed...)
		if !m.bad {
			out = append(out, m)
		}
	}
	return out
}

// name reads and checks an entry's name, unique within its section.
func (d *decoder) name(f *fields, seen map[string]string, dst *string) {
	if !f.str("name", dst) {
		if f.missing("name") {
			f.errf("name", "is required")
		}
		return
	}
	switch first, dup := seen[*dst]; {
	case !wire.ValidID(*dst):
		f.errf("name", "%q is not a valid name: use lower-case letters, digits and '-' (like cong-pir)", *dst)
	case dup:
		f.errf("name", "%q is already used by %s", *dst, first)
	default:
		seen[*dst] = fmt.Sprintf("%s (line %d)", f.path, f.line("name"))
	}
}

// pin reads a GPIO pin name, checking no other input or output uses it.
func (d *decoder) pin(f *fields, pins map[string]string, dst *string) {
	if !f.str("pin", dst) {
		if f.missing("pin") {
			f.errf("pin", "is required for a gpio pin (like pin: GPIO17)")
		}
		return
	}
	if !pinRE.MatchString(*dst) {
		f.errf("pin", "%q is not a pin name (letters, digits and _, like GPIO17)", *dst)
		return
	}
	if first, dup := pins[*dst]; dup {
		f.errf("pin", "%s is already used by %s", *dst, first)
		return
	}
	pins[*dst] = fmt.Sprintf("%s (line %d)", f.path, f.line("pin"))
}

func (d *decoder) sensors(cfg *Config, top *fields, pins map[string]string) {
	seen := map[string]string{}
	for _, f := range d.items(top, "sensors", "name", "kind", "driver", "pin", "active", "pull", "debounce", "hold", "every", "script", "initial",
		"modes", "entry_delay", "always", "silent", "chime", "auto_bypass", "keyswitch", "stuck_after", "max_per_hour", "bypass_on_trouble") {
		s := Sensor{Driver: "gpio", Active: "high", Debounce: DefaultDebounce}
		d.name(f, seen, &s.Name)
		if !f.oneOf("kind", &s.Kind, sensorKinds...) && f.missing("kind") {
			f.errf("kind", "is required: one of %s", strings.Join(sensorKinds, ", "))
		}
		f.oneOf("driver", &s.Driver, drivers...)
		f.oneOf("active", &s.Active, levels...)
		s.Pull = map[string]string{"high": "down", "low": "up"}[s.Active]
		f.oneOf("pull", &s.Pull, pulls...)
		f.duration("debounce", &s.Debounce)
		s.Hold = DefaultHold
		if s.Kind == "motion" {
			s.Hold = DefaultMotionHold
		}
		f.duration("hold", &s.Hold)
		switch s.Driver {
		case "gpio":
			d.pin(f, pins, &s.Pin)
			for _, k := range []string{"every", "script", "initial"} {
				if f.has(k) {
					f.errf(k, "is only for sim sensors; this one has driver gpio")
				}
			}
		case "sim":
			if f.has("pin") {
				f.warnf("pin", "is ignored by the sim driver")
			}
			f.oneOf("initial", &s.Initial, levels...)
			switch {
			case f.has("every") && f.has("script"):
				f.errf("script", "a sim sensor takes every or script, not both")
			case f.has("every"):
				if f.duration("every", &s.Every) && s.Every < 100*time.Millisecond {
					f.errf("every", "%s is too short; use 100ms or more so the outbox is not flooded", s.Every)
				}
			case f.has("script"):
				s.Script = d.script(f)
			default:
				f.errf("driver", "a sim sensor needs every (like every: 20s) or script")
			}
		}
		d.sensorAlarm(cfg, f, s)
		cfg.Sensors = append(cfg.Sensors, s)
	}
}

func (d *decoder) script(f *fields) []Step {
	items := f.list("script")
	if len(items) == 0 && !f.has("script") {
		return nil
	}
	if len(items) == 0 {
		f.errf("script", "is empty; give steps like [{at: 0s, level: high}, {at: 2s, level: low}]")
		return nil
	}
	var out []Step
	prev, prevOK := time.Duration(0), false
	for i, it := range items {
		it = deref(it)
		p := fmt.Sprintf("%s[%d]", f.key("script"), i)
		line := f.line("script")
		if it != nil && it.Line > 0 {
			line = it.Line
		}
		if isNull(it) {
			d.add(line, p, "is empty; a step is {at: 2s, level: high}")
			continue
		}
		st := d.mapping(it, p, line, "at", "level")
		if st.bad {
			continue
		}
		var s Step
		okAt := st.duration("at", &s.At)
		if st.missing("at") {
			st.errf("at", "is required (the offset from start, like at: 2s)")
		}
		if !st.oneOf("level", &s.Level, levels...) && st.missing("level") {
			st.errf("level", "is required: high or low")
		}
		if okAt {
			if prevOK && s.At <= prev {
				st.errf("at", "%s must come after the previous step's %s", s.At, prev)
			}
			prev, prevOK = s.At, true
		}
		out = append(out, s)
	}
	return out
}

// checkURL checks a camera URL's scheme and host. Problems never echo the
// URL: it may hold the camera's password.
func checkURL(f *fields, key, raw string, schemes ...string) {
	p, err := url.Parse(raw)
	if err != nil {
		f.errf(key, "is not a valid URL")
		return
	}
	if !containsFold(schemes, p.Scheme) {
		f.errf(key, "scheme %q is not supported; use %s", p.Scheme, strings.Join(schemes, " or "))
		return
	}
	if p.Hostname() == "" {
		f.errf(key, "has no host (like %s://192.168.1.64/...)", schemes[0])
	}
}

// checkFileURL checks a file:// camera (an Annex-B H.264 clip played in a
// loop, for demos and tests): it needs an absolute path and no host.
func checkFileURL(f *fields, key, raw string) {
	p, err := url.Parse(raw)
	if err != nil {
		f.errf(key, "is not a valid URL")
		return
	}
	if (p.Host != "" && p.Host != "localhost") || !strings.HasPrefix(p.Path, "/") || len(p.Path) < 2 {
		f.errf(key, "a file camera needs an absolute path (like file:///usr/share/antt/demo.h264)")
	}
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

func (d *decoder) cameras(cfg *Config, top *fields) {
	seen := map[string]string{}
	sensors := map[string]bool{}
	for _, s := range cfg.Sensors {
		sensors[s.Name] = true
	}
	for _, f := range d.items(top, "cameras", append([]string{"name", "url", "snapshot_url", "snapshot_on", "preload", "offline_after", "tls_fingerprint",
		"substream_url", "max_viewers"}, cameraRecordKeys...)...) {
		c := Camera{OfflineAfter: DefaultOfflineAfter}
		d.name(f, seen, &c.Name)
		var raw string
		if f.str("url", &raw) {
			if strings.HasPrefix(strings.ToLower(raw), "file:") {
				checkFileURL(f, "url", raw)
			} else {
				checkURL(f, "url", raw, "rtsp", "rtsps")
				warnPlainCredentials(f, "url", raw)
			}
			c.URL = SecretURL(raw)
		} else if f.missing("url") {
			f.errf("url", "is required (like rtsp://user:password@192.168.1.64:554/Streaming/Channels/102)")
		}
		if f.str("tls_fingerprint", &raw) {
			fp, ok := normFingerprint(raw)
			switch {
			case !ok:
				f.errf("tls_fingerprint", "%.120q is not a SHA-256 fingerprint: want 32 hex bytes, colons optional (like 3A:7F:...:C4, as `gateway probe` prints it)", raw)
			case c.URL != "" && !strings.HasPrefix(strings.ToLower(string(c.URL)), "rtsps://"):
				f.errf("tls_fingerprint", "only applies to an rtsps:// url; a plain rtsp:// or file:// camera has no certificate to pin")
			default:
				c.TLSFingerprint = fp
			}
		}
		if f.str("snapshot_url", &raw) {
			checkURL(f, "snapshot_url", raw, "http", "https")
			warnPlainCredentials(f, "snapshot_url", raw)
			c.SnapshotURL = SecretURL(raw)
		}
		_, c.SnapshotOn = d.sensorList(cfg, f, "snapshot_on", sensors)
		if len(c.SnapshotOn) > 0 && c.SnapshotURL == "" && !f.missing("url") {
			f.errf("snapshot_on", "needs snapshot_url: the gateway takes snapshots from the camera's JPEG URL (it does not decode video)")
		}
		f.boolean("preload", &c.Preload)
		if f.duration("offline_after", &c.OfflineAfter) && c.OfflineAfter < time.Second {
			f.errf("offline_after", "%s is too short; use 1s or more", c.OfflineAfter)
		}
		d.cameraLive(f, &c)
		d.cameraRecord(cfg, f, &c, sensors)
		cfg.Cameras = append(cfg.Cameras, c)
	}
}

// normFingerprint checks a SHA-256 certificate fingerprint (64 hex digits,
// colons optional, either case) and returns it as upper-case pairs joined
// by colons. It reads what device/camera/rtsp.ParseFingerprint reads; it is
// repeated here so the config stays free of the camera packages.
func normFingerprint(s string) (string, bool) {
	h := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if len(h) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String(), true
}

func sensorNames(cfg *Config) string {
	if len(cfg.Sensors) == 0 {
		return "none"
	}
	var n []string
	for _, s := range cfg.Sensors {
		if s.Name != "" {
			n = append(n, s.Name)
		}
	}
	return strings.Join(n, ", ")
}

func (d *decoder) outputs(cfg *Config, top *fields, pins map[string]string) {
	seen := map[string]string{}
	for _, f := range d.items(top, "outputs", "name", "driver", "pin", "active", "max_on", "rest", "max_cut_offs", "pattern") {
		o := Output{Driver: "gpio", Active: "high", MaxOn: DefaultOutputMaxOn}
		d.name(f, seen, &o.Name)
		f.oneOf("driver", &o.Driver, drivers...)
		if o.Driver == "gpio" {
			d.pin(f, pins, &o.Pin)
		} else if f.has("pin") {
			f.warnf("pin", "is ignored by the sim driver")
		}
		f.oneOf("active", &o.Active, levels...)
		if f.duration("max_on", &o.MaxOn) && o.MaxOn < time.Second {
			f.errf("max_on", "%s is too short; use 1s or more (an output is never left on without a bound)", o.MaxOn)
		}
		d.outputAlarm(f, &o)
		cfg.Outputs = append(cfg.Outputs, o)
	}
}

func (d *decoder) live(cfg *Config, f *fields) {
	l := &cfg.Live
	l.MaxViewers = DefaultMaxViewers
	env, envOK := d.opts.lookupEnv(EnvTURNCredential)
	envOK = envOK && env != ""
	turn := false
	for _, s := range d.items(f, "ice_servers", "urls", "username", "credential", "credential_file") {
		var srv ICEServer
		d.iceURLs(s, &srv)
		s.str("username", &srv.Username)
		var inline string
		hasInline := s.str("credential", &inline)
		switch {
		case s.has("credential_file") && s.has("credential"):
			s.errf("credential_file", "credential and credential_file are both set; keep only credential_file")
		case s.has("credential_file"):
			srv.Credential, _, _ = d.readSecret(s, "credential_file")
		case envOK && srv.Username != "":
			srv.Credential = Secret(env)
		case hasInline:
			srv.Credential = Secret(inline)
			s.warnf("credential", "a credential in the configuration file can be read by anyone holding the SD card; prefer credential_file or %s", EnvTURNCredential)
		}
		isTurn := false
		for _, u := range srv.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				isTurn = true
			}
		}
		if isTurn {
			turn = true
			if srv.Username == "" && !s.has("username") {
				s.errf("username", "is required for a turn: server")
			}
			if srv.Credential == "" && !s.has("credential_file") && !s.has("credential") {
				s.errf("urls", "a turn: server needs a credential: credential_file, %s or credential", EnvTURNCredential)
			}
		}
		l.ICEServers = append(l.ICEServers, srv)
	}
	if f.boolean("force_relay", &l.ForceRelay) && l.ForceRelay && !turn {
		f.errf("force_relay", "needs a turn: or turns: server in live.ice_servers to relay through")
	}
	if f.integer("max_viewers", &l.MaxViewers) && (l.MaxViewers < 0 || l.MaxViewers > 64) {
		f.errf("max_viewers", "%d is out of range; use 0 (live view off) to 64", l.MaxViewers)
	}
	d.liveNet(l, f)
}

// iceURLs reads urls: one URL or a list, as in the WebRTC API.
func (d *decoder) iceURLs(s *fields, srv *ICEServer) {
	v := deref(s.vals["urls"])
	if s.missing("urls") {
		s.errf("urls", "is required (like urls: [\"turn:station.local:3478\"])")
		return
	}
	var urls []string
	var lines []int
	if v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
		urls, lines = []string{v.Value}, []int{v.Line}
	} else {
		urls, lines = s.strList("urls")
		if len(urls) == 0 && v != nil && v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			s.errf("urls", "is empty")
		} else if isNull(v) {
			s.errf("urls", "has no value")
		}
	}
	for i, u := range urls {
		scheme, _, _ := strings.Cut(u, ":")
		switch scheme {
		case "stun", "stuns", "turn", "turns":
			srv.URLs = append(srv.URLs, u)
		default:
			d.add(lines[i], fmt.Sprintf("%s[%d]", s.key("urls"), i), "%q is not a stun:, stuns:, turn: or turns: URL", u)
		}
	}
}

func (d *decoder) watchdog(cfg *Config, f *fields) {
	w := &Watchdog{Device: DefaultWatchdogDevice, Timeout: DefaultWatchdogTimeout}
	f.str("device", &w.Device)
	if f.duration("timeout", &w.Timeout) && (w.Timeout < time.Second || w.Timeout > 10*time.Minute) {
		f.errf("timeout", "%s is out of range; use 1s to 10m", w.Timeout)
	}
	cfg.Watchdog = w
}
