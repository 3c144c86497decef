// Package mqtttest starts a real Mosquitto broker and a cuttable TCP proxy
// for tests. Everything listens on 127.0.0.1 only and is stopped by
// t.Cleanup.
package mqtttest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MosquittoPath is where Debian installs the broker.
const MosquittoPath = "/usr/sbin/mosquitto"

// TLSFiles turns the listener into TLS (mqtts).
type TLSFiles struct {
	CA, Cert, Key string // PEM files: the CA clients are checked against, the server pair
	// RequireClientCert makes the broker reject clients without a
	// certificate signed by CA.
	RequireClientCert bool
	// IdentityAsUsername uses the client certificate's CN as the username (for ACLs).
	IdentityAsUsername bool
}

// Options configure the broker. The zero value is an anonymous plain-TCP
// broker without persistence.
type Options struct {
	Users        map[string]string // written to a password file with mosquitto_passwd
	PasswordFile string            // an existing password file (instead of Users)
	ACL          string            // contents of an acl_file
	TLS          *TLSFiles
	// Persistence keeps sessions and queued messages across Restart (saved
	// when the broker stops).
	Persistence bool
	Extra       []string // more mosquitto.conf lines
}

// Broker is a running (or stopped) Mosquitto on a fixed loopback port.
type Broker struct {
	t    testing.TB
	dir  string
	conf string
	port int
	tls  bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// Start writes a config for opts, starts Mosquitto on a free loopback port
// and waits until it accepts connections.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	dir := t.TempDir()
	b := &Broker{t: t, dir: dir, port: freePort(t), tls: opts.TLS != nil}
	var c strings.Builder
	fmt.Fprintf(&c, "listener %d 127.0.0.1\n", b.port)
	if os.Geteuid() == 0 {
		c.WriteString("user root\n") // otherwise mosquitto drops to a user that cannot read TempDir
	}
	c.WriteString("max_queued_messages 0\n") // tests publish bursts; never drop for slow subscribers
	c.WriteString("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	pw := opts.PasswordFile
	if len(opts.Users) > 0 {
		pw = filepath.Join(dir, "passwd")
		first := true
		for u, p := range opts.Users {
			args := []string{"-b", pw, u, p}
			if first {
				args = append([]string{"-c"}, args...)
				first = false
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_passwd %s: %v: %s", u, err, out)
			}
		}
	}
	if pw != "" {
		fmt.Fprintf(&c, "password_file %s\nallow_anonymous false\n", pw)
	} else {
		c.WriteString("allow_anonymous true\n")
	}
	if opts.ACL != "" {
		acl := filepath.Join(dir, "acl")
		if err := os.WriteFile(acl, []byte(opts.ACL), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&c, "acl_file %s\n", acl)
	}
	if opts.TLS != nil {
		fmt.Fprintf(&c, "cafile %s\ncertfile %s\nkeyfile %s\n", opts.TLS.CA, opts.TLS.Cert, opts.TLS.Key)
		fmt.Fprintf(&c, "require_certificate %t\nuse_identity_as_username %t\n", opts.TLS.RequireClientCert, opts.TLS.IdentityAsUsername)
	}
	if opts.Persistence {
		fmt.Fprintf(&c, "persistence true\npersistence_location %s/\nautosave_interval 0\n", dir)
	} else {
		c.WriteString("persistence false\n")
	}
	for _, l := range opts.Extra {
		c.WriteString(l + "\n")
	}
	b.conf = filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", b.Log())
		}
	})
	b.start()
	return b
}

// Pid is the running broker's process id (0 when stopped): benchmarks read
// its CPU time from /proc.
func (b *Broker) Pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Addr is host:port of the listener.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// URL is mqtt://Addr or mqtts://Addr.
func (b *Broker) URL() string {
	if b.tls {
		return "mqtts://" + b.Addr()
	}
	return "mqtt://" + b.Addr()
}

// Log returns what the broker has logged so far (all runs).
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.log == nil {
		return ""
	}
	return b.log.String()
}

func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	if b.log == nil {
		b.log = &bytes.Buffer{}
	}
	cmd := exec.Command(MosquittoPath, "-c", b.conf)
	w := &lockedWriter{mu: &b.mu, b: b.log}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		b.t.Fatalf("start mosquitto: %v", err)
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()

	// Wait for the listener: poll the condition with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			b.t.Fatalf("mosquitto exited at start:\n%s", b.Log())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto not listening on %s after 10s:\n%s", b.Addr(), b.Log())
		}
	}
}

// Stop terminates the broker (SIGTERM, so a persistent broker saves its
// state) and waits for it. Stopping a stopped broker does nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// Restart stops the broker and starts it again on the same port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
