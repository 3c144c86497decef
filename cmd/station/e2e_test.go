package main

// End-to-end tests of the station with a real gateway (device.Gateway, in
// process, configured through device/config.Parse): gateway isolation on the
// embedded broker with passwords and mutual TLS, and an outbox overflow seen
// from the station's event log.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

const (
	e2eGwA = "cong-khu-3"          // the gateway under test
	e2eGwB = "truong-thcs-chi-dam" // the other gateway, whose topics A must not touch
)

// e2eTail is the end of a component's log, enough for a failure message.
func e2eTail(b *devtest.Buffer) string {
	s := b.String()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}

// e2eGateway is a device.Gateway running in this process.
type e2eGateway struct {
	*device.Gateway
	log  *devtest.Buffer
	stop func()
	done chan error
}

// e2eStartGateway parses yaml with device/config.Parse, opens the gateway and
// runs it until the test ends (or stop is called).
func e2eStartGateway(t testing.TB, yaml string) *e2eGateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), config.FileName("gateway.yaml"))
	if err != nil {
		t.Fatalf("gateway config: %v\n%s", err, yaml)
	}
	lb := &devtest.Buffer{}
	gw, err := device.Open(cfg, device.Options{Logger: slog.New(slog.NewTextHandler(lb, nil))})
	if err != nil {
		t.Fatalf("open gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &e2eGateway{Gateway: gw, log: lb, done: make(chan error, 1)}
	go func() { g.done <- gw.Run(ctx) }()
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-g.done:
				if err != nil {
					t.Errorf("gateway Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("gateway did not stop within 20 s")
			}
		})
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway log:\n%s", e2eTail(lb))
		}
	})
	return g
}

// e2eStation is `station run` in this process.
type e2eStation struct {
	addr     string
	stderr   *devtest.Buffer
	maxSeq   atomic.Uint64 // highest "#seq" printed on stdout
	cancel   context.CancelFunc
	done     chan int
	stopOnce sync.Once
}

// e2eEventLine matches the seq of an event line the console prints.
var e2eEventLine = regexp.MustCompile(` #(\d+) `)

// Write is the station's stdout: it notes the highest event seq printed.
func (s *e2eStation) Write(p []byte) (int, error) {
	for _, m := range e2eEventLine.FindAllSubmatch(p, -1) {
		if n, err := strconv.ParseUint(string(m[1]), 10, 64); err == nil {
			for {
				old := s.maxSeq.Load()
				if n <= old || s.maxSeq.CompareAndSwap(old, n) {
					break
				}
			}
		}
	}
	return len(p), nil
}

var e2eListening = regexp.MustCompile(`station: broker listening on (\S+)`)

func e2eStartStation(t testing.TB, args ...string) *e2eStation {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &e2eStation{stderr: &devtest.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	go func() { s.done <- run(ctx, args, strings.NewReader(""), s, s.stderr) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("station stderr:\n%s", e2eTail(s.stderr))
		}
	})
	devtest.WaitFor(t, 15*time.Second, "station: subscribed", func() bool {
		select {
		case code := <-s.done:
			s.done <- code
			t.Fatalf("station exited with %d during start:\n%s", code, e2eTail(s.stderr))
		default:
		}
		out := s.stderr.String()
		if m := e2eListening.FindStringSubmatch(out); m != nil {
			s.addr = m[1]
		}
		return s.addr != "" && strings.Contains(out, "station: subscribed")
	})
	return s
}

// stop cancels the station and waits for run to return 0.
func (s *e2eStation) stop(t testing.TB) {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case code := <-s.done:
			if code != 0 {
				t.Errorf("station exit code %d:\n%s", code, e2eTail(s.stderr))
			}
		case <-time.After(20 * time.Second):
			t.Errorf("station did not stop within 20 s")
		}
	})
}

func e2eGatewayYAML(id, dataDir, broker, api, extraUplink string) string {
	return fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink:
  broker: %s
  keepalive: 5s
  telemetry_interval: 1h
%s
outbox: {max_bytes: 1MiB}
api: {listen: "%s"}
sensors:
  - {name: pir, kind: motion, driver: sim, every: 1h}
`, id, dataDir, broker, extraUplink, api)
}

func e2eWalk() *wire.Event {
	return &wire.Event{Kind: wire.KindMotion, Source: "pir", State: wire.StateActive, Test: true}
}

func isEventWithSeq(topic string, seq uint64) func(string, []byte) bool {
	return func(tp string, p []byte) bool {
		var e wire.Event
		return tp == topic && json.Unmarshal(p, &e) == nil && e.Seq == seq
	}
}

// TestEmbeddedBrokerGatewayIsolation runs `station` with a password file,
// the default access rules and mutual TLS, and a real gateway connecting
// with its credentials. It checks that wrong credentials and a missing
// client certificate are refused, that the gateway's events reach the
// station's store (and not a station-role subscriber), that a client logged in as gateway A cannot
// publish under B's topics nor to any cmd/ topic (proven by sentinels
// published after the forbidden messages), cannot read B's commands, and
// that the station's ping reaches A's gateway and is answered.
func TestEmbeddedBrokerGatewayIsolation(t *testing.T) {
	dir := t.TempDir()
	pki := mqtttest.NewPKI(t)
	pw := map[string]string{broker.StationUser: "station-pw", e2eGwA: "pw-a", e2eGwB: "pw-b"}
	passwd := filepath.Join(dir, "passwd")
	for u, p := range pw {
		if err := broker.SetPassword(passwd, u, p, 1000); err != nil {
			t.Fatal(err)
		}
	}
	st := e2eStartStation(t, "-listen", "127.0.0.1:0", "-passwd", passwd,
		"-tls-cert", pki.ServerCert, "-tls-key", pki.ServerKey, "-client-ca", pki.CA,
		"-data", filepath.Join(dir, "station"))

	// Refusals at connect time.
	if c, err := mqtttest.DialTLS(st.addr, pki.ClientTLS(t, e2eGwA), e2eGwA, "wrong", "a-wrong-pw"); err == nil {
		c.Disconnect(0)
		t.Error("a wrong password was accepted")
	} else if !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) && !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Errorf("wrong password: want a CONNACK refusal, got %v", err)
	}
	if c, err := mqtttest.DialTLS(st.addr, pki.ClientTLS(t, ""), e2eGwA, pw[e2eGwA], "a-no-cert"); err == nil {
		c.Disconnect(0)
		t.Error("a client without a certificate was accepted")
	} else {
		t.Logf("without a client certificate: %v", err)
	}

	// The station's view of everything.
	inbox := &mqtttest.Inbox{}
	stc, err := mqtttest.DialTLS(st.addr, pki.ClientTLS(t, "station"), broker.StationUser, pw[broker.StationUser], "e2e-station-view")
	if err != nil {
		t.Fatalf("station-role client: %v", err)
	}
	defer stc.Disconnect(0)
	mqtttest.WaitToken(t, stc.Subscribe("antt/#", 1, inbox.Handle), "station subscribes antt/#")

	// Gateway A, the real one, with its password file and certificate.
	pwFile := filepath.Join(dir, "a-password")
	if err := os.WriteFile(pwFile, []byte(pw[e2eGwA]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certA, keyA := pki.Files(t, e2eGwA)
	gw := e2eStartGateway(t, e2eGatewayYAML(e2eGwA, filepath.Join(dir, "gw"), "mqtts://"+st.addr, devtest.FreeAddr(t),
		fmt.Sprintf("  username: %s\n  password_file: %s\n  tls: {ca: %s, cert: %s, key: %s}", e2eGwA, pwFile, pki.CA, certA, keyA)))
	seq, err := gw.Capture(context.Background(), e2eWalk())
	if err != nil {
		t.Fatal(err)
	}
	// The embedded broker stores events before it acknowledges them and
	// does not hand them to subscribers: the console prints them from the
	// store.
	devtest.WaitFor(t, 15*time.Second, "the station's console to print the walk test", func() bool { return st.maxSeq.Load() >= seq })
	devtest.WaitFor(t, 10*time.Second, "gateway A connected", func() bool { return gw.Status().Uplink.Connected })

	mqtttest.CheckIsolation(t, mqtttest.IsolationEnv{
		A: e2eGwA, B: e2eGwB, Inbox: inbox, Station: stc, Strict: true,
		// A gateway's client id must be its gateway id here: every login as
		// A uses it, one at a time, once the real gateway has stopped.
		DialA: func(string) (paho.Client, error) {
			return mqtttest.DialTLS(st.addr, pki.ClientTLS(t, e2eGwA), e2eGwA, pw[e2eGwA], e2eGwA)
		},
		StopA: gw.stop,
	})
	// The isolation check's sentinels (telemetry, fanned out) came after
	// the walk test: had the broker handed the event on, it was here.
	if m, ok := inbox.Find(isEventWithSeq("antt/"+e2eGwA+"/event", seq)); ok {
		t.Errorf("a stored event was also fanned out to subscribers: %s %s", m.Topic, m.Payload)
	}
}

// TestOverflowEndToEnd: a gateway whose station is not up yet captures ten
// times more events than its 1 MiB outbox holds. The gateway stays up, the
// file never exceeds 1 MiB on disk, and once the station starts everything
// left drains. In the station's event log, the received seqs and the ranges
// of the outbox_overflow events received cover 1..last exactly once each,
// and every gap is explained.
func TestOverflowEndToEnd(t *testing.T) {
	const (
		total    = 20000
		workers  = 64
		maxBytes = 1 << 20
	)
	dir := t.TempDir()
	addr := devtest.FreeAddr(t) // the station's, not listening yet
	api := devtest.FreeAddr(t)
	dataDir := filepath.Join(dir, "gw")
	gw := e2eStartGateway(t, e2eGatewayYAML(e2eGwA, dataDir, "mqtt://"+addr, api, ""))
	path := filepath.Join(dataDir, device.OutboxFile)

	// Watch the file on disk for the whole test.
	var biggest atomic.Int64
	watchStop, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			if fi, err := os.Stat(path); err == nil && fi.Size() > biggest.Load() {
				biggest.Store(fi.Size())
			}
			select {
			case <-watchStop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	stopWatch := sync.OnceFunc(func() { close(watchStop); <-watchDone })
	defer stopWatch()

	start := time.Now()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Value
	)
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= total {
				if _, err := gw.Capture(context.Background(), e2eWalk()); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d captures failed, first: %v", n, firstErr.Load())
	}
	select {
	case err := <-gw.done:
		t.Fatalf("gateway stopped during the burst: %v", err)
	default:
	}
	resp, err := http.Get("http://" + api + "/healthz")
	if err != nil {
		t.Fatalf("gateway API after the burst: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after the burst: %s", resp.Status)
	}
	ob := gw.Status().Outbox
	t.Logf("%d captures in %v; outbox depth %d, dropped %d, file %d bytes", total, time.Since(start).Round(time.Millisecond), ob.Depth, ob.Dropped, ob.FileSize)
	if ob.Dropped < total/2 {
		t.Fatalf("only %d events dropped: the outbox was not overflowing", ob.Dropped)
	}

	st := e2eStartStation(t, "-listen", addr, "-data", filepath.Join(dir, "station"))
	var last uint64
	devtest.WaitFor(t, 60*time.Second, "the outbox to drain into the station", func() bool {
		s := gw.Status().Outbox
		last = s.NextSeq - 1
		return s.Depth == 0 && st.maxSeq.Load() >= last
	})
	t.Logf("drained %v after the station started; last seq %d", time.Since(start).Round(time.Millisecond), last)
	stopWatch()
	if b := biggest.Load(); b > maxBytes {
		t.Errorf("outbox file reached %d bytes on disk, bound %d", b, maxBytes)
	} else {
		t.Logf("largest outbox file seen: %d bytes", b)
	}
	gw.stop()
	st.stop(t)

	l, err := store.Open(filepath.Join(dir, "station", "events.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	eps, err := l.Epochs(e2eGwA)
	if err != nil || len(eps) != 1 {
		t.Fatalf("epochs of %s: %+v %v; want one", e2eGwA, eps, err)
	}
	epoch := eps[0].Epoch
	c, err := l.Counters(e2eGwA)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSeq != last {
		t.Errorf("station's highest seq %d, gateway's last %d", c.MaxSeq, last)
	}
	cover := make([]int, last+1)
	var ranges [][2]uint64
	for s := uint64(1); s <= last; s++ {
		raw, ok, err := l.Event(e2eGwA, epoch, s)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		cover[s]++
		var e wire.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("stored event %d: %v", s, err)
		}
		if e.Kind != wire.KindOutboxOverflow {
			continue
		}
		a, _ := e.Attrs["first_seq"].(float64)
		z, _ := e.Attrs["last_seq"].(float64)
		if a < 1 || z < a || uint64(z) >= s {
			t.Errorf("overflow event %d has range %v..%v", s, e.Attrs["first_seq"], e.Attrs["last_seq"])
			continue
		}
		// An overflow event that absorbed an undelivered one lists the
		// exact runs lost in ranges; first_seq..last_seq bound them.
		runs := [][2]uint64{{uint64(a), uint64(z)}}
		if rs, ok := e.Attrs["ranges"].([]any); ok {
			runs = runs[:0]
			for _, r := range rs {
				ab, _ := r.([]any)
				if len(ab) != 2 {
					t.Fatalf("overflow event %d: bad ranges %v", s, rs)
				}
				lo, _ := ab[0].(float64)
				hi, _ := ab[1].(float64)
				runs = append(runs, [2]uint64{uint64(lo), uint64(hi)})
			}
		}
		for _, run := range runs {
			ranges = append(ranges, run)
			for x := run[0]; x <= run[1]; x++ {
				cover[x]++
			}
		}
	}
	var holes, doubles []uint64
	for s := uint64(1); s <= last; s++ {
		switch {
		case cover[s] == 0 && len(holes) < 10:
			holes = append(holes, s)
		case cover[s] > 1 && len(doubles) < 10:
			doubles = append(doubles, s)
		}
	}
	if len(holes) > 0 {
		t.Errorf("seqs neither received nor in an overflow range (first %d): %v", len(holes), holes)
	}
	if len(doubles) > 0 {
		t.Errorf("seqs counted twice (received and dropped, or in two ranges): %v", doubles)
	}
	gaps, err := l.Gaps(e2eGwA)
	if err != nil {
		t.Fatal(err)
	}
	unexplained := 0
	for _, g := range gaps {
		if !g.Explained {
			unexplained++
			if unexplained <= 5 {
				t.Errorf("unexplained gap %d..%d (%d events)", g.First, g.Last, g.Len())
			}
		}
	}
	t.Logf("station: %d received, %d gaps (%d unexplained, %d events missing unexplained), %d overflow events received",
		c.Received, len(gaps), c.GapsUnexplained, c.MissingUnexplained, len(ranges))
	if c.GapsUnexplained != 0 || unexplained != 0 {
		t.Errorf("%d unexplained gaps", max(c.GapsUnexplained, unexplained))
	}
}
