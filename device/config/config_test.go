package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// noEnv is a LookupEnv that finds nothing, so tests never depend on the
// real environment.
func noEnv(string) (string, bool) { return "", false }

func env(m map[string]string) Option {
	return LookupEnv(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
}

const testdata = "../../testdata/config"

func mustErrors(t *testing.T, err error) *Errors {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var e *Errors
	if !errors.As(err, &e) {
		t.Fatalf("error is %T, not *Errors: %v", err, err)
	}
	return e
}

func TestFullExample(t *testing.T) {
	path := filepath.Join(testdata, "full.yaml")
	cfg, err := Load(path, LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	// The example's camera takes its password over plain rtsp:// and
	// http://, as most installed cameras do: warned, nothing else.
	if len(cfg.Warnings) != 2 || !strings.Contains(cfg.Warnings[0].String(), "cameras[0].url: credentials over plain rtsp://") ||
		!strings.Contains(cfg.Warnings[1].String(), "cameras[0].snapshot_url: credentials over plain http://") {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	secrets, _ := filepath.Abs(filepath.Join(testdata, "secrets"))
	g := cfg.Gateway
	if g.ID != "truong-thcs-chi-dam" || g.Site != "chi-dam" || g.DataDir != "/data/gateway" || g.Timezone != "Asia/Ho_Chi_Minh" {
		t.Errorf("gateway = %+v", g)
	}
	if g.Location == nil || g.Location.String() != "Asia/Ho_Chi_Minh" {
		t.Errorf("location = %v", g.Location)
	}
	u := cfg.Uplink
	want := Uplink{
		Broker: "mqtts://station.local:8883", Address: "station.local:8883", TLS: true,
		Prefix: "antt", Username: "truong-thcs-chi-dam",
		Password:       "placeholder-mqtt-password",
		PasswordSource: "password_file " + filepath.Join(secrets, "mqtt-password"),
		TLSFiles: TLS{CA: filepath.Join(secrets, "ca.pem"), Cert: filepath.Join(secrets, "gw.pem"),
			Key: filepath.Join(secrets, "gw.key"), ServerName: "station.local"},
		Keepalive: 30 * time.Second, TelemetryInterval: time.Minute, Window: 512, ClientID: "truong-thcs-chi-dam",
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("uplink =\n%#v\nwant\n%#v", u, want)
	}
	if cfg.Outbox.MaxBytes != 256<<20 {
		t.Errorf("max_bytes = %d", cfg.Outbox.MaxBytes)
	}
	if cfg.API != (API{Listen: "127.0.0.1:8080"}) {
		t.Errorf("api = %+v", cfg.API)
	}
	wantSensors := []Sensor{
		{Name: "cong-pir", Kind: "motion", Driver: "gpio", Pin: "GPIO17", Active: "high", Pull: "down", Debounce: 50 * time.Millisecond, Hold: 10 * time.Second},
		{Name: "cua-cong", Kind: "contact", Driver: "gpio", Pin: "GPIO22", Active: "high", Pull: "up", Debounce: 100 * time.Millisecond},
		{Name: "hop-tamper", Kind: "tamper", Driver: "gpio", Pin: "GPIO23", Active: "low", Pull: "up", Debounce: 50 * time.Millisecond},
		{Name: "nut-khan-cap", Kind: "panic", Driver: "gpio", Pin: "GPIO24", Active: "low", Pull: "up", Debounce: 20 * time.Millisecond},
		{Name: "demo-pir", Kind: "motion", Driver: "sim", Active: "high", Pull: "down", Debounce: 50 * time.Millisecond, Hold: 10 * time.Second, Every: 20 * time.Second},
		{Name: "demo-cua", Kind: "contact", Driver: "sim", Active: "high", Pull: "down", Debounce: 50 * time.Millisecond,
			Script: []Step{{At: time.Second, Level: "high"}, {At: 3 * time.Second, Level: "low"}}},
	}
	if !reflect.DeepEqual(cfg.Sensors, wantSensors) {
		t.Errorf("sensors =\n%+v\nwant\n%+v", cfg.Sensors, wantSensors)
	}
	wantCams := []Camera{
		{Name: "cam-cong", URL: "rtsp://viewer:placeholder@192.168.1.64:554/Streaming/Channels/102",
			SnapshotURL: "http://viewer:placeholder@192.168.1.64/ISAPI/Streaming/channels/101/picture",
			SnapshotOn:  []string{"cong-pir", "cua-cong"}, OfflineAfter: 30 * time.Second},
		{Name: "cam-san-truong", URL: "rtsp://192.168.1.65:554/stream1", SnapshotURL: "http://192.168.1.65/cgi-bin/snapshot.cgi", SnapshotOn: []string{"nut-khan-cap"}, OfflineAfter: time.Minute,
			SubstreamURL: "rtsp://192.168.1.65:554/stream2", MaxViewers: 2},
		{Name: "cam-nha-xe", URL: "rtsps://viewer:placeholder@192.168.1.66:322/stream1", OfflineAfter: DefaultOfflineAfter,
			TLSFingerprint: "3A:7F:12:C4:E0:B9:D8:A1:F2:E3:D4:C5:B6:A7:98:87:76:65:54:43:32:21:10:FF:EE:DD:CC:BB:AA:99:88:77"},
	}
	if !reflect.DeepEqual(cfg.Cameras, wantCams) {
		t.Errorf("cameras =\n%+v\nwant\n%+v", cfg.Cameras, wantCams)
	}
	wantOut := []Output{
		{Name: "coi-bao-dong", Driver: "gpio", Pin: "GPIO27", Active: "high", MaxOn: 3 * time.Minute},
		{Name: "den-cong", Driver: "gpio", Pin: "GPIO5", Active: "low", MaxOn: 10 * time.Minute},
	}
	if !reflect.DeepEqual(cfg.Outputs, wantOut) {
		t.Errorf("outputs = %+v", cfg.Outputs)
	}
	wantLive := Live{ICEServers: []ICEServer{
		{URLs: []string{"stun:station.local:3478"}},
		{URLs: []string{"turn:station.local:3478", "turns:station.local:5349"}, Username: "truong-thcs-chi-dam", Credential: "placeholder-turn-credential"},
	}, MaxViewers: 4, UDPPort: 8189, Interfaces: []string{"eth0", "wwan0"},
		NAT1To1: []NAT1To1{{External: "203.0.113.7", Local: "192.168.1.10", As: "host"}}, MaxSession: 10 * time.Minute}
	if !reflect.DeepEqual(cfg.Live, wantLive) {
		t.Errorf("live = %+v", cfg.Live)
	}
	if cfg.Watchdog == nil || *cfg.Watchdog != (Watchdog{Device: "/dev/watchdog", Timeout: 15 * time.Second}) {
		t.Errorf("watchdog = %+v", cfg.Watchdog)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
gateway: {id: cong-khu-3}
uplink: {broker: mqtt://station.local}
sensors:
  - {name: cong-pir, kind: motion, pin: GPIO17}
  - {name: cua-cong, kind: contact, pin: GPIO22, active: low}
cameras:
  - {name: cam-cong, url: "rtsp://192.168.1.64/s"}
outputs:
  - {name: coi, pin: GPIO27}
`), LookupEnv(noEnv), BaseDir("/etc/antt"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.DataDir != DefaultDataDir || cfg.Gateway.Timezone != DefaultTimezone || cfg.Gateway.Location == nil {
		t.Errorf("gateway defaults: %+v", cfg.Gateway)
	}
	u := cfg.Uplink
	if u.Broker != "mqtt://station.local:1883" || u.Address != "station.local:1883" || u.TLS ||
		u.Prefix != "antt" || u.Keepalive != 30*time.Second || u.TelemetryInterval != 60*time.Second ||
		u.Window != DefaultWindow || u.ClientID != "cong-khu-3" || u.Password != "" || u.PasswordSource != "" {
		t.Errorf("uplink defaults: %+v", u)
	}
	if cfg.Outbox.MaxBytes != 256<<20 || cfg.API.Listen != "127.0.0.1:8080" || cfg.API.AllowRemote {
		t.Errorf("outbox/api defaults: %+v %+v", cfg.Outbox, cfg.API)
	}
	s := cfg.Sensors
	if s[0].Driver != "gpio" || s[0].Active != "high" || s[0].Pull != "down" || s[0].Debounce != 50*time.Millisecond || s[0].Hold != 10*time.Second {
		t.Errorf("motion sensor defaults: %+v", s[0])
	}
	if s[1].Hold != 0 || s[1].Pull != "up" {
		t.Errorf("contact sensor defaults: %+v", s[1])
	}
	if cfg.Cameras[0].OfflineAfter != 30*time.Second || cfg.Cameras[0].Preload {
		t.Errorf("camera defaults: %+v", cfg.Cameras[0])
	}
	if cfg.Outputs[0].Active != "high" || cfg.Outputs[0].MaxOn != 3*time.Minute {
		t.Errorf("output defaults: %+v", cfg.Outputs[0])
	}
	if cfg.Live.MaxViewers != 4 || cfg.Live.ForceRelay || cfg.Watchdog != nil {
		t.Errorf("live/watchdog defaults: %+v %+v", cfg.Live, cfg.Watchdog)
	}

	// mqtts defaults to 8883; an explicitly set hold of 0 stays 0.
	cfg, err = Parse([]byte("gateway: {id: a}\nuplink: {broker: 'mqtts://10.0.0.1'}\nsensors: [{name: p, kind: motion, driver: sim, every: 4s, hold: 0s}]\nwatchdog:\n"), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Uplink.Address != "10.0.0.1:8883" || !cfg.Uplink.TLS || cfg.Sensors[0].Hold != 0 {
		t.Errorf("got %+v %+v", cfg.Uplink, cfg.Sensors[0])
	}
	if cfg.Watchdog == nil || cfg.Watchdog.Device != DefaultWatchdogDevice || cfg.Watchdog.Timeout != DefaultWatchdogTimeout {
		t.Errorf("empty watchdog section: %+v", cfg.Watchdog)
	}
}

// TestBadFiles loads every file in testdata/config/bad; line 1 of each says
// "# want: line N: key: message", which the error must contain.
func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdata, "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("only %d bad files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok || !strings.HasPrefix(want, "line ") {
				t.Fatalf("line 1 must be `# want: line N: ...`, is %q", first)
			}
			_, err = Load(f, LookupEnv(noEnv))
			e := mustErrors(t, err)
			if e.File != f {
				t.Errorf("Errors.File = %q, want %q", e.File, f)
			}
			found := false
			for _, p := range e.Problems {
				if strings.Contains(p.String(), want) {
					found = true
				}
				if p.Line <= 0 {
					t.Errorf("problem without a line: %v", p)
				}
			}
			if !found {
				t.Errorf("want a problem containing\n\t%s\ngot\n%v", want, err)
			}
			if !strings.Contains(err.Error(), f+": "+want) {
				t.Errorf("Error() lacks %q:\n%v", f+": "+want, err)
			}
		})
	}
}

func TestMultipleProblemsReportedTogether(t *testing.T) {
	_, err := Parse([]byte(`gateway:
  id: Cong Khu
  timezone: Mars/Olympus
uplink:
  broker: tcp://x
  keepalive: soon
outbox: {max_bytes: 10}
sensors:
  - {name: a, kind: motion, pin: GPIO1, debounce: 5x, colour: red}
  - {name: a, kind: fire, pin: GPIO2}
cameras:
  - {name: c, url: "rtsp://h/s", snapshot_on: [nobody]}
`), LookupEnv(noEnv))
	e := mustErrors(t, err)
	want := []string{
		`line 2: gateway.id: "Cong Khu" is not a valid id`,
		`line 3: gateway.timezone: "Mars/Olympus" is not a known time zone`,
		`line 5: uplink.broker: scheme "tcp" is not supported`,
		`line 6: uplink.keepalive: "soon" is not a duration`,
		`line 7: outbox.max_bytes: 10 is below the minimum of 1MiB`,
		`line 9: sensors[0].colour: unknown key "colour"; allowed: name, kind, driver, pin, active, pull, debounce, hold, every, script`,
		`line 9: sensors[0].debounce: "5x" is not a duration`,
		`line 10: sensors[1].kind: "fire" is not one of motion, contact, tamper, panic`,
		`line 10: sensors[1].name: "a" is already used by sensors[0] (line 9)`,
		`line 12: cameras[0].snapshot_on[0]: no sensor named "nobody"`,
	}
	if len(e.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(e.Problems), len(want), err)
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		ok := false
		for _, l := range lines {
			ok = ok || strings.HasPrefix(l, w)
		}
		if !ok {
			t.Errorf("missing line starting %q in\n%v", w, err)
		}
	}
	// Problems come in file order.
	for i := 1; i < len(e.Problems); i++ {
		if e.Problems[i].Line < e.Problems[i-1].Line {
			t.Errorf("problems out of order: %v", e.Problems)
		}
	}
}

func TestEmptyAndNotAMapping(t *testing.T) {
	for _, in := range []string{"", "   \n\n", "# only a comment\n", "---\n", "~\n", "null"} {
		_, err := Parse([]byte(in), LookupEnv(noEnv))
		e := mustErrors(t, err)
		if len(e.Problems) != 1 || !strings.Contains(e.Problems[0].Msg, "configuration is empty") {
			t.Errorf("Parse(%q) = %v", in, err)
		}
	}
	for in, want := range map[string]string{
		"42":                       "line 1: the configuration must be a mapping of sections (gateway:, uplink:, sensors:, ...), got a number (42)",
		"just text":                `got the text "just text"`,
		"- a\n- b\n":               "got a list",
		"gateway: [a]\n":           "line 1: gateway: must be a mapping (key: value pairs), got a list",
		"gateway: {id: a}\nuplink": "line 2: YAML syntax:",
	} {
		_, err := Parse([]byte(in), LookupEnv(noEnv))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestUnknownTopLevelKeyListsAllowed(t *testing.T) {
	_, err := Parse([]byte("gateway: {id: a}\nuplink: {broker: mqtt://h}\nsensor:\n  - {name: x}\n"), LookupEnv(noEnv))
	want := `line 3: sensor: unknown key "sensor" (did you mean "sensors"?); allowed: gateway, uplink, outbox, api, sensors, cameras, outputs, live, watchdog, alarm, recording`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestAliasesFollowed(t *testing.T) {
	cfg, err := Parse([]byte(`
gateway: {id: a}
uplink: {broker: mqtt://h}
sensors:
  - &pir {name: p1, kind: motion, driver: sim, every: &t 5s}
  - {name: p2, kind: motion, driver: sim, every: *t}
`), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sensors[1].Every != 5*time.Second {
		t.Errorf("alias not followed: %+v", cfg.Sensors[1])
	}
}

func TestAPIAllowRemote(t *testing.T) {
	base := "gateway: {id: a}\nuplink: {broker: mqtt://h}\n"
	for listen, wantErr := range map[string]bool{
		"127.0.0.1:8080": false, "[::1]:8080": false, "localhost:80": false,
		":8080": true, "0.0.0.0:8080": true, "192.168.1.10:8080": true, "gw.local:8080": true,
	} {
		_, err := Parse([]byte(base+"api: {listen: '"+listen+"'}\n"), LookupEnv(noEnv))
		if (err != nil) != wantErr {
			t.Errorf("listen %s: err = %v, want error %v", listen, err, wantErr)
		}
		cfg, err := Parse([]byte(base+"api: {listen: '"+listen+"', allow_remote: true}\n"), LookupEnv(noEnv))
		if err != nil {
			t.Errorf("listen %s with allow_remote: %v", listen, err)
			continue
		}
		if len(cfg.Warnings) != 1 {
			t.Errorf("listen %s with allow_remote: warnings %v", listen, cfg.Warnings)
		}
	}
}

func TestPasswordPrecedence(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const base = "gateway: {id: a}\nuplink:\n  broker: mqtt://h\n"
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       Secret
		source     string
		warnings   int
	}{
		{"none", "", nil, "", "", 0},
		{"inline", "  password: inline\n", nil, "inline", "password", 1},
		{"env", "", map[string]string{EnvMQTTPassword: "from-env"}, "from-env", "env ANTT_MQTT_PASSWORD", 0},
		{"env beats inline", "  password: inline\n", map[string]string{EnvMQTTPassword: "from-env"}, "from-env", "env ANTT_MQTT_PASSWORD", 1},
		{"file", "  password_file: pw\n", nil, "from-file", "password_file " + filepath.Join(dir, "pw"), 0},
		{"file beats env", "  password_file: pw\n", map[string]string{EnvMQTTPassword: "from-env"}, "from-file", "password_file " + filepath.Join(dir, "pw"), 1},
		{"empty env ignored", "  password: inline\n", map[string]string{EnvMQTTPassword: ""}, "inline", "password", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base+c.yaml), env(c.env), BaseDir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Uplink.Password != c.want || cfg.Uplink.PasswordSource != c.source || len(cfg.Warnings) != c.warnings {
				t.Errorf("password %q from %q, %d warnings %v; want %q from %q, %d warnings",
					cfg.Uplink.Password.Reveal(), cfg.Uplink.PasswordSource, len(cfg.Warnings), cfg.Warnings, c.want, c.source, c.warnings)
			}
		})
	}
}

func TestTURNCredentialPrecedence(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "turn"), []byte("file-cred\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const base = "gateway: {id: a}\nuplink: {broker: mqtt://h}\nlive:\n  ice_servers:\n    - urls: turn:h:3478\n      username: a\n"
	e := map[string]string{EnvTURNCredential: "env-cred"}
	for _, c := range []struct {
		extra string
		env   map[string]string
		want  Secret
	}{
		{"      credential_file: turn\n", e, "file-cred"},
		{"      credential: inline-cred\n", e, "env-cred"},
		{"      credential: inline-cred\n", nil, "inline-cred"},
		{"", e, "env-cred"},
	} {
		cfg, err := Parse([]byte(base+c.extra), env(c.env), BaseDir(dir))
		if err != nil {
			t.Errorf("%q: %v", c.extra, err)
			continue
		}
		if got := cfg.Live.ICEServers[0].Credential; got != c.want {
			t.Errorf("%q env %v: credential %q, want %q", c.extra, c.env, got.Reveal(), c.want)
		}
	}
}

func TestSecretFileProblems(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const base = "gateway: {id: a}\nuplink:\n  broker: mqtt://h\n"
	_, err := Parse([]byte(base+"  password_file: missing\n"), LookupEnv(noEnv), BaseDir(dir))
	want := "line 4: uplink.password_file: cannot read " + filepath.Join(dir, "missing") + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	_, err = Parse([]byte(base+"  password_file: empty\n"), LookupEnv(noEnv), BaseDir(dir))
	want = "line 4: uplink.password_file: " + filepath.Join(dir, "empty") + " is empty"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	// A read error must not quote the file: ReadFile errors carry no
	// contents, and neither may ours.
	_, err = Parse([]byte(base+"  password_file: /x\n"), LookupEnv(noEnv),
		ReadFile(func(string) ([]byte, error) { return nil, errors.New("permission denied") }))
	if err == nil || !strings.Contains(err.Error(), "line 4: uplink.password_file: cannot read /x: permission denied") {
		t.Errorf("got %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	e := mustErrors(t, err)
	if !strings.Contains(err.Error(), "nope.yaml: read config: open ") || len(e.Problems) != 1 {
		t.Errorf("got %v", err)
	}
}

func TestRelativePathsFromConfigDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "s"), 0o750); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"s/pw", "s/ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(cfgPath, []byte("gateway: {id: a, data_dir: state}\nuplink: {broker: mqtts://h, password_file: s/pw, tls: {ca: s/ca.pem}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(cfgPath, LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.DataDir != filepath.Join(dir, "state") || cfg.Uplink.TLSFiles.CA != filepath.Join(dir, "s/ca.pem") || cfg.Uplink.Password != "x" {
		t.Errorf("got %+v %+v", cfg.Gateway, cfg.Uplink)
	}
}

func TestRedactedRoundTrips(t *testing.T) {
	cfg, err := Load(filepath.Join(testdata, "full.yaml"), LookupEnv(noEnv))
	if err != nil {
		t.Fatal(err)
	}
	out := cfg.Redacted()
	for _, want := range []string{"max_bytes: 256MiB", "debounce: 50ms", "hold: 10s", "max_on: 3m", "password: '[redacted]'",
		"url: rtsp://viewer:xxxxx@192.168.1.64:554/Streaming/Channels/102", "credential: '[redacted]'", "snapshot_on: [cong-pir, cua-cong]",
		"url: rtsps://viewer:xxxxx@192.168.1.66:322/stream1\n    tls_fingerprint: 3A:7F:12:C4:E0:B9:D8:A1:F2:E3:D4:C5:B6:A7:98:87:76:65:54:43:32:21:10:FF:EE:DD:CC:BB:AA:99:88:77\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("Redacted lacks %q:\n%s", want, out)
		}
	}
	back, err := Parse([]byte(out), LookupEnv(noEnv))
	if err != nil {
		t.Fatalf("Redacted output does not parse: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back.Sensors, cfg.Sensors) || back.Uplink.Address != cfg.Uplink.Address || back.Outbox != cfg.Outbox || !reflect.DeepEqual(back.Outputs, cfg.Outputs) ||
		len(back.Cameras) != len(cfg.Cameras) || back.Cameras[2].TLSFingerprint != cfg.Cameras[2].TLSFingerprint {
		t.Errorf("round trip changed the configuration:\n%s", out)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1000000": 1000000, "256MiB": 256 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "500MB": 500e6,
		"2KB": 2000, "1 GiB": 1 << 30, "256mib": 256 << 20, "10B": 10, "1TiB": 1 << 40, "1_000": 1000,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5GiB", "-1", "12XB", "99999999999999999999", "9000000TiB", "1 2"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for n, want := range map[int64]string{256 << 20: "256MiB", 1 << 30: "1GiB", 1000: "1000", 0: "0", 1536: "3KiB" /* 1536 = 1.5KiB */} {
		if n == 1536 {
			want = "1536"
		}
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"50ms": 50 * time.Millisecond, "2s": 2 * time.Second, "1m30s": 90 * time.Second, "0": 0, "0s": 0} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, got, err)
		}
	}
	for in, want := range map[string]string{"5x": `"5x" is not a duration (like 50ms, 2s`, "30": `add a unit (like 30s`, "-1s": "negative", "": "not a duration"} {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDuration(%q) error %v, want %q", in, err, want)
		}
	}
	for d, want := range map[time.Duration]string{10 * time.Second: "10s", 3 * time.Minute: "3m", time.Hour: "1h", 90 * time.Second: "1m30s", 0: "0s", 50 * time.Millisecond: "50ms"} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

// A fingerprint is read in the forms cameras and tools print it and kept in
// one form; it only goes with rtsps.
func TestCameraTLSFingerprint(t *testing.T) {
	const want = "3A:7F:12:C4:E0:B9:D8:A1:F2:E3:D4:C5:B6:A7:98:87:76:65:54:43:32:21:10:FF:EE:DD:CC:BB:AA:99:88:77"
	for _, in := range []string{want, strings.ToLower(want), strings.ReplaceAll(want, ":", ""), strings.ToLower(strings.ReplaceAll(want, ":", ""))} {
		cfg, err := Parse([]byte("gateway: {id: a}\nuplink: {broker: mqtt://h}\ncameras:\n  - {name: c, url: \"RTSPS://cam/x\", tls_fingerprint: \""+in+"\"}\n"), LookupEnv(noEnv))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := cfg.Cameras[0].TLSFingerprint; got != want {
			t.Errorf("tls_fingerprint %s read as %s, want %s", in, got, want)
		}
	}
	for in, msg := range map[string]string{
		strings.Repeat("ab", 31):             "not a SHA-256 fingerprint",
		strings.Repeat("ab", 33):             "not a SHA-256 fingerprint",
		strings.Repeat("zz", 32):             "not a SHA-256 fingerprint",
		strings.Repeat("ab ", 32):            "not a SHA-256 fingerprint",
		"[" + strings.Repeat("ab", 32) + "]": "must be a text value",
	} {
		_, err := Parse([]byte("gateway: {id: a}\nuplink: {broker: mqtt://h}\ncameras:\n  - name: c\n    url: rtsps://cam/x\n    tls_fingerprint: "+in+"\n"), LookupEnv(noEnv))
		if err == nil {
			t.Errorf("tls_fingerprint %s accepted", in)
			continue
		}
		e := mustErrors(t, err)
		if len(e.Problems) != 1 || e.Problems[0].Line != 6 || e.Problems[0].Key != "cameras[0].tls_fingerprint" || !strings.Contains(e.Problems[0].Msg, msg) {
			t.Errorf("tls_fingerprint %s: %v, want line 6 cameras[0].tls_fingerprint: %s", in, err, msg)
		}
	}
}
