package main

// Access control end to end on Mosquitto: the ACL and the configuration
// documented in docs/mosquitto, loaded verbatim, with mutual TLS and
// certificates generated here, and the real gateway process connecting
// through them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

const (
	accGwA = "cong-khu-3"          // the gateway under test
	accGwB = "truong-thcs-chi-dam" // the other gateway, whose topics A must not touch
)

// accDocs reads a file of docs/mosquitto, the documentation under test.
func accDocs(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "mosquitto", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAccessMosquittoDocumentedACL loads docs/mosquitto/acl verbatim into a
// real Mosquitto with passwords and required client certificates. It checks
// that a wrong password is refused in the CONNACK and a client without a
// certificate cannot connect; that the real gateway process (mqtts://, CA,
// certificate, key, username, password_file) delivers its events to a
// station-role subscriber; that a client logged in as gateway A cannot
// publish under B's topics nor to any cmd/ topic (sentinels published after
// each forbidden message prove the station never got it); that A cannot
// read B's commands; and that the station's ping reaches A's gateway and is
// answered on reply/{id}.
func TestAccessMosquittoDocumentedACL(t *testing.T) {
	dir := t.TempDir()
	pki := mqtttest.NewPKI(t)
	pw := map[string]string{"station": "station-pw", accGwA: "pw-a", accGwB: "pw-b"}
	broker := mqtttest.Start(t, mqtttest.Options{
		Users: pw,
		ACL:   string(accDocs(t, "acl")),
		TLS:   &mqtttest.TLSFiles{CA: pki.CA, Cert: pki.ServerCert, Key: pki.ServerKey, RequireClientCert: true},
	})
	addr := broker.Addr()

	if c, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, accGwA), accGwA, "wrong", "a-wrong-pw"); err == nil {
		c.Disconnect(0)
		t.Error("a wrong password was accepted")
	} else if !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) && !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Errorf("wrong password: want a CONNACK refusal, got %v", err)
	}
	if c, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, ""), accGwA, pw[accGwA], "a-no-cert"); err == nil {
		c.Disconnect(0)
		t.Error("a client without a certificate was accepted")
	} else {
		t.Logf("without a client certificate: %v", err)
	}

	inbox := &mqtttest.Inbox{}
	stc, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, "station"), "station", pw["station"], "e2e-station-view")
	if err != nil {
		t.Fatalf("station-role client: %v", err)
	}
	defer stc.Disconnect(0)
	mqtttest.WaitToken(t, stc.Subscribe("antt/#", 1, inbox.Handle), "station subscribes antt/#")

	// Gateway A, the real process, with its own certificate and password file.
	pwFile := filepath.Join(dir, "a-password")
	if err := os.WriteFile(pwFile, []byte(pw[accGwA]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	certA, keyA := pki.Files(t, accGwA)
	api := devtest.FreeAddr(t)
	cfg := filepath.Join(dir, "gateway.yaml")
	y := fmt.Sprintf(`gateway: {id: %s, data_dir: %s}
uplink:
  broker: mqtts://%s
  username: %s
  password_file: %s
  tls: {ca: %s, cert: %s, key: %s}
  keepalive: 5s
  telemetry_interval: 1h
api: {listen: "%s"}
alarm: {modes: [{name: night, exit_delay: 0s}]}
sensors:
  - {name: pir, kind: motion, driver: sim, every: 1h, modes: [night]}
outputs:
  - {name: siren, driver: sim}
`, accGwA, filepath.Join(dir, "data"), addr, accGwA, pwFile, pki.CA, certA, keyA, api)
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, cfg, api)
	seq := walktest(&http.Client{Timeout: 10 * time.Second}, api, "pir")
	if seq == 0 {
		t.Fatalf("walk test failed:\n%s", gw.output())
	}
	inbox.WaitFor(t, "gateway A's walk test at the station", func(tp string, p []byte) bool {
		var e wire.Event
		return tp == "antt/"+accGwA+"/event" && json.Unmarshal(p, &e) == nil && e.Seq == seq
	})
	devtest.WaitFor(t, 10*time.Second, "gateway A connected", func() bool { return gw.status(t).Uplink.Connected })
	checkAlarmCommandAccess(t, inbox, stc, func(id string) (paho.Client, error) {
		return mqtttest.DialTLS(addr, pki.ClientTLS(t, accGwB), accGwB, pw[accGwB], id)
	}, gw, accGwA, accGwB)

	mqtttest.CheckIsolation(t, mqtttest.IsolationEnv{
		A: accGwA, B: accGwB, Inbox: inbox, Station: stc,
		DialA: func(id string) (paho.Client, error) {
			return mqtttest.DialTLS(addr, pki.ClientTLS(t, accGwA), accGwA, pw[accGwA], id)
		},
	})
	gw.stop(t)
}

// TestMosquittoConfDocumented runs the real Mosquitto on
// docs/mosquitto/mosquitto.conf, with only its file paths and its listener
// port rewritten to files and a loopback port of the test (plus "user
// root" when the test runs as root, so Mosquitto can read them). Every
// directive must be accepted, the listener must come up, and it must
// demand a client certificate and a password.
func TestMosquittoConfDocumented(t *testing.T) {
	dir := t.TempDir()
	pki := mqtttest.NewPKI(t)
	passwd := filepath.Join(dir, "antt.passwd")
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", passwd, "station", "station-pw").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	for _, u := range []string{accGwA, accGwB} {
		if out, err := exec.Command("mosquitto_passwd", "-b", passwd, u, "pw-"+u).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
	}
	aclFile := filepath.Join(dir, "antt.acl")
	if err := os.WriteFile(aclFile, accDocs(t, "acl"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := devtest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	paths := map[string]string{
		"password_file": passwd, "acl_file": aclFile,
		"cafile": pki.CA, "certfile": pki.ServerCert, "keyfile": pki.ServerKey,
	}
	var conf strings.Builder
	if os.Geteuid() == 0 {
		conf.WriteString("user root\n")
	}
	rewritten := map[string]bool{}
	for line := range strings.Lines(string(accDocs(t, "mosquitto.conf"))) {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "listener":
			line = "listener " + port + " 127.0.0.1\n"
			rewritten[f[0]] = true
		case paths[f[0]] != "":
			line = f[0] + " " + paths[f[0]] + "\n"
			rewritten[f[0]] = true
		case strings.HasPrefix(strings.Join(f[1:], " "), "/"):
			t.Errorf("directive %q names a path this test does not rewrite", strings.TrimSpace(line))
		}
		conf.WriteString(line)
	}
	for k := range paths {
		if !rewritten[k] {
			t.Errorf("the documented configuration has no %s", k)
		}
	}
	if !rewritten["listener"] {
		t.Fatal("the documented configuration has no listener")
	}
	confPath := filepath.Join(dir, "antt.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	var out devtest.Buffer
	cmd := exec.Command(mqtttest.MosquittoPath, "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("configuration:\n%s\nmosquitto output:\n%s", conf.String(), out.String())
		}
	}()
	devtest.WaitFor(t, 10*time.Second, "mosquitto listening on "+addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("mosquitto refused the documented configuration:\n%s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	c, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, "station"), "station", "station-pw", "conf-station")
	if err != nil {
		t.Fatalf("station with certificate and password: %v", err)
	}
	c.Disconnect(0)
	if c, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, ""), "station", "station-pw", "conf-no-cert"); err == nil {
		c.Disconnect(0)
		t.Error("the documented configuration accepts a client without a certificate")
	}
	if c, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, "station"), "station", "wrong", "conf-wrong-pw"); err == nil {
		c.Disconnect(0)
		t.Error("the documented configuration accepts a wrong password")
	}

	// Gateway B claiming A's client id does not take A's connection over
	// (use_username_as_clientid): A still gets its PUBACK.
	a, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, accGwA), accGwA, "pw-"+accGwA, accGwA)
	if err != nil {
		t.Fatalf("gateway A: %v", err)
	}
	defer a.Disconnect(0)
	b, err := mqtttest.DialTLS(addr, pki.ClientTLS(t, accGwB), accGwB, "pw-"+accGwB, accGwA)
	if err != nil {
		t.Fatalf("gateway B with A's client id: %v", err)
	}
	defer b.Disconnect(0)
	mqtttest.WaitToken(t, a.Publish("antt/"+accGwA+"/telemetry", 1, false, "{}"), "A publishes after B claimed its client id")
	select {
	case <-exited:
		t.Fatalf("mosquitto exited:\n%s", out.String())
	default:
	}
}

// TestAccessMosquittoStationRole loads docs/mosquitto/acl into a real
// Mosquitto and checks the station's own rights: it reads every gateway's
// topics and commands any gateway, but cannot publish anything else: not
// a gateway's event or status, and not under antt/station/ either (which
// the gateway patterns alone would allow it, its user name read as a
// gateway id). Each forbidden publish is followed by a command the station
// itself receives (it reads antt/#), so its absence is proven.
//
// Checked with the deny line removed from the file: the station's forged
// antt/station/event then reaches the subscriber and this test fails.
func TestAccessMosquittoStationRole(t *testing.T) {
	pw := map[string]string{"station": "station-pw", accGwA: "pw-a"}
	broker := mqtttest.Start(t, mqtttest.Options{Users: pw, ACL: string(accDocs(t, "acl"))})
	dial := func(user, id string) paho.Client {
		t.Helper()
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID(id).
			SetUsername(user).SetPassword(pw[user]).SetAutoReconnect(false).SetOrderMatters(true))
		mqtttest.WaitToken(t, c.Connect(), "connect as "+user)
		t.Cleanup(func() { c.Disconnect(0) })
		return c
	}
	st := dial("station", "station-role-test")
	seen := &mqtttest.Inbox{}
	mqtttest.WaitToken(t, st.Subscribe("antt/#", 1, seen.Handle), "station subscribes antt/#")
	gw := dial(accGwA, accGwA)
	cmds := &mqtttest.Inbox{}
	mqtttest.WaitToken(t, gw.Subscribe("antt/"+accGwA+"/cmd/#", 1, cmds.Handle), "gateway subscribes to its commands")

	// The station reads a gateway's event.
	mqtttest.WaitToken(t, gw.Publish("antt/"+accGwA+"/event", 1, false, `{"seq":1}`), "gateway event")
	seen.WaitFor(t, "the gateway's event at the station", func(tp string, _ []byte) bool { return tp == "antt/"+accGwA+"/event" })

	for i, topic := range []string{
		"antt/" + accGwA + "/event", "antt/" + accGwA + "/status", "antt/" + accGwA + "/telemetry",
		"antt/" + accGwB + "/event", "antt/x/event", "antt/station/event", "antt/station/status",
	} {
		// From a connection of its own: Mosquitto may close it.
		marker := fmt.Sprintf("forged-by-station-%d", i)
		forger := dial("station", fmt.Sprintf("station-forger-%d", i))
		if tok := forger.Publish(topic, 1, i%2 == 1, marker); !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("publish to %s: neither acknowledged nor refused within 10 s", topic)
		}
		forger.Disconnect(0)
		mark := fmt.Sprintf("station-sentinel-%d", i)
		mqtttest.WaitToken(t, st.Publish("antt/"+accGwA+"/cmd/ping", 1, false, `{"id":"`+mark+`"}`), "command")
		seen.WaitFor(t, "sentinel "+mark, func(_ string, p []byte) bool { return strings.Contains(string(p), mark) })
		cmds.WaitFor(t, "command "+mark+" at the gateway", func(_ string, p []byte) bool { return strings.Contains(string(p), mark) })
		if m, ok := seen.Find(func(_ string, p []byte) bool { return string(p) == marker }); ok {
			t.Errorf("the station published on %s: received %s %s", topic, m.Topic, m.Payload)
		}
	}
	// Retained forgeries would greet the next subscriber: none is kept.
	later := &mqtttest.Inbox{}
	st2 := dial("station", "station-role-test-2")
	mqtttest.WaitToken(t, st2.Subscribe("antt/#", 1, later.Handle), "second station subscribes")
	mqtttest.WaitToken(t, st.Publish("antt/"+accGwA+"/cmd/ping", 1, false, `{"id":"last"}`), "last command")
	later.WaitFor(t, "the last command", func(_ string, p []byte) bool { return strings.Contains(string(p), `"last"`) })
	if m, ok := later.Find(func(_ string, p []byte) bool { return strings.HasPrefix(string(p), "forged-by-station") }); ok {
		t.Errorf("a retained forgery: %s %s", m.Topic, m.Payload)
	}
}
