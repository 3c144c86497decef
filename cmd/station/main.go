// Command station is the commune police station's console for ANTT
// gateways: an MQTT broker the gateways connect to (embedded by default),
// and a subscriber that keeps every gateway's events in a durable log,
// drops duplicates, reports gaps and prints each event as it arrives.
//
// Usage:
//
//	station [run] [flags]              run the console (see -h)
//	station passwd -file F [-iter N] USER
//	                                   add or replace USER in password file F;
//	                                   the password is read from stdin
//	station version
//
// Files of the embedded broker:
//
//   - -passwd: one "username:pbkdf2-sha256$<iter>$<salt b64>$<hash b64>" a
//     line, written by "station passwd"; without it the broker is open
//     (anyone may connect), allowed only on loopback or with -insecure.
//   - -access: one "gateway <username> [<gateway id>]" or
//     "station <username>" a line ('#' comments); users not listed cannot
//     connect. Without it, user "station" is the station and every other
//     user is the gateway whose id is its user name.
//
// A gateway may publish only below {prefix}/{its id}/ except cmd/, and
// subscribe only to {prefix}/{its id}/cmd/#; the station may publish
// {prefix}/{id}/cmd/... and subscribe to anything below {prefix}/.
//
// SIGHUP makes the embedded broker read -passwd and -access again: users
// can be added, removed or changed without disconnecting every gateway
// (clients of a removed user or a changed password are disconnected). A
// file with an error changes nothing.
//
// Once the embedded broker accepts connections the station prints
// "station: broker listening on ADDR" on stderr, "station: subscribed"
// each time its subscriptions are in place, and "station: users reloaded"
// after a SIGHUP.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/console"
	"github.com/antt-gateway/antt/cmd/station/internal/eventlog"
	"github.com/antt-gateway/antt/uplink/wire"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = runStation(ctx, args, stdout, stderr)
	case "passwd":
		err = runPasswd(args, stdin, stderr)
	case "version":
		fmt.Fprintln(stdout, "station", versionString(), "protocol", wire.ProtocolVersion)
	default:
		err = fmt.Errorf("unknown command %q (want run, passwd or version)", cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "station:", err)
		return 1
	}
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func runStation(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("station run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen    = fs.String("listen", broker.DefaultListen, "embedded broker: listen address")
		tlsCert   = fs.String("tls-cert", "", "embedded broker: TLS certificate (PEM)")
		tlsKey    = fs.String("tls-key", "", "embedded broker: TLS key (PEM)")
		clientCA  = fs.String("client-ca", "", "embedded broker: CA of client certificates; turns on mutual TLS")
		requireCN = fs.Bool("require-cn", false, "embedded broker: with -client-ca, the certificate name must equal the user name")
		passwd    = fs.String("passwd", "", "embedded broker: password file (see 'station passwd'); none = open broker")
		access    = fs.String("access", "", "embedded broker: access file (lines 'gateway USER [ID]', 'station USER')")
		insecure  = fs.Bool("insecure", false, "embedded broker: allow an open broker on a non-loopback address")
		extBroker = fs.String("broker", "", "use this external broker (mqtt://host:port, mqtts://host:port) instead of the embedded one")
		username  = fs.String("username", "station", "external broker: user name")
		pwFile    = fs.String("password-file", "", "external broker: file holding the password")
		ca        = fs.String("ca", "", "external broker: CA certificate to verify it (PEM)")
		cert      = fs.String("cert", "", "external broker: client certificate (PEM)")
		key       = fs.String("key", "", "external broker: client key (PEM)")
		clientID  = fs.String("client-id", console.DefaultClientID, "the station's MQTT client id (its persistent session)")
		prefix    = fs.String("prefix", wire.DefaultPrefix, "topic prefix")
		dataDir   = fs.String("data", "./station-data", "data directory (event log)")
		logFormat = fs.String("log-format", "text", "log format: text or json")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, nil)
	case "json":
		h = slog.NewJSONHandler(stderr, nil)
	default:
		return fmt.Errorf("-log-format %q: want text or json", *logFormat)
	}
	logger := slog.New(h)

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	evlog, err := eventlog.Open(filepath.Join(*dataDir, "events.db"))
	if err != nil {
		return err
	}
	defer evlog.Close()

	ccfg := console.Config{
		Prefix:   *prefix,
		ClientID: *clientID,
		Log:      evlog,
		Out:      stdout,
		Logger:   logger.With("component", "console"),
		Ready:    func() { fmt.Fprintln(stderr, "station: subscribed") },
	}

	var emb *broker.Broker
	if *extBroker != "" {
		ccfg.Broker, ccfg.Username = *extBroker, *username
		if *pwFile != "" {
			pw, err := os.ReadFile(*pwFile)
			if err != nil {
				return fmt.Errorf("read password file: %w", err)
			}
			ccfg.Password = strings.TrimRight(string(pw), "\r\n")
		}
		if *ca != "" || *cert != "" || strings.HasPrefix(*extBroker, "mqtts://") || strings.HasPrefix(*extBroker, "ssl://") {
			if ccfg.TLS, err = console.ClientTLS(*ca, *cert, *key); err != nil {
				return err
			}
		}
	} else {
		emb, err = broker.New(broker.Options{
			Listen: *listen, Prefix: *prefix,
			CertFile: *tlsCert, KeyFile: *tlsKey, ClientCAFile: *clientCA, RequireCNMatch: *requireCN,
			PasswdFile: *passwd, AccessFile: *access, Insecure: *insecure,
			Logger: logger.With("component", "broker"),
		})
		if err != nil {
			return err
		}
		addr, err := emb.Start(ctx)
		if err != nil {
			return err
		}
		defer emb.Wait()
		if emb.Open() {
			fmt.Fprintln(stderr, "station: WARNING: the broker is open: no password file, anyone who can reach", addr, "may publish and subscribe")
		}
		fmt.Fprintln(stderr, "station: broker listening on", addr)
		ccfg.Dial = emb.Dial
		if !emb.Open() {
			stop := reloadOnHangup(ctx, emb, stderr)
			defer stop()
		}
	}

	con, err := console.New(ccfg)
	if err != nil {
		return err
	}
	logger.Info("station running", "version", versionString(), "data", *dataDir, "prefix", *prefix)
	return con.Run(ctx)
}

// reloadOnHangup reloads the broker's password and access files on SIGHUP
// (`kill -HUP`, `systemctl reload`) until ctx ends; stop waits for it.
func reloadOnHangup(ctx context.Context, emb *broker.Broker, stderr io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := emb.Reload(); err != nil {
					fmt.Fprintln(stderr, "station:", err)
				} else {
					fmt.Fprintln(stderr, "station: users reloaded")
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
		signal.Stop(hup)
	}
}

func runPasswd(args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("station passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "password file to update (created if missing)")
	iter := fs.Int("iter", broker.DefaultIterations, "PBKDF2 iterations")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: station passwd -file F [-iter N] USER  (password from stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("passwd needs -file and one user name")
	}
	user := fs.Arg(0)
	pw, err := readPassword(stdin, stderr, user)
	if err != nil {
		return err
	}
	if err := broker.SetPassword(*file, user, pw, *iter); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "station: password for %s set in %s\n", user, *file)
	return nil
}

// readPassword reads one line from stdin; on a terminal it prompts twice
// with echo turned off (through stty, so no terminal library is needed).
func readPassword(stdin io.Reader, stderr io.Writer, user string) (string, error) {
	f, isFile := stdin.(*os.File)
	tty := false
	if isFile {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	r := bufio.NewReader(stdin)
	line := func() (string, error) {
		s, err := r.ReadString('\n')
		if err != nil && (err != io.EOF || s == "") {
			return "", fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(s, "\r\n"), nil
	}
	if !tty {
		return line()
	}
	echo := func(on bool) {
		arg := "-echo"
		if on {
			arg = "echo"
		}
		c := exec.Command("stty", arg)
		c.Stdin = f
		_ = c.Run() // best effort: without stty the password is echoed
	}
	echo(false)
	defer echo(true)
	fmt.Fprintf(stderr, "Password for %s: ", user)
	a, err := line()
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := line()
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if a != b {
		return "", errors.New("the passwords differ")
	}
	return a, nil
}
