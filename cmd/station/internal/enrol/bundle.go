package enrol

import (
	"archive/zip"
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Files of the download, as they go onto the boot partition (ANTT-BOOT):
// the gateway reads /boot/gateway.yaml, whose relative paths are relative
// to /boot.
const (
	ConfigName   = "gateway.yaml"
	PasswordName = "secrets/mqtt-password"
	CAName       = "secrets/ca.pem"
)

// Bundle is one gateway's download: its gateway.yaml and secret files in a
// zip. It holds the password in clear; nothing else on the station does.
type Bundle struct {
	Gateway string
	// Zip is the archive to unpack onto the SD card's boot partition.
	Zip []byte
	// Files are the archive's files by name (for tests and tools).
	Files map[string][]byte
}

// FileName is the download's suggested name.
func (b *Bundle) FileName() string { return "antt-" + b.Gateway + "-boot.zip" }

// configTemplate is the ready gateway.yaml: the image's own template
// (buildroot/board/antt/boot/gateway.yaml) with this gateway's id, site,
// broker and secrets filled in. %[1]s id, %[2]s name, %[3]s site,
// %[4]s broker URL, %[5]s prefix, %[6]s TLS lines, %[7]s kind, %[8]s date.
const configTemplate = `# ANTT Gateway configuration for %[1]s (%[2]s), made by the station on %[8]s.
#
# Copy this file and the secrets folder onto the SD card's boot partition
# (ANTT-BOOT). Edit the sensors below for this %[7]s; keep the indentation
# (spaces, never tabs). Check it on the board with
#   gateway check-config /boot/gateway.yaml
# Relative paths are relative to this file's directory (/boot).
# secrets/mqtt-password is this gateway's MQTT password: keep the card safe;
# if it is lost, re-issue the credentials on the station (the old password
# then stops working).

gateway:
  id: %[1]s
  site: %[3]s
  data_dir: /data/gateway
  timezone: Asia/Ho_Chi_Minh

uplink:
  broker: %[4]s
  prefix: %[5]s
  username: %[1]s
  password_file: secrets/mqtt-password
%[6]s  keepalive: 30s
  telemetry_interval: 60s

outbox:
  max_bytes: 256MiB

api:
  # Local API for the walk test; loopback only.
  listen: 127.0.0.1:8080

sensors:
  # PIR at the gate: output on GPIO17 (header pin 11), high when it sees
  # motion. A 10 s hold-off makes one event per passer-by.
  - {name: cong-pir, kind: motion, driver: gpio, pin: GPIO17, active: high, pull: down, debounce: 50ms, hold: 10s}
  # Door contact between GPIO22 (header pin 15) and GND (pin 14).
  # - {name: cua-cong, kind: contact, driver: gpio, pin: GPIO22, active: high, pull: up, debounce: 100ms}

# The board's hardware watchdog reboots it if the gateway hangs.
watchdog:
  device: /dev/watchdog
  timeout: 15s
`

// bundle builds g's download with password pw.
func (e *Enroller) bundle(g Gateway, pw string) (*Bundle, error) {
	var tlsLines string
	if e.ca != nil {
		tlsLines = "  tls: {ca: " + CAName
		if e.o.ServerName != "" {
			tlsLines += ", server_name: " + strconv.Quote(e.o.ServerName)
		}
		tlsLines += "}\n"
	}
	site := g.Site
	if site == "" {
		site = `""`
	}
	name := strings.TrimSpace(g.Name)
	if name == "" {
		name = g.ID
	}
	kind := "site"
	switch g.Kind {
	case KindGate:
		kind = "gate"
	case KindSchool:
		kind = "school"
	}
	files := map[string][]byte{
		ConfigName:   fmt.Appendf(nil, configTemplate, g.ID, name, site, e.o.BrokerURL, e.o.Prefix, tlsLines, kind, time.Now().UTC().Format("2006-01-02")),
		PasswordName: []byte(pw + "\n"),
	}
	order := []string{ConfigName, PasswordName}
	if e.ca != nil {
		files[CAName] = e.ca
		order = append(order, CAName)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range order {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: time.Now()}
		mode := 0o644
		if strings.HasPrefix(n, "secrets/") {
			mode = 0o600
		}
		h.SetMode(os.FileMode(mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, fmt.Errorf("make download: %w", err)
		}
		if _, err := w.Write(files[n]); err != nil {
			return nil, fmt.Errorf("make download: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("make download: %w", err)
	}
	return &Bundle{Gateway: g.ID, Zip: buf.Bytes(), Files: files}, nil
}

// certificatesOnly returns the CERTIFICATE blocks of the PEM data b (nil
// if none): never a private key that shares the file.
func certificatesOnly(b []byte) []byte {
	var out []byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if blk.Type == "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: blk.Type, Bytes: blk.Bytes})...)
		}
	}
}
