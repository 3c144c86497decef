// Command demo runs the whole system on this machine's loopback: the station
// with its embedded broker and web console, and two gateways — the gate of
// residential area 3 (Cổng khu dân cư 3) and the gate of Chí Đám lower
// secondary school (Trường THCS Chí Đám) — each with simulated sensors and a
// looping test camera. It creates a demo login (user "demo", a fresh random
// password) and prints the console's URL with it. `make demo` builds the
// binaries into bin/ and runs this; Ctrl-C stops everything.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the gateway and station binaries")
	data := flag.String("data", "demo-data", "folder for the demo's databases and config (reset at start)")
	flag.Parse()
	if err := run(*bin, *data); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

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

// gatewayYAML is a demo gateway's config: id, data dir, broker port, API
// port, sensors, camera name and the looping clip.
const gatewayYAML = `# Demo gateway: %[1]s (%[7]s).
gateway:
  id: %[1]s
  site: chi-dam
  data_dir: %[2]s
uplink:
  broker: mqtt://127.0.0.1:%[3]d
  telemetry_interval: 15s
api:
  listen: 127.0.0.1:%[4]d
sensors:%[5]s
cameras:
  - {name: %[6]s, url: "file://%[8]s", preload: true}
%[9]s`

func run(bin, data string) error {
	station, _ := filepath.Abs(filepath.Join(bin, "station"))
	gateway, _ := filepath.Abs(filepath.Join(bin, "gateway"))
	for _, p := range []string{station, gateway} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s missing: run `make demo` (it builds them first)", p)
		}
	}
	if err := os.RemoveAll(data); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(data, "station"), 0o750); err != nil {
		return err
	}
	data, _ = filepath.Abs(data)
	brokerPort, err := freePort()
	if err != nil {
		return err
	}
	// The looping test camera: the clip the project ships (run from the repo root).
	clip, err := filepath.Abs(filepath.Join("testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		return err
	}
	webPort, err := freePort()
	if err != nil {
		return err
	}
	stationData := filepath.Join(data, "station")
	password, err := demoLogin(station, stationData)
	if err != nil {
		return err
	}
	type gwRun struct {
		g       demoGateway
		cfg     string
		apiPort int
	}
	var gws []gwRun
	var dir []map[string]string
	for _, g := range demoGateways {
		apiPort, err := freePort()
		if err != nil {
			return err
		}
		cfgPath := filepath.Join(data, g.id+".yaml")
		yaml := fmt.Appendf(nil, gatewayYAML, g.id, filepath.Join(data, g.id), brokerPort, apiPort, g.sensors, g.camera, g.name, clip, g.alarm)
		if err := os.WriteFile(cfgPath, yaml, 0o640); err != nil {
			return err
		}
		gws = append(gws, gwRun{g, cfgPath, apiPort})
		dir = append(dir, map[string]string{"id": g.id, "name": g.name, "site": "chi-dam", "site_name": "Xã Chí Đám", "kind": g.kind})
	}
	// The console's directory of gateways (names, site, kind).
	dj, _ := json.MarshalIndent(dir, "", "  ")
	if err := os.WriteFile(filepath.Join(stationData, "gateways.json"), dj, 0o600); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	ready := make(chan struct{})
	st := exec.CommandContext(ctx, station, "run", "-listen", fmt.Sprintf("127.0.0.1:%d", brokerPort),
		"-http", fmt.Sprintf("127.0.0.1:%d", webPort), "-data", stationData)
	if err := start(st, "station", &wg, func(line string) {
		if strings.Contains(line, "broker listening") {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
	}); err != nil {
		return err
	}
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		return errors.New("station did not start listening within 15 s")
	case <-ctx.Done():
		return nil
	}

	for _, g := range gws {
		gw := exec.CommandContext(ctx, gateway, "run", "-config", g.cfg)
		if err := start(gw, g.g.id, &wg, nil); err != nil {
			return err
		}
	}
	fmt.Printf(`
ANTT demo running (Công an xã Chí Đám).
  console              http://127.0.0.1:%d/
  live view (tiles)    http://127.0.0.1:%[1]d/live
  demo login           user demo   password %s
  station broker       mqtt://127.0.0.1:%d
`, webPort, password, brokerPort)
	for _, g := range gws {
		fmt.Printf("  %-20s %s: http://127.0.0.1:%d/api/status\n", g.g.id, g.g.name, g.apiPort)
		fmt.Printf("  %-20s walk test: curl -X POST -d '{\"sensor\":\"%s\"}' http://127.0.0.1:%d/api/walktest\n", "", g.g.walk, g.apiPort)
	}
	fmt.Printf("Events scroll below; Ctrl-C stops.\n\n")
	<-ctx.Done()
	return nil
}

// start runs cmd with its output prefixed by name, calling see for each line.
func start(cmd *exec.Cmd, name string, wg *sync.WaitGroup, see func(string)) error {
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
			fmt.Printf("%-8s| %s\n", name, sc.Text())
			if see != nil {
				see(sc.Text())
			}
		}
	}()
	return nil
}

// demoLogin creates the demo's admin account with a fresh random password
// (there is no default password) and returns the password.
func demoLogin(station, dataDir string) (string, error) {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	pw := base64.RawURLEncoding.EncodeToString(b[:])
	cmd := exec.Command(station, "user", "add", "-data", dataDir, "-role", "admin", "demo")
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("create the demo login: %v: %s", err, out)
	}
	return pw, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
