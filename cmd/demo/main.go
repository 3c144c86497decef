// Command demo runs the whole system on this machine's loopback, set up as
// it ships: the station with its embedded broker (TLS, a password file and
// an access file: no open login) and web console, and two gateways — the
// gate of residential area 3 (Cổng khu dân cư 3) and the gate of Chí Đám
// lower secondary school (Trường THCS Chí Đám) — each with simulated
// sensors and a looping test camera. The gateways are enrolled the way an
// admin enrols one: through the station's enrolment API, each getting its
// own broker password and the broker's CA in its download; more can be
// enrolled from the page (/gateways) while the demo runs. It creates a
// demo login (user "demo", a fresh random password) and prints the
// console's URL with it. `make demo` builds the binaries into bin/ and runs
// this; Ctrl-C stops everything.
//
// The station cannot make its broker's certificate itself (it needs
// -tls-cert; it makes only the console's and the TURN server's), so the
// demo makes a self-signed one for 127.0.0.1 in its data folder, as an
// installer would with openssl (docs/install.md).
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the gateway and station binaries")
	data := flag.String("data", "demo-data", "folder for the demo's databases and config (reset at start)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The looping test camera: the clip the project ships (run from the repo root).
	clip, err := filepath.Abs(filepath.Join("testdata", "camera", "clip-320x180-25fps.h264"))
	if err == nil {
		var d *Demo
		if d, err = Start(ctx, Options{Bin: *bin, Data: *data, Clip: clip, Out: os.Stdout}); err == nil {
			d.Print(os.Stdout)
			<-ctx.Done()
			d.Stop()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// Site of the demo's gateways, as enrolment puts it in the directory.
const (
	demoSite     = "chi-dam"
	demoSiteName = "Xã Chí Đám"
)

// demoGateway is one of the demo's sites.
type demoGateway struct {
	id, name, kind string
	sensors        string // YAML lines of its sensors
	walk           string // the sensor the printed walk test names
	camera         string
	alarm          string // YAML of its outputs: and alarm: sections
}

var demoGateways = []demoGateway{
	{id: "cong-khu-3", name: "Cổng khu dân cư 3", kind: "gate", camera: "cam-cong", walk: "pir-cong", sensors: `
  - {name: pir-cong, kind: motion, driver: sim, every: 4s, hold: 0s, modes: [night]}
  - {name: cua-cong, kind: contact, driver: sim, every: 11s}`, alarm: `
outputs:
  - {name: siren, driver: sim, max_on: 1m}
  - {name: strobe, driver: sim, max_on: 3m, pattern: pulse 2Hz 50%}
alarm:
  trigger_time: 30s
  schedule:
    entries:
      - {days: [every], at: "22:00", mode: night}
      - {days: [every], at: "05:00", mode: disarmed}
`},
	{id: "truong-thcs-chi-dam", name: "Trường THCS Chí Đám", kind: "school", camera: "cam-cong-truong", walk: "pir-san-truong", sensors: `
  - {name: pir-san-truong, kind: motion, driver: sim, every: 7s, hold: 0s, modes: [away]}
  - {name: cua-cong-truong, kind: contact, driver: sim, every: 17s, modes: [away], entry_delay: 30s, chime: true}
  - {name: hop-ky-thuat, kind: tamper, driver: sim, every: 45s, always: true}`, alarm: `
outputs:
  - {name: siren, driver: sim, max_on: 3m}
  - {name: strobe, driver: sim, max_on: 10m, pattern: pulse 2Hz 50%}
  - {name: buzzer, driver: sim, max_on: 5s}
alarm:
  trigger_time: 1m
  trigger: [{output: siren}, {output: strobe}]
  chime: [{output: buzzer, pattern: chirp 1}]
  modes: [{name: away, exit_delay: 45s}]
  schedule:
    entries:
      - {days: [weekdays], at: "06:30", mode: disarmed}
      - {days: [weekdays], at: "17:30", mode: away}
      - {days: [sat], at: "07:00", mode: disarmed}
      - {days: [sat], at: "11:30", mode: away}
    holidays: ["2026-09-02", "2027-01-01"]
`},
}

// gatewayYAML is a demo gateway's config, next to the enrolment download
// it was made from (its gateway.yaml, secrets/): id, data dir, the
// download's broker URL, API port, sensors, camera name, the looping
// clip, the camera's snapshot URL, the sensor taking snapshots and the
// telemetry interval. Its uplink is the download's: its own user and
// password file, the broker's CA.
const gatewayYAML = `# Demo gateway: %[1]s (%[7]s). The enrolment download is beside this
# file (gateway.yaml, secrets/); this file keeps its uplink and adds
# simulated sensors and a looping camera.
gateway:
  id: %[1]s
  site: ` + demoSite + `
  data_dir: %[2]s
uplink:
  broker: %[3]s
  username: %[1]s
  password_file: secrets/mqtt-password
  tls: {ca: secrets/ca.pem}
  telemetry_interval: %[12]s
api:
  listen: 127.0.0.1:%[4]d
live:
  udp_port: 0 # two gateways on one machine: each a free port
  # Everything of the demo is on loopback, the browser too.
  interfaces: [lo]
  loopback_candidates: true
sensors:%[5]s
cameras:
  - {name: %[6]s, url: "file://%[8]s", preload: true, record: continuous,
     snapshot_url: "%[10]s", snapshot_on: [%[11]s]}
recording:
  max_bytes: 256MiB
%[9]s`

// Options say where the demo's parts are.
type Options struct {
	// Bin holds the station and gateway binaries; Data is reset and filled.
	Bin, Data string
	// Clip is the H.264 file the test cameras loop.
	Clip string
	// Out gets every process's output, prefixed with its name (nil: none).
	Out io.Writer
	// Exec, if set, is the wrapper (an emulator) binaries run through.
	Exec []string
	// OfflineGrace, if set, is the station's -offline-grace (tests).
	OfflineGrace time.Duration
	// TelemetryInterval, if set, is the gateways' telemetry_interval
	// instead of the demo's 15 s (tests: the sites page shows a gateway's
	// alarm mode from its last telemetry, so a test that arms one would
	// otherwise wait up to an interval for the card each time).
	TelemetryInterval time.Duration
}

// demoTelemetryInterval is the demo gateways' telemetry_interval: shorter
// than the shipped 60 s, so the sites page follows a change of mode
// within 15 s while someone tries the demo.
const demoTelemetryInterval = 15 * time.Second

// Demo is a running demo.
type Demo struct {
	// WebURL is the console; Password is the "demo" admin's.
	WebURL, Password string
	// BrokerURL is the station's broker as enrolment gives it (mqtts://).
	BrokerURL string
	// Data is the demo's folder; CAFile the broker's certificate.
	Data, CAFile string
	Gateways     []RunningGateway

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// RunningGateway is one demo gateway.
type RunningGateway struct {
	ID, Name string
	// Boot is the folder holding its enrolment download and its config.
	Boot    string
	APIPort int
	walk    string
}

// Start builds the demo in o.Data and starts it: the station, its
// enrolment of the two gateways, then the gateways. It returns once they
// are started; cancelling ctx or Stop stops everything.
func Start(ctx context.Context, o Options) (d *Demo, err error) {
	station, _ := filepath.Abs(filepath.Join(o.Bin, "station"))
	gateway, _ := filepath.Abs(filepath.Join(o.Bin, "gateway"))
	for _, p := range []string{station, gateway} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s missing: run `make demo` (it builds them first)", p)
		}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.TelemetryInterval <= 0 {
		o.TelemetryInterval = demoTelemetryInterval
	}
	if err := os.RemoveAll(o.Data); err != nil {
		return nil, err
	}
	data, err := filepath.Abs(o.Data)
	if err != nil {
		return nil, err
	}
	stationData := filepath.Join(data, "station")
	if err := os.MkdirAll(stationData, 0o700); err != nil {
		return nil, err
	}
	d = &Demo{Data: data}
	// The station's broker as shipped: TLS, a password file and an access
	// file, both empty until enrolment fills them.
	cert, key := filepath.Join(stationData, "broker-cert.pem"), filepath.Join(stationData, "broker-key.pem")
	if err := makeBrokerCert(cert, key); err != nil {
		return nil, err
	}
	d.CAFile = cert
	passwd, access := filepath.Join(stationData, "passwd"), filepath.Join(stationData, "access")
	for p, text := range map[string]string{passwd: "# gateways' passwords, written by enrolment\n", access: "# gateways enrolled from the page\n"} {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	brokerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	webPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if d.Password, err = demoLogin(o, station, stationData); err != nil {
		return nil, err
	}
	d.WebURL = fmt.Sprintf("http://127.0.0.1:%d", webPort)

	// An error stops what was started.
	ctx, d.cancel = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			d.Stop()
		}
	}()
	enrolURL := regexp.MustCompile(`station: enrolment gives gateways broker (\S+)`)
	var once sync.Once
	ready, failed := make(chan string, 1), make(chan string, 1)
	st := command(ctx, o, station, "run", "-data", stationData,
		"-listen", fmt.Sprintf("127.0.0.1:%d", brokerPort), "-tls-cert", cert, "-tls-key", key,
		"-passwd", passwd, "-access", access, "-http", fmt.Sprintf("127.0.0.1:%d", webPort),
		// TURN (live view) on free ports too, not the fixed 3478 and 5349.
		"-turn", "127.0.0.1:0", "-turn-tls", "127.0.0.1:0")
	if o.OfflineGrace > 0 {
		st.Args = append(st.Args, "-offline-grace", o.OfflineGrace.String())
	}
	var broker string
	if err := start(st, "station", o.Out, &d.wg, func(line string) {
		if m := enrolURL.FindStringSubmatch(line); m != nil {
			broker = m[1]
		}
		if strings.Contains(line, "enrolment from the page is off") {
			select {
			case failed <- line:
			default:
			}
		}
		if strings.Contains(line, "station: console listening on") {
			once.Do(func() { ready <- broker })
		}
	}); err != nil {
		return nil, err
	}
	select {
	case d.BrokerURL = <-ready:
	case line := <-failed:
		return nil, fmt.Errorf("the station runs without enrolment: %s", line)
	case <-time.After(30 * time.Second):
		return nil, errors.New("station's console did not start within 30 s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !strings.HasPrefix(d.BrokerURL, "mqtts://") {
		return nil, fmt.Errorf("enrolment gives gateways broker %q, want mqtts://", d.BrokerURL)
	}

	snaps, err := startSnapshots(ctx, &d.wg)
	if err != nil {
		return nil, err
	}

	// Enrol the gateways as an admin does, over the station's API.
	c, err := login(d.WebURL, "demo", d.Password)
	if err != nil {
		return nil, err
	}
	for _, g := range demoGateways {
		apiPort, err := freePort()
		if err != nil {
			return nil, err
		}
		boot := filepath.Join(data, g.id)
		broker, err := c.enrol(g, boot)
		if err != nil {
			return nil, err
		}
		yaml := fmt.Appendf(nil, gatewayYAML, g.id, filepath.Join(boot, "data"), broker, apiPort, g.sensors, g.camera, g.name, o.Clip, g.alarm,
			snaps+"/"+g.camera+".jpg", g.walk, o.TelemetryInterval)
		if err := os.WriteFile(filepath.Join(boot, "demo-gateway.yaml"), yaml, 0o600); err != nil {
			return nil, err
		}
		d.Gateways = append(d.Gateways, RunningGateway{ID: g.id, Name: g.name, Boot: boot, APIPort: apiPort, walk: g.walk})
	}
	for _, g := range d.Gateways {
		gw := command(ctx, o, gateway, "run", "-config", filepath.Join(g.Boot, "demo-gateway.yaml"))
		if err := start(gw, g.ID, o.Out, &d.wg, nil); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Stop stops the demo's processes (SIGTERM) and waits for them to end.
func (d *Demo) Stop() {
	d.cancel()
	d.wg.Wait()
}

// Print writes what a person needs: the URLs, the login, the walk tests.
func (d *Demo) Print(w io.Writer) {
	fmt.Fprintf(w, `
ANTT demo running (Công an xã Chí Đám).
  console              %s/
  live view (tiles)    %[1]s/live
  enrol a gateway      %[1]s/gateways
  demo login           user demo   password %s
  station broker       %s (TLS, password and access files;
                       its certificate: %s)
`, d.WebURL, d.Password, d.BrokerURL, d.CAFile)
	for _, g := range d.Gateways {
		fmt.Fprintf(w, "  %-20s %s: http://127.0.0.1:%d/api/status (enrolled; its download: %s)\n", g.ID, g.Name, g.APIPort, g.Boot)
		fmt.Fprintf(w, "  %-20s walk test: curl -X POST -d '{\"sensor\":\"%s\"}' http://127.0.0.1:%d/api/walktest\n", "", g.walk, g.APIPort)
	}
	fmt.Fprintf(w, "Events scroll below; Ctrl-C stops.\n\n")
}

// command is bin with args, through o.Exec when set.
func command(ctx context.Context, o Options, bin string, args ...string) *exec.Cmd {
	if len(o.Exec) > 0 {
		return exec.CommandContext(ctx, o.Exec[0], append(append(o.Exec[1:], bin), args...)...)
	}
	return exec.CommandContext(ctx, bin, args...)
}

// start runs cmd with its output prefixed by name, calling see for each line.
func start(cmd *exec.Cmd, name string, out io.Writer, wg *sync.WaitGroup, see func(string)) error {
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := cmd.Wait()
		pw.CloseWithError(err)
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintf(out, "%-8s| %s\n", name, sc.Text())
			if see != nil {
				see(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, pr) // a line too long: keep the process unblocked
	}()
	return nil
}

// demoLogin creates the demo's admin account with a fresh random password
// (there is no default password) and returns the password.
func demoLogin(o Options, station, dataDir string) (string, error) {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(b[:])
	cmd := command(context.Background(), o, station, "user", "add", "-data", dataDir, "-role", "admin", "demo")
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("create the demo login: %v: %s", err, out)
	}
	return pw, nil
}

// makeBrokerCert writes a self-signed certificate for 127.0.0.1 and
// localhost (ECDSA P-256, one year) and its key.
func makeBrokerCert(certPath, keyPath string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial,
		Subject:   pkix.Name{CommonName: "ANTT demo station broker", Organization: []string{"ANTT demo"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("broker certificate: %w", err)
	}
	return nil
}

// console is a logged-in session of the station's console.
type console struct {
	base, cookie string
	hc           *http.Client
}

// login logs user in to the console at base.
func login(base, user, password string) (*console, error) {
	hc := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(base+"/login", url.Values{"user": {user}, "password": {password}})
	if err != nil {
		return nil, fmt.Errorf("log in to the console: %w", err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "session") {
			// By hand: a cookie jar keeps the console's Secure cookie to https.
			return &console{base: base, cookie: c.Name + "=" + c.Value, hc: hc}, nil
		}
	}
	return nil, fmt.Errorf("log in to the console as %s: %s, no session", user, resp.Status)
}

// do sends one request of the session; body, if any, is JSON.
func (c *console) do(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Cookie", c.cookie)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

// enrol enrols g through the console's API (POST /api/gateways) and
// unpacks its download into boot, as onto the SD card's boot partition.
// It returns the broker URL the download's gateway.yaml names.
func (c *console) enrol(g demoGateway, boot string) (string, error) {
	body, _ := json.Marshal(map[string]string{"id": g.id, "name": g.name, "site": demoSite, "site_name": demoSiteName, "kind": g.kind})
	code, b, err := c.do("POST", "/api/gateways", body)
	if err != nil {
		return "", fmt.Errorf("enrol %s: %w", g.id, err)
	}
	if code != http.StatusCreated {
		return "", fmt.Errorf("enrol %s: %d %s", g.id, code, bytes.TrimSpace(b))
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return "", fmt.Errorf("enrol %s: the download: %w", g.id, err)
	}
	var yaml []byte
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return "", fmt.Errorf("enrol %s: the download holds %q", g.id, f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return "", fmt.Errorf("enrol %s: the download: %w", g.id, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("enrol %s: the download: %w", g.id, err)
		}
		p := filepath.Join(boot, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return "", err
		}
		if f.Name == "gateway.yaml" {
			yaml = data
		}
	}
	m := regexp.MustCompile(`(?m)^  broker: (\S+)$`).FindSubmatch(yaml)
	if m == nil {
		return "", fmt.Errorf("enrol %s: the download's gateway.yaml names no broker", g.id)
	}
	for _, f := range []string{"secrets/mqtt-password", "secrets/ca.pem"} {
		if _, err := os.Stat(filepath.Join(boot, f)); err != nil {
			return "", fmt.Errorf("enrol %s: the download lacks %s", g.id, f)
		}
	}
	return string(m[1]), nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
