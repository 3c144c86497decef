// Command demo runs the whole system on this machine's loopback: the station
// with its embedded broker and one gateway at a residential-area gate with a
// simulated PIR and a simulated gate contact. `make demo` builds the binaries
// into bin/ and runs this; Ctrl-C stops everything.
package main

import (
	"bufio"
	"context"
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

const gatewayYAML = `# Demo gateway: the gate of residential area 3 (Ban ANTT khu dân cư số 3).
gateway:
  id: cong-khu-3
  site: chi-dam
  data_dir: %[1]s/cong-khu-3
uplink:
  broker: mqtt://127.0.0.1:%[2]d
  telemetry_interval: 15s
api:
  listen: 127.0.0.1:%[3]d
sensors:
  - {name: pir-cong, kind: motion, driver: sim, every: 4s, hold: 0s}
  - {name: cua-cong, kind: contact, driver: sim, every: 11s}
cameras:
  - {name: cam-cong, url: "file://%[4]s", preload: true}
`

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
	if err := os.MkdirAll(data, 0o750); err != nil {
		return err
	}
	data, _ = filepath.Abs(data)
	brokerPort, err := freePort()
	if err != nil {
		return err
	}
	apiPort, err := freePort()
	if err != nil {
		return err
	}
	// The looping test camera: the clip the project ships (run from the repo root).
	clip, err := filepath.Abs(filepath.Join("testdata", "camera", "clip-320x180-25fps.h264"))
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(data, "gateway.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, gatewayYAML, data, brokerPort, apiPort, clip), 0o640); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	ready := make(chan struct{})
	st := exec.CommandContext(ctx, station, "-listen", fmt.Sprintf("127.0.0.1:%d", brokerPort), "-data", filepath.Join(data, "station"))
	if err := start(st, "station", &wg, func(line string) {
		if strings.Contains(line, "listening") {
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

	gw := exec.CommandContext(ctx, gateway, "run", "-config", cfgPath)
	if err := start(gw, "gateway", &wg, nil); err != nil {
		return err
	}
	fmt.Printf(`
ANTT demo running.
  station broker   mqtt://127.0.0.1:%d
  gateway API      http://127.0.0.1:%d/api/status
  walk test        curl -X POST -d '{"sensor":"pir-cong"}' http://127.0.0.1:%d/api/walktest
  config           %s
Events scroll below; Ctrl-C stops.

`, brokerPort, apiPort, apiPort, cfgPath)
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
