package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// secretConfig loads a configuration holding a secret in every place one
// can be: password file, TURN credential from the environment, inline TURN
// credential, camera URLs.
func secretConfig(t *testing.T) (*Config, []string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("S3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(`
gateway: {id: cong-khu-3}
uplink: {broker: mqtt://h, username: u, password_file: pw}
sensors: [{name: p, kind: motion, pin: GPIO4}]
cameras:
  - {name: c, url: "rtsp://viewer:S3cret-camera@192.168.1.64/s", snapshot_url: "http://admin:S3cret-snap@192.168.1.64/pic", snapshot_on: [p]}
  - {name: d, url: "rtsp://192.168.1.65/live?user=admin&password=S3cret-query", snapshot_url: "http://192.168.1.65/cgi-bin/api.cgi?cmd=Snap&usr=admin&pwd=S3cret-pwd"}
live:
  ice_servers:
    - {urls: "turn:h:3478", username: a}
    - {urls: "turns:h:5349", username: b}
    - {urls: "stun:h:3478", credential: S3cret-inline}
`), BaseDir(dir), env(map[string]string{EnvTURNCredential: "S3cret-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Uplink.Password.Reveal() != "S3cret-from-file" || cfg.Live.ICEServers[0].Credential.Reveal() != "S3cret-env" ||
		cfg.Live.ICEServers[2].Credential.Reveal() != "S3cret-inline" ||
		cfg.Cameras[0].URL.Reveal() != "rtsp://viewer:S3cret-camera@192.168.1.64/s" {
		t.Fatalf("secrets not loaded: %q %q", cfg.Uplink.Password.Reveal(), cfg.Live.ICEServers[0].Credential.Reveal())
	}
	return cfg, []string{"S3cret-from-file", "S3cret-env", "S3cret-inline", "S3cret-camera", "S3cret-snap", "S3cret-query", "S3cret-pwd", "S3cret"}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg, secrets := secretConfig(t)
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T %v"} {
		outputs = append(outputs, fmt.Sprintf(verb, *cfg), fmt.Sprintf(verb, cfg.Uplink), fmt.Sprintf(verb, cfg.Uplink.Password),
			fmt.Sprintf(verb, cfg.Live), fmt.Sprintf(verb, cfg.Cameras[0].URL), fmt.Sprintf(verb, cfg.Cameras))
	}
	outputs = append(outputs, fmt.Sprint(cfg.Uplink.Password), fmt.Sprintln(cfg.Uplink), cfg.Uplink.Password.String(), cfg.Cameras[0].SnapshotURL.String())
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js))
	ym, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(ym), cfg.Redacted())
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(h(&b))
		log.Info("config", "cfg", cfg, "uplink", cfg.Uplink, "password", cfg.Uplink.Password, "url", cfg.Cameras[0].URL,
			slog.Any("live", cfg.Live), slog.Group("g", "cred", cfg.Live.ICEServers[2].Credential))
		outputs = append(outputs, b.String())
	}
	// An error that wraps a secret-holding value must not leak it either.
	outputs = append(outputs, fmt.Errorf("connect %v: %w", cfg.Uplink, errors.New("refused")).Error())

	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret %q printed in:\n%s", s, out)
			}
		}
	}
	all := strings.Join(outputs, "\n")
	for _, want := range []string{"[redacted]", "rtsp://viewer:xxxxx@192.168.1.64/s", "http://admin:xxxxx@192.168.1.64/pic",
		"rtsp://192.168.1.65/live?user=admin&password=xxxxx", "http://192.168.1.65/cgi-bin/api.cgi?cmd=Snap&usr=admin&pwd=xxxxx"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in any output", want)
		}
	}
	if got := fmt.Sprintf("%v|%s|%q|%#v", cfg.Uplink.Password, cfg.Uplink.Password, cfg.Uplink.Password, cfg.Uplink.Password); got != `[redacted]|[redacted]|"[redacted]"|config.Secret("[redacted]")` {
		t.Errorf("Secret formats as %s", got)
	}
	if v := cfg.Uplink.Password.LogValue(); v.String() != "[redacted]" {
		t.Errorf("LogValue = %v", v)
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("empty Secret prints %q; want it visibly unset", got)
	}
}

// Problems quote offending values; they must never quote secrets, even
// when the secret is what is wrong.
func TestSecretsNotInProblems(t *testing.T) {
	_, err := Parse([]byte(`
gateway: {id: a}
uplink: {broker: "u:S3cret-broker@station.local:1883", password: [S3cret-list]}
cameras:
  - {name: c, url: "http://admin:S3cret-cam@192.168.1.64/s"}
  - {name: d, url: "rtsp://admin:S3cret-bad%zz@192.168.1.64/s"}
  - {name: e, url: "rtsp://admin:S3cret-nohost@/s"}
  - {name: f, url: "rtsp://h/s", snapshot_url: "ftp://a:S3cret-ftp@h/p"}
`), LookupEnv(noEnv))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "S3cret") {
		t.Errorf("secret in error:\n%v", err)
	}
	if n := len(mustErrors(t, err).Problems); n != 6 {
		t.Errorf("%d problems, want 6:\n%v", n, err)
	}
}
