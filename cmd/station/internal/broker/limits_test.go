package broker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/antt-gateway/antt/device/camera/snapshot"
	"github.com/antt-gateway/antt/device/devtest"
)

// MQTT 3.1.1 CONNACK return codes.
const (
	codeAccepted          = 0
	codeServerUnavailable = 3
	codeBadLogin          = 5 // "not authorized": mochi's v3 answer to a refused login
)

// logTo returns a logger writing to buf (and to stderr with -v).
func logTo(buf *devtest.Buffer) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.MultiWriter(buf, os.Stderr), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(buf, nil))
}

func TestMaxPacketSizeFitsSnapshots(t *testing.T) {
	// PUBLISH: fixed header (≤ 5), topic (2 + prefix/id/snapshot/seq), packet id (2).
	topic := "antt/" + strings.Repeat("g", 63) + "/snapshot/18446744073709551615"
	if need := snapshot.DefaultMaxBytes + 5 + 2 + len(topic) + 2; DefaultMaxPacketSize < need {
		t.Fatalf("DefaultMaxPacketSize %d cannot carry the largest snapshot (%d bytes as a PUBLISH)", DefaultMaxPacketSize, need)
	}
}

func TestLimitErrors(t *testing.T) {
	for _, l := range []Limits{
		{MaxClients: -1}, {ConnectTimeout: -time.Second}, {MaxPacketSize: 1000}, {MaxPacketSize: 300 << 20}, {MaxChecks: -2},
	} {
		if _, err := New(Options{Listen: "127.0.0.1:0", Limits: l}); err == nil {
			t.Errorf("limits %+v accepted", l)
		} else {
			t.Logf("%+v: %v", l, err)
		}
	}
}

// TestIdleSocketClosedAtConnectDeadline opens sockets that send nothing, a
// CONNECT's first byte only, or a CONNECT cut short: each is closed at the
// connect deadline. A client that logged in is then governed by its
// keepalive and outlives the connect deadline.
func TestIdleSocketClosedAtConnectDeadline(t *testing.T) {
	const timeout = 400 * time.Millisecond
	b, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "gw-a:a"), Limits: Limits{ConnectTimeout: timeout}})
	full := connectPacket("gw-a", "gw-a", "a", 30)
	for _, send := range [][]byte{nil, full[:1], full[:len(full)-3]} {
		c, err := dialFrom("", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		took := waitClosed(t, c, timeout+3*time.Second)
		t.Logf("sent %d bytes: closed after %v", len(send), took)
		if took < timeout/2 {
			t.Errorf("sent %d bytes: closed after %v, before the deadline of %v", len(send), took, timeout)
		}
	}

	// Logged in with keepalive 30 s: still served well past the deadline.
	code, c, err := rawLogin(t, "", addr, "gw-a", "gw-a", "a", 30)
	if err != nil || code != codeAccepted {
		t.Fatalf("login: code %d, %v", code, err)
	}
	<-time.After(3 * timeout) // the scenario: idle for longer than the connect deadline
	if _, err := c.Write([]byte{0xc0, 0}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	var resp [2]byte
	if _, err := c.Read(resp[:]); err != nil || resp[0] != 0xd0 {
		t.Fatalf("PINGRESP after the connect deadline: % x, %v", resp, err)
	}

	// A keepalive of 0 (never time out) becomes maxKeepalive.
	code, _, err = rawLogin(t, "", addr, "gw-a", "gw-a", "a", 0)
	if err != nil || code != codeAccepted {
		t.Fatalf("login with keepalive 0: code %d, %v", code, err)
	}
	cl, ok := b.srv.Clients.Get("gw-a")
	if !ok || cl.State.Keepalive != maxKeepalive {
		t.Fatalf("keepalive 0 kept: %+v", cl.State.Keepalive)
	}
}

// TestLoginGivesUpWaitingForCheckSlot: a login that finds every password
// check slot taken waits until its connect deadline, not longer, and is
// refused without a check.
func TestLoginGivesUpWaitingForCheckSlot(t *testing.T) {
	const timeout = 500 * time.Millisecond
	b, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "gw-a:a"), Limits: Limits{ConnectTimeout: timeout, MaxChecks: 1}})
	b.guard.checks <- struct{}{} // the one slot, taken
	start := time.Now()
	code, _, err := rawLogin(t, "", addr, "gw-a", "gw-a", "a", 30)
	took := time.Since(start)
	if err == nil && code == codeAccepted {
		t.Fatal("login accepted without a check slot")
	}
	t.Logf("refused after %v: code %d, %v", took, code, err)
	if took > timeout+3*time.Second {
		t.Fatalf("waited %v for a slot; the connect deadline is %v", took, timeout)
	}
	if n := b.guard.checked.Load(); n != 0 {
		t.Fatalf("%d password checks ran", n)
	}
	<-b.guard.checks
	if code, _, err := rawLogin(t, "", addr, "gw-a", "gw-a", "a", 30); err != nil || code != codeAccepted {
		t.Fatalf("login with a free slot: code %d, %v", code, err)
	}
}

// allocated runs f and returns the bytes the whole process allocated
// meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHugePacketRefusedWithoutAllocating sends fixed headers announcing
// packets far larger than allowed: the connection is closed at once (not
// at the connect deadline, as it would be while mochi waits for the body)
// and the process does not allocate the announced size (mochi allocates
// what the header announces, then reads). A snapshot of the largest size
// still goes through.
func TestHugePacketRefusedWithoutAllocating(t *testing.T) {
	_, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "station:s", "gw-a:a")})
	quick := DefaultConnectTimeout / 2
	refused := func(what string, c net.Conn, header []byte, limit uint64) {
		t.Helper()
		n := allocated(func() {
			if _, err := c.Write(header); err != nil {
				t.Fatal(err)
			}
			took := waitClosed(t, c, quick)
			t.Logf("%s: closed after %v", what, took)
		})
		t.Logf("%s: %d bytes allocated meanwhile", what, n)
		if n > limit {
			t.Errorf("%s: %d bytes allocated, more than %d", what, n, limit)
		}
	}
	for _, size := range []int{268_435_455, DefaultMaxPacketSize - 100, maxConnectSize} {
		c, err := dialFrom("", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		refused(fmt.Sprintf("CONNECT of %d bytes", size), c, append([]byte{0x10}, varint(size)...), 1<<20)
	}

	// After login: a PUBLISH beyond MaxPacketSize.
	code, c, err := rawLogin(t, "", addr, "gw-a", "gw-a", "a", 30)
	if err != nil || code != codeAccepted {
		t.Fatalf("login: code %d, %v", code, err)
	}
	refused("PUBLISH of 256 MiB", c, append([]byte{0x32}, varint(268_435_455)...), 8<<20)

	// The largest snapshot passes.
	st := mustDial(t, addr, "station", "s")
	st.subscribe(t, "antt/+/snapshot/+", 1)
	gw := mustDial(t, addr, "gw-a", "a")
	jpeg := bytes.Repeat([]byte{0xff}, snapshot.DefaultMaxBytes)
	if err := gw.publish(t, "antt/gw-a/snapshot/1", 1, false, string(jpeg)); err != nil {
		t.Fatalf("largest snapshot: %v", err)
	}
	if m := st.waitFor(t, "antt/gw-a/snapshot/1"); len(m.Payload()) != len(jpeg) {
		t.Fatalf("snapshot of %d bytes arrived with %d", len(jpeg), len(m.Payload()))
	}
}

// floodIter is the PBKDF2 cost of the flood test's passwords: the real
// one, except where PBKDF2 is ten times slower (race detector, qemu).
func floodIter() int {
	if raceEnabled || testing.Short() {
		return 20_000
	}
	return DefaultIterations
}

// TestLoginFloodKeepsGatewaysIn: 1,000 wrong-password logins a second from
// one address (127.0.0.2) while 20 gateways (127.0.0.1, and one behind the
// attacker's address, as behind a carrier NAT) stay connected, publish
// QoS 1 and get every PUBACK, and log in again during the flood. The flood
// costs at most MaxLoginFailures password checks, and a few log lines.
func TestLoginFloodKeepsGatewaysIn(t *testing.T) {
	attempts, workers := 3000, 32
	if testing.Short() {
		attempts, workers = 600, 16
	}
	const gateways = 20
	iter := floodIter()

	// The password file, hashed in parallel (PBKDF2 at 600,000 iterations).
	users := []string{"station"}
	for i := range gateways + 1 { // the last one logs in for the first time during the flood
		users = append(users, fmt.Sprintf("gw-%02d", i))
	}
	lines := make([]string, len(users))
	var hw sync.WaitGroup
	for i, u := range users {
		hw.Go(func() {
			h, err := NewHash("pw-"+u, iter)
			if err != nil {
				panic(err)
			}
			lines[i] = u + ":" + h.String()
		})
	}
	hw.Wait()
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs devtest.Buffer
	b, addr := startBroker(t, Options{PasswdFile: passwd, Logger: logTo(&logs)})

	// The station's view: every event it receives.
	var gotMu sync.Mutex
	got := map[string]bool{}
	st := mustDial(t, addr, "station", "pw-station")
	if tok := st.Subscribe("antt/+/event", 1, func(_ paho.Client, m paho.Message) {
		gotMu.Lock()
		got[m.Topic()+" "+string(m.Payload())] = true
		gotMu.Unlock()
	}); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("station subscribes: %v", tok.Error())
	}

	// Each gateway: connect (the last one from the attacker's address),
	// publish QoS 1 until told to stop, reconnecting twice meanwhile.
	src := func(i int) string {
		if i == gateways-1 {
			return "127.0.0.2"
		}
		return "127.0.0.1"
	}
	connect := func(i int) (paho.Client, error) {
		id := users[i+1]
		o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetUsername(id).SetPassword("pw-" + id).
			SetAutoReconnect(false).SetConnectTimeout(wait).SetConnectRetry(false)
		o.SetDialer(&net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src(i))}})
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(wait) {
			return nil, fmt.Errorf("%s: connect timed out", id)
		}
		return c, tok.Error()
	}
	clients := make([]paho.Client, gateways)
	for i := range gateways {
		c, err := connect(i)
		if err != nil {
			t.Fatalf("gateway %d before the flood: %v", i, err)
		}
		clients[i] = c
	}
	checksBefore := b.guard.checked.Load()

	stop := make(chan struct{})
	var acked atomic.Int64
	published := make([]int, gateways)
	reconnected := make([]int, gateways) // during the flood
	reconnect := make([]chan struct{}, gateways)
	errs := make(chan error, 2*gateways)
	var gws sync.WaitGroup
	for i := range gateways {
		reconnect[i] = make(chan struct{}, 2)
		gws.Go(func() {
			c := clients[i]
			defer func() { c.Disconnect(0) }()
			topic := fmt.Sprintf("antt/%s/event", users[i+1])
			// 50 events a second each, 1,000 in all: a busy commune.
			pace := time.NewTicker(20 * time.Millisecond)
			defer pace.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-reconnect[i]:
					c.Disconnect(0)
					nc, err := connect(i)
					if err != nil {
						errs <- fmt.Errorf("gateway %d: reconnect during the flood: %v", i, err)
						return
					}
					c = nc
					select {
					case <-stop:
					default:
						reconnected[i]++
					}
				case <-pace.C:
				}
				tok := c.Publish(topic, 1, false, fmt.Sprintf("%d", n))
				if !tok.WaitTimeout(wait) || tok.Error() != nil {
					errs <- fmt.Errorf("gateway %d: publish %d: no PUBACK: %v", i, n, tok.Error())
					return
				}
				published[i] = n + 1
				acked.Add(1)
			}
		})
	}

	// The flood: a pacer hands out one attempt a millisecond.
	var cpu0, cpu1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu0)
	start := time.Now()
	var refusedAck, closed, other atomic.Int64
	jobs := make(chan int)
	var fw sync.WaitGroup
	for range workers {
		fw.Go(func() {
			for j := range jobs {
				user := users[1+j%gateways]
				if j%5 == 0 {
					user = fmt.Sprintf("nobody-%d", j)
				}
				c, err := dialFrom("127.0.0.2", addr)
				if err != nil {
					other.Add(1)
					continue
				}
				// Keepalive 1: mochi would log a warning for each.
				c.Write(connectPacket(user, user, "guess-"+fmt.Sprint(j), 1))
				code, err := readConnack(c)
				c.Close()
				switch {
				case err == errClosed:
					closed.Add(1)
				case err != nil:
					other.Add(1)
				case code == codeAccepted:
					t.Errorf("wrong password %d accepted", j)
				default:
					refusedAck.Add(1)
				}
			}
		})
	}
	// One attempt a millisecond, on a schedule (not a ticker, which drops
	// ticks while the workers are busy).
	late := make(chan error, 1)
	for j := range attempts {
		if d := time.Until(start.Add(time.Duration(j) * time.Millisecond)); d > 0 {
			<-time.After(d)
		}
		if j == attempts/3 || j == 2*attempts/3 {
			for i := range gateways {
				reconnect[i] <- struct{}{}
			}
		}
		if j == attempts/2 {
			go func() {
				c, err := connect(gateways)
				if err == nil {
					c.Disconnect(0)
				}
				late <- err
			}()
		}
		jobs <- j
	}
	close(jobs)
	if err := <-late; err != nil {
		t.Errorf("a gateway logging in for the first time during the flood: %v", err)
	}
	fw.Wait()
	took := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &cpu1)
	close(stop)
	gws.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, n := range reconnected {
		if n != 2 {
			t.Errorf("gateway %d reconnected %d times during the flood, want 2", i, n)
		}
	}

	cpu := time.Duration(cpu1.Utime.Nano()+cpu1.Stime.Nano()-cpu0.Utime.Nano()-cpu0.Stime.Nano()) * time.Nanosecond
	checks := b.guard.checked.Load() - checksBefore
	t.Logf("flood: %d attempts in %v (%.0f/s): %d refused by CONNACK, %d closed, %d other; %d password checks (%d iterations); process CPU %v; gateways: %d PUBACKs",
		attempts, took.Round(time.Millisecond), float64(attempts)/took.Seconds(), refusedAck.Load(), closed.Load(), other.Load(),
		checks, iter, cpu.Round(time.Millisecond), acked.Load())
	if int(refusedAck.Load()+closed.Load()) != attempts {
		t.Errorf("%d of %d attempts refused; %d failed otherwise", refusedAck.Load()+closed.Load(), attempts, other.Load())
	}
	if limit := int64(DefaultMaxLoginFailures + b.guard.lim.MaxChecks - 1 + 1); checks > limit { // + the late gateway
		t.Errorf("the flood cost %d password checks; at most %d expected", checks, limit)
	}

	// Every PUBACKed event reached the station.
	var missing []string
	devtest.WaitFor(t, wait, "every PUBACKed event at the station", func() bool {
		gotMu.Lock()
		defer gotMu.Unlock()
		missing = missing[:0]
		for i := range gateways {
			for n := range published[i] {
				if want := fmt.Sprintf("antt/%s/event %d", users[i+1], n); !got[want] {
					missing = append(missing, want)
				}
			}
		}
		return len(missing) == 0
	})

	// The log holds a few lines, not one per attempt.
	b.guard.refusals.flush()
	refusals := strings.Count(logs.String(), "connection refused")
	summary := strings.Count(logs.String(), "connections refused again")
	t.Logf("log: %d refusal lines, %d summary lines", refusals, summary)
	if refusals > 10 || summary == 0 {
		t.Errorf("log: %d refusal lines and %d summaries for %d attempts:\n%s", refusals, summary, attempts, logs.String())
	}
	n := 0
	for l := range strings.Lines(logs.String()) {
		if !strings.Contains(l, "level=DEBUG") {
			n++
		}
	}
	if n > 40 {
		t.Errorf("the flood wrote %d log lines above debug:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "guess-") || strings.Contains(logs.String(), "pw-gw") {
		t.Error("a password is in the log")
	}
}

// TestLoginCooldown: after MaxLoginFailures failures an address's logins
// are refused without a check, even with the right password, except a
// login verified before (from anywhere); other addresses are not affected;
// the cooldown ends; Reload forgets the verified logins.
func TestLoginCooldown(t *testing.T) {
	const cooldown = 700 * time.Millisecond
	passwd := writePasswd(t, "gw-a:a", "gw-b:b", "gw-c:c")
	b, addr := startBroker(t, Options{PasswdFile: passwd, Limits: Limits{MaxLoginFailures: 3, LoginCooldown: cooldown}})
	login := func(src, user, pass string) byte {
		t.Helper()
		code, c, err := rawLogin(t, src, addr, user, user, pass, 30)
		if err != nil {
			t.Fatalf("%s from %s: %v", user, src, err)
		}
		c.Close()
		return code
	}
	if code := login("127.0.0.1", "gw-a", "a"); code != codeAccepted { // verified: remembered
		t.Fatalf("gw-a: code %d", code)
	}
	for range 3 {
		if code := login("127.0.0.2", "gw-b", "wrong"); code != codeBadLogin {
			t.Fatalf("wrong password: code %d", code)
		}
	}
	checks := b.guard.checked.Load()
	if code := login("127.0.0.2", "gw-b", "b"); code != codeBadLogin {
		t.Fatalf("right password during the cooldown, never verified: code %d", code)
	}
	if code := login("127.0.0.2", "gw-a", "a"); code != codeAccepted {
		t.Fatalf("a recently verified login during the cooldown: code %d", code)
	}
	if n := b.guard.checked.Load() - checks; n != 0 {
		t.Fatalf("%d password checks during the cooldown", n)
	}
	if code := login("127.0.0.1", "gw-b", "b"); code != codeAccepted {
		t.Fatalf("gw-b from another address: code %d", code)
	}
	devtest.WaitFor(t, wait, "cooldown over", func() bool {
		return !b.guard.cooling("127.0.0.2")
	})
	if code := login("127.0.0.2", "gw-c", "c"); code != codeAccepted {
		t.Fatalf("after the cooldown: code %d", code)
	}

	// A new password: the old one, though remembered, no longer works.
	if err := SetPassword(passwd, "gw-a", "a2", testIter); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := login("127.0.0.1", "gw-a", "a"); code != codeBadLogin {
		t.Fatalf("old password after Reload: code %d", code)
	}
	checks = b.guard.checked.Load()
	if code := login("127.0.0.1", "gw-a", "a2"); code != codeAccepted {
		t.Fatalf("new password: code %d", code)
	}
	if b.guard.checked.Load() == checks {
		t.Fatal("the new password was not checked")
	}
}

// TestClientIDRules: a gateway's client id is its gateway id. Another user
// (gateway or station) cannot take it nor squat it with a persistent
// session; the gateway cannot use another id; its owner takes it over (a
// second connection replaces the first); a session a station user left
// under an id that later becomes a gateway's is discarded, not inherited.
func TestClientIDRules(t *testing.T) {
	access := filepath.Join(t.TempDir(), "access")
	writeAccess := func(s string) {
		if err := os.WriteFile(access, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeAccess("station station\nstation station2\ngateway gw-a\ngateway gw-b\ngateway user7 truong-thcs\n")
	b, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "station:s", "station2:s2", "gw-a:a", "gw-b:b", "user7:u", "gw-new:n"), AccessFile: access})
	id := func(s string) clientOpt { return func(o *paho.ClientOptions) { o.SetClientID(s) } }
	persistent := func(s string) clientOpt {
		return func(o *paho.ClientOptions) { o.SetClientID(s).SetCleanSession(false) }
	}
	for _, c := range []struct {
		user, pass, id string
	}{
		{"gw-b", "b", "gw-a"},             // another gateway's id
		{"station", "s", "gw-a"},          // the station may not take a gateway's id
		{"gw-a", "a", "gw-a-2"},           // a gateway with an id not its own
		{"gw-a", "a", "antt-gw-a"},        // the former default
		{"user7", "u", "user7"},           // the user name is not the gateway id here
		{"station2", "s2", "truong-thcs"}, // a gateway id from the access file
	} {
		if _, err := dial(t, addr, c.user, c.pass, persistent(c.id)); err == nil {
			t.Errorf("%s connected with client id %s", c.user, c.id)
		}
	}
	mustDial(t, addr, "user7", "u", id("truong-thcs"))

	// The owner takes over its id; the first connection is closed.
	first := mustDial(t, addr, "gw-a", "a", persistent("gw-a"))
	second := mustDial(t, addr, "gw-a", "a", persistent("gw-a"))
	devtest.WaitFor(t, wait, "first connection closed", func() bool { return !first.IsConnectionOpen() })
	if err := second.publish(t, "antt/gw-a/event", 1, false, "{}"); err != nil {
		t.Fatalf("after taking over its id: %v", err)
	}

	// gw-a offline with a command queued in its session: no one else can
	// take the id meanwhile, and gw-a gets its command when it is back.
	second.subscribe(t, "antt/gw-a/cmd/#", 1)
	second.Disconnect(100)
	devtest.WaitFor(t, wait, "gw-a's session kept, offline", func() bool {
		cl, ok := b.srv.Clients.Get("gw-a")
		return ok && cl.Closed()
	})
	cmd := mustDial(t, addr, "station", "s")
	if err := cmd.publish(t, "antt/gw-a/cmd/ping", 1, false, `{"id":"queued"}`); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ user, pass string }{{"gw-b", "b"}, {"station", "s"}, {"station2", "s2"}} {
		if _, err := dial(t, addr, u.user, u.pass, persistent("gw-a")); err == nil {
			t.Errorf("%s took gw-a's kept session", u.user)
		}
	}
	back := mustDial(t, addr, "gw-a", "a", persistent("gw-a"))
	if m := back.waitFor(t, "antt/gw-a/cmd/ping"); string(m.Payload()) != `{"id":"queued"}` {
		t.Fatalf("queued command: %q", m.Payload())
	}

	// A station user's id of its own is refused to another station user
	// while its session is kept.
	s1 := mustDial(t, addr, "station", "s", persistent("console-2"))
	s1.subscribe(t, "antt/#", 1)
	s1.Disconnect(100)
	if _, err := dial(t, addr, "station2", "s2", persistent("console-2")); err == nil {
		t.Error("station2 took station's session")
	}

	// station leaves a persistent session under "gw-new", not yet a
	// gateway; then gw-new is added: it gets a fresh session, not the
	// station's antt/# subscription.
	sq := mustDial(t, addr, "station", "s", persistent("gw-new"))
	sq.subscribe(t, "antt/#", 1)
	sq.Disconnect(100)
	writeAccess("station station\nstation station2\ngateway gw-a\ngateway gw-b\ngateway user7 truong-thcs\ngateway gw-new\n")
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	mustDial(t, addr, "gw-new", "n", persistent("gw-new"))
	cl, ok := b.srv.Clients.Get("gw-new")
	if !ok || string(cl.Properties.Username) != "gw-new" {
		t.Fatalf("gw-new is not the client under its id")
	}
	if subs := cl.State.Subscriptions.GetAll(); len(subs) != 0 {
		t.Fatalf("gw-new inherited the station's subscriptions: %v", subs)
	}
	if sub, ok := b.srv.Topics.Subscribers("antt/gw-b/event").Subscriptions["gw-new"]; ok {
		t.Fatalf("the discarded session's antt/# is still subscribed under gw-new: %+v", sub)
	}
}

// TestMaxClients: with MaxClients network clients logged in, the next is
// refused ("server unavailable") without a password check; the station's
// own client still connects; a client taking over its own id still gets
// in; a freed slot is taken again.
func TestMaxClients(t *testing.T) {
	b, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "gw-a:a", "gw-b:b", "gw-c:c", "gw-d:d"), Limits: Limits{MaxClients: 3}})
	a := mustDial(t, addr, "gw-a", "a")
	gb := mustDial(t, addr, "gw-b", "b")
	mustDial(t, addr, "gw-c", "c")
	checks := b.guard.checked.Load()
	code, _, err := rawLogin(t, "", addr, "gw-d", "gw-d", "d", 30)
	if err != nil || code != codeServerUnavailable {
		t.Fatalf("fourth client: code %d, %v", code, err)
	}
	if n := b.guard.checked.Load() - checks; n != 0 {
		t.Fatalf("a full station ran %d password checks", n)
	}
	mustDial(t, addr, "gw-a", "a") // takes over gw-a
	devtest.WaitFor(t, wait, "gw-a's first connection closed", func() bool { return !a.IsConnectionOpen() })

	in := &client{seen: make(chan struct{}, 10)}
	o := paho.NewClientOptions().AddBroker("tcp://internal").SetClientID("antt-station").SetAutoReconnect(false)
	o.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) { return b.Dial(t.Context()) })
	in.Client = paho.NewClient(o)
	if tok := in.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("the station's own client refused: %v", tok.Error())
	}
	defer in.Disconnect(0)
	// 3 network clients (the old gw-a connection's end counted): the
	// station's own is not one of them.
	devtest.WaitFor(t, wait, "3 network clients counted", func() bool { return b.guard.clients.Load() == 3 })

	gb.Disconnect(0)
	devtest.WaitFor(t, wait, "a slot free", func() bool { return b.guard.clients.Load() < 3 })
	if _, err := dial(t, addr, "gw-d", "d"); err != nil {
		t.Fatalf("gw-d with a free slot: %v", err)
	}
}

func TestRefusalLogSumsUpRepeats(t *testing.T) {
	var buf devtest.Buffer
	r := newRefusalLog(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 1000 {
		r.refuse("192.0.2.7", "bad user name or password", "user", "gw-a")
	}
	r.refuse("192.0.2.8", "bad user name or password", "user", "gw-b")
	r.flush()
	r.refuse("192.0.2.7", "bad user name or password", "user", "gw-a")
	out := buf.String()
	if n := strings.Count(out, "connection refused"); n != 3 {
		t.Errorf("%d full lines, want 3 (first of each address, then again after the summary):\n%s", n, out)
	}
	if !strings.Contains(out, "count=999") {
		t.Errorf("no summary of 999 repeats:\n%s", out)
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:1234":             "192.0.2.7",
		"[::ffff:192.0.2.7]:1":       "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
	} {
		ap, _ := net.ResolveTCPAddr("tcp", in)
		if got := addrKey(ap); got != want {
			t.Errorf("addrKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzConnectHeader feeds the CONNECT header scanner arbitrary bytes in
// arbitrary pieces: it must agree with one decoding of the whole.
func FuzzConnectHeader(f *testing.F) {
	for _, s := range [][]byte{
		connectPacket("gw-a", "gw-a", "a", 30), {0x10, 0xff, 0xff, 0xff, 0x7f}, {0x10, 0x80, 0x80, 0x01},
		{0x30, 0x02}, {0x10, 0xff, 0xff, 0xff, 0xff, 0x01}, {0x10}, {0x10, 0x80, 0x80},
	} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		var whole connectHeader
		wdone, werr := whole.feed(data)
		var parts connectHeader
		var pdone bool
		var perr error
		n := max(int(step), 1)
		for i := 0; i < len(data) && !pdone && perr == nil; i += n {
			pdone, perr = parts.feed(data[i:min(i+n, len(data))])
		}
		if wdone != pdone || (werr == nil) != (perr == nil) {
			t.Fatalf("whole: %v %v; in pieces of %d: %v %v", wdone, werr, n, pdone, perr)
		}
		if wdone && werr == nil {
			// A complete, accepted header: a CONNECT within the limit.
			if data[0]>>4 != 1 || int(whole.length)+whole.n > maxConnectSize {
				t.Fatalf("accepted % x: length %d", data[:whole.n], whole.length)
			}
		}
		// mochi's own decoding of the length is the reference: a CONNECT
		// header it reads as within the limit (in at most four length
		// bytes) is accepted, with its length.
		if len(data) > 0 && data[0]>>4 == 1 {
			n, bu, err := packets.DecodeLength(bytes.NewReader(data[1:]))
			switch {
			case err != nil:
				if wdone && werr == nil {
					t.Fatalf("accepted % x, which mochi cannot decode: %v", data, err)
				}
			case bu > 4:
				// mochi reads longer runs of 0x80; MQTT allows four bytes.
				if werr == nil {
					t.Fatalf("% x: a length of %d bytes accepted", data, bu)
				}
			case n+1+bu <= maxConnectSize:
				if !wdone || werr != nil || int(whole.length) != n {
					t.Fatalf("% x: mochi reads length %d; scanner: done %v, %v, length %d", data, n, wdone, werr, whole.length)
				}
			default:
				if werr == nil {
					t.Fatalf("% x: length %d over the limit accepted", data, n)
				}
			}
		}
	})
}

// TestPendingLimits: connections not yet logged in are bounded per address
// and in all; one beyond is closed at once, not at the deadline, and the
// other addresses still log in.
func TestPendingLimits(t *testing.T) {
	const timeout = 20 * time.Second // far beyond the test: only the limits close
	b, addr := startBroker(t, Options{PasswdFile: writePasswd(t, "gw-a:a"),
		Limits: Limits{ConnectTimeout: timeout, MaxPending: 3, MaxPendingPerAddr: 2}})
	idle := func(src string) net.Conn {
		t.Helper()
		c, err := dialFrom(src, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	held := []net.Conn{idle("127.0.0.2"), idle("127.0.0.2")}
	devtest.WaitFor(t, wait, "two pending", func() bool { return b.guard.pending.Load() == 2 })
	took := waitClosed(t, idle("127.0.0.2"), wait)
	t.Logf("third from 127.0.0.2 closed after %v", took)
	if code, _, err := rawLogin(t, "127.0.0.1", addr, "gw-a", "gw-a", "a", 30); err != nil || code != codeAccepted {
		t.Fatalf("login from 127.0.0.1: code %d, %v", code, err)
	}
	// Pending until its CONNACK is written, which the client may see first.
	devtest.WaitFor(t, wait, "the login settled", func() bool { return b.guard.pending.Load() == 2 })
	held = append(held, idle("127.0.0.3"))
	devtest.WaitFor(t, wait, "three pending", func() bool { return b.guard.pending.Load() == 3 })
	took = waitClosed(t, idle("127.0.0.4"), wait)
	t.Logf("a fourth in all closed after %v", took)

	for _, c := range held {
		c.Close()
	}
	devtest.WaitFor(t, wait, "nothing pending", func() bool { return b.guard.pending.Load() == 0 })
	if code, _, err := rawLogin(t, "127.0.0.2", addr, "gw-a", "gw-a", "a", 30); err != nil || code != codeAccepted {
		t.Fatalf("login from 127.0.0.2 once its connections are gone: code %d, %v", code, err)
	}
	devtest.WaitFor(t, wait, "the login settled", func() bool { return b.guard.pending.Load() == 0 })
	b.guard.mu.Lock()
	n := len(b.guard.addrs)
	b.guard.mu.Unlock()
	if n != 0 {
		t.Errorf("%d addresses still in the table with nothing pending and no failures: %v", n, b.guard.addrs)
	}
}

// TestShutdownClosesPendingConnections: connections not yet logged in (an
// idle socket, one mid TLS handshake is alike) do not hold the broker's
// stop until their connect deadline: mochi knows only logged-in clients.
func TestShutdownClosesPendingConnections(t *testing.T) {
	b, err := New(Options{Listen: "127.0.0.1:0", Limits: Limits{ConnectTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := b.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialFrom("", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x10}) // a CONNECT begun
	devtest.WaitFor(t, wait, "the connection pending", func() bool { return b.guard.pending.Load() == 1 })
	start := time.Now()
	cancel()
	stopped := make(chan struct{})
	go func() { b.Wait(); close(stopped) }()
	select {
	case <-stopped:
		t.Logf("stopped in %v", time.Since(start))
	case <-time.After(wait):
		t.Fatalf("broker not stopped %v after cancel, with a connection pending", wait)
	}
	waitClosed(t, c, wait)
}

// TestSpreadFloodKeepsKnownGatewaysIn: wrong passwords from 30 addresses at
// once. Each address costs at most MaxLoginFailures checks before its
// cooldown; gateways verified before the flood log in again throughout
// without waiting for a check slot; a gateway never verified gets in once
// the flooding addresses are on cooldown.
func TestSpreadFloodKeepsKnownGatewaysIn(t *testing.T) {
	addrs, per := 30, 30
	if testing.Short() || raceEnabled { // PBKDF2 is ten times slower there
		addrs, per = 10, 20
	}
	users := []string{"gw-a:a", "gw-b:b", "gw-c:c", "gw-new:n"}
	passwd := filepath.Join(t.TempDir(), "passwd")
	for _, up := range users {
		u, p, _ := strings.Cut(up, ":")
		if err := SetPassword(passwd, u, p, 20_000); err != nil {
			t.Fatal(err)
		}
	}
	b, addr := startBroker(t, Options{PasswdFile: passwd, Limits: Limits{MaxChecks: 1}})
	for _, g := range []string{"gw-a", "gw-b", "gw-c"} {
		if code, c, err := rawLogin(t, "127.0.0.1", addr, g, g, g[3:], 30); err != nil || code != codeAccepted {
			t.Fatalf("%s before the flood: code %d, %v", g, code, err)
		} else {
			c.Close()
		}
	}
	checks := b.guard.checked.Load()

	var fw sync.WaitGroup
	var accepted atomic.Int64
	for a := range addrs {
		src := fmt.Sprintf("127.0.1.%d", a+1)
		fw.Go(func() {
			for j := range per {
				code, c, err := rawLogin(t, src, addr, "gw-a", "gw-a", fmt.Sprintf("guess-%d", j), 30)
				if err == nil && code == codeAccepted {
					accepted.Add(1)
				}
				if c != nil {
					c.Close()
				}
			}
		})
	}
	// The known gateways, meanwhile: every login succeeds, none checked.
	var known sync.WaitGroup
	errs := make(chan error, 30)
	for _, g := range []string{"gw-a", "gw-b", "gw-c"} {
		known.Go(func() {
			for range 10 {
				code, c, err := rawLogin(t, "127.0.0.1", addr, g, g, g[3:], 30)
				if err != nil || code != codeAccepted {
					errs <- fmt.Errorf("%s during the flood: code %d, %v", g, code, err)
					return
				}
				c.Close()
			}
		})
	}
	known.Wait()
	fw.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d wrong passwords accepted", n)
	}
	n := b.guard.checked.Load() - checks
	t.Logf("%d addresses × %d wrong passwords: %d password checks", addrs, per, n)
	if limit := int64(addrs * DefaultMaxLoginFailures); n > limit {
		t.Errorf("%d password checks; at most %d expected", n, limit)
	}
	if code, _, err := rawLogin(t, "127.0.0.1", addr, "gw-new", "gw-new", "n", 30); err != nil || code != codeAccepted {
		t.Fatalf("a gateway never verified, after the flood: code %d, %v", code, err)
	}
}

// TestBurstFromOneAddress: 200 gateways connecting at the same moment from
// one address (a commune behind one carrier NAT address after an outage;
// the station's 200-gateway drain test on loopback) all get in at the
// first try: the per-address limit is for attackers, not for them.
func TestBurstFromOneAddress(t *testing.T) {
	const n = 200
	_, addr := startBroker(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			id := fmt.Sprintf("gw-%03d", i)
			c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
				SetAutoReconnect(false).SetConnectTimeout(2 * wait))
			tok := c.Connect()
			if !tok.WaitTimeout(3*wait) || tok.Error() != nil {
				errs <- fmt.Errorf("%s: %v", id, tok.Error())
				return
			}
			c.Disconnect(0)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
