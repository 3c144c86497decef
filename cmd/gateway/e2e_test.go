package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/reexec"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// The end-to-end tests run the real gateway as a child process: the test
// binary itself, re-executed with envGatewayMain set, so that they also run
// under qemu-user where no Go toolchain is at hand.
const envGatewayMain = "ANTT_TEST_GATEWAY_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envGatewayMain) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// gwProc is one gateway process started by a test.
type gwProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	api  string
	log  string
	done chan struct{}
}

// gwConfig is a minimal configuration for a test gateway.
type gwConfig struct {
	ID, DataDir, Broker, API string
	MaxBytes                 string
	Extra                    string // appended YAML (sensors, uplink keys)
}

func (c gwConfig) write(t testing.TB, dir string) string {
	t.Helper()
	if c.MaxBytes == "" {
		c.MaxBytes = "64MiB"
	}
	y := fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink:
  broker: %s
  keepalive: 5s
  telemetry_interval: 1h
outbox: {max_bytes: %s}
api: {listen: "%s"}
sensors:
  - {name: pir, kind: motion, driver: sim, every: 1h}
%s`, c.ID, c.DataDir, c.Broker, c.MaxBytes, c.API, c.Extra)
	path := filepath.Join(dir, c.ID+".yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startGateway starts `gateway run -config cfg` and waits until its local
// API answers.
func startGateway(t testing.TB, cfg, api string) *gwProc {
	t.Helper()
	logPath := cfg + fmt.Sprintf(".%d.log", time.Now().UnixNano())
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := reexec.Command("run", "-config", cfg)
	cmd.Env = append(os.Environ(), envGatewayMain+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gwProc{t: t, cmd: cmd, api: api, log: logPath, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	devtest.WaitFor(t, 20*time.Second, "gateway API "+api, func() bool {
		select {
		case <-p.done:
			t.Fatalf("gateway exited during start:\n%s", p.output())
		default:
		}
		resp, err := http.Get("http://" + api + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func (p *gwProc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// kill sends SIGKILL: no clean stop, as in a power cut.
func (p *gwProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *gwProc) stop(t testing.TB) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("gateway did not stop within 15 s of SIGTERM:\n%s", p.output())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("gateway exit code %d after SIGTERM:\n%s", code, p.output())
	}
}

func (p *gwProc) status(t testing.TB) device.Status {
	t.Helper()
	resp, err := http.Get("http://" + p.api + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st device.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// walktest posts one walk test and returns the seq the gateway reported
// durable, or 0 when the request failed (for instance, the process died).
func walktest(client *http.Client, api, sensor string) uint64 {
	resp, err := client.Post("http://"+api+"/api/walktest", "application/json",
		strings.NewReader(`{"sensor":"`+sensor+`"}`))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return 0
	}
	var r device.WalkTestReply
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return 0
	}
	return r.Seq
}

// received is what a station-side subscriber saw of one gateway's events.
type received struct {
	mu      sync.Mutex
	seen    map[uint64]wire.Event
	order   []uint64 // first arrivals, in arrival order
	dups    int
	all     int
	changed chan struct{}
}

func newReceived() *received {
	return &received{seen: map[uint64]wire.Event{}, changed: make(chan struct{}, 1)}
}

func (r *received) add(payload []byte) error {
	var e wire.Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return err
	}
	r.mu.Lock()
	r.all++
	if _, ok := r.seen[e.Seq]; ok {
		r.dups++
	} else {
		r.seen[e.Seq] = e
		r.order = append(r.order, e.Seq)
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

// has reports whether every seq in 1..n arrived.
func (r *received) has(n uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := uint64(1); s <= n; s++ {
		if _, ok := r.seen[s]; !ok {
			return false
		}
	}
	return true
}

func (r *received) missing(n uint64) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m []uint64
	for s := uint64(1); s <= n && len(m) < 20; s++ {
		if _, ok := r.seen[s]; !ok {
			m = append(m, s)
		}
	}
	return m
}

// subscribe connects a persistent QoS 1 subscriber (its session survives
// broker restarts when the broker persists) to every gateway's events.
func subscribe(t testing.TB, broker, clientID string, r *received, opts ...func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(clientID).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetOrderMatters(true)
	o.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe("antt/+/event", 1, func(_ mqtt.Client, m mqtt.Message) {
			if err := r.add(m.Payload()); err != nil {
				t.Errorf("bad event payload %q: %v", m.Payload(), err)
			}
		})
	})
	for _, f := range opts {
		f(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect to %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// TestKillDuringBurst: SIGKILL of the gateway at random moments during
// 20,000-event bursts, 10 rounds, the broker going down and up between
// rounds. Every event whose capture was reported durable is delivered, the
// delivered set is exactly the set of seqs ever assigned (no gap), first
// arrivals come in seq order, and duplicates stay within the in-flight
// window per connection loss.
func TestKillDuringBurst(t *testing.T) {
	const (
		workers = 16
		window  = config.DefaultWindow // the test config leaves uplink.window out
	)
	rounds, burst := 10, 20000
	if testing.Short() {
		// Under qemu-user (make test-arm) the same test, smaller: the
		// full size runs natively in every `make test`.
		rounds, burst = 4, 4000
	}
	dir := t.TempDir()
	broker := mqtttest.Start(t, mqtttest.Options{Persistence: true})
	r := newReceived()
	subscribe(t, broker.Addr(), "e2e-kill-sub", r)

	api := devtest.FreeAddr(t)
	cfg := gwConfig{ID: "cong-khu-3", DataDir: filepath.Join(dir, "data"),
		Broker: "mqtt://" + broker.Addr(), API: api}.write(t, dir)

	var durable []uint64
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	breaks := 0
	for round := range rounds {
		brokerDown := round%3 == 1
		if brokerDown {
			broker.Stop()
			breaks++
		}
		gw := startGateway(t, cfg, api)
		var (
			sent    atomic.Int64
			mu      sync.Mutex
			killAt  = int64(burst/20 + rng.IntN(burst-burst/20))
			killed  = make(chan struct{})
			workWG  sync.WaitGroup
			onceKil sync.Once
		)
		client := newHTTPClient()
		for range workers {
			workWG.Go(func() {
				for sent.Add(1) <= int64(burst) {
					seq := walktest(client, api, "pir")
					if seq == 0 {
						select {
						case <-killed:
							return
						default:
							continue
						}
					}
					mu.Lock()
					durable = append(durable, seq)
					mu.Unlock()
					if sent.Load() >= killAt {
						onceKil.Do(func() { gw.kill(); close(killed) })
					}
				}
			})
		}
		workWG.Wait()
		onceKil.Do(func() { gw.kill(); close(killed) })
		breaks++
		if brokerDown {
			broker.Restart()
		}
		t.Logf("round %d: broker down=%v, killed after ~%d requests, %d durable so far", round, brokerDown, killAt, len(durable))
	}

	gw := startGateway(t, cfg, api)
	last := gw.status(t).Outbox.NextSeq - 1
	if last < uint64(len(durable)) {
		t.Fatalf("gateway's last seq %d is below the %d captures reported durable", last, len(durable))
	}
	deadline := time.After(120 * time.Second)
	for !r.has(last) {
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("after 120 s, %d of seqs 1..%d still missing, first: %v", len(r.missing(last)), last, r.missing(last))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range durable {
		if _, ok := r.seen[s]; !ok {
			t.Errorf("durable seq %d never delivered", s)
		}
	}
	if !slices.IsSorted(r.order) {
		t.Errorf("first arrivals are not in seq order")
	}
	// Each connection loss may re-send the gateway's window, and a broker
	// restart may also redeliver the subscriber's own in-flight messages
	// (Mosquitto's max_inflight_messages, 20).
	if max := (window + 20) * (breaks + 1); r.dups > max {
		t.Errorf("%d duplicates, more than (window %d + 20) × connection losses (%d)", r.dups, window, breaks+1)
	}
	t.Logf("%d events delivered (%d durable acknowledged to the test), %d duplicates over %d connection losses", last, len(durable), r.dups, breaks)
	gw.stop(t)
}

// newHTTPClient is the tests' client of the local API: bounded, so a
// killed gateway fails a request instead of hanging it.
func newHTTPClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }
