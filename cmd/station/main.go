// Command station is the commune police station's console for ANTT
// gateways: an MQTT broker the gateways connect to (embedded by default),
// a durable store (DATA/events.db) that keeps every gateway's events and
// snapshots, drops duplicates and reports gaps, and a console that prints
// each event as the store records it.
//
// Usage:
//
//	station [run] [flags]              run the station (see -h)
//	station dump -data DIR [-snapshot GATEWAY/EPOCH/SEQ] [-wait D]
//	                                   print the store of a stopped station as
//	                                   JSON lines, or write one snapshot's JPEG
//	station passwd -file F [-iter N] USER
//	                                   add or replace USER in password file F;
//	                                   the password is read from stdin
//	station user add|passwd|role|remove|list -data DIR [-role R] [-sites S] [-gateways G] [NAME]
//	                                   the web console's accounts (DATA/users.json);
//	                                   passwords from stdin or a prompt
//	station token add|list|revoke -data DIR [-role R] [-sites S] [NAME|ID]
//	                                   API tokens for machine clients
//	station audit verify|list -data DIR [filters]
//	                                   check the audit log's hash chain, or list it
//	station verify-export [-data DIR] FILE
//	                                   check a case export's signature and hashes
//	station version
//
// The web console (-http, default 127.0.0.1:8088; TLS on any non-loopback
// address) shows the sites and the events from the store; see
// cmd/station/internal/web and docs/api.md.
//
// The store is the acknowledgement point: with the embedded broker a
// gateway's event or snapshot is committed to the store before the broker
// sends its PUBACK; with an external broker (-broker) the station's
// persistent QoS 1 session acknowledges each one after its commit.
// Snapshots are kept within -snapshot-max-bytes and -snapshot-max-age.
// The environment variable ANTT_STATION_COMMIT_DELAY (a duration) delays
// every commit: tests use it to make the store slow.
//
// "station dump" writes, in arrival order, one object a line:
// {"type":"event","gateway","epoch","seq","arrival","event":{...},
// "snapshot":{"bytes","sha256"}} (snapshot only when stored) and
// {"type":"notice","arrival","gateway","kind":"storage_replaced" or
// "epoch_started","old_epoch","old_last_seq","new_epoch","time"}, then a
// {"type":"gap",...} line for each gap, a {"type":"quarantine","n","time",
// "gateway","topic","error","bytes","sha256","payload" or "payload_b64",
// "truncated"} line for each payload refused as invalid (the newest 1,000,
// their first 16 KiB), and one {"type":"counters",...}.
// It opens the store read-only and fails, after -wait, while the station
// holds it.
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
// With -passwd, an admin enrols gateways from the console (page /gateways,
// POST /api/gateways): the station writes the gateway's password hash and
// access line into those files, applies them at once and hands out one
// download with a ready gateway.yaml (-enrol-broker, -enrol-ca,
// -enrol-server-name say what goes in it); removing the gateway revokes it
// and cuts its session at once. See cmd/station/internal/enrol.
//
// On stderr the station prints "station: store open DIR" once the store
// is open, then (embedded broker) "station: broker listening on ADDR" once
// the broker, which stores before it acknowledges, accepts connections,
// "station: subscribed" each time its subscriptions are in place,
// "station: TURN listening on udp ADDR, tls ADDR, relays on IP:PORTS" once
// live view's TURN server runs (see live.go and docs/live.md),
// "station: users reloaded" after a SIGHUP, and at shutdown one line
// "station: broker stats ..." of the broker's counters (messages dropped,
// inflight_dropped, stored, ...).
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
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/cmd/station/internal/console"
	"github.com/antt-gateway/antt/cmd/station/internal/enrol"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/cmd/station/internal/web"
	"github.com/antt-gateway/antt/uplink/wire"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	tuneGC()
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
	case "dump":
		err = runDump(args, stdout, stderr)
	case "user", "token":
		err = accounts.CLI{Stdin: stdin, Stdout: stdout, Stderr: stderr, ReadPassword: readPassword}.Command(cmd, args)
	case "audit":
		err = audit.Command(args, stdout, stderr)
	case "verify-export":
		err = runVerifyExport(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "station", versionString(), "protocol", wire.ProtocolVersion)
	default:
		err = fmt.Errorf("unknown command %q (want run, dump, passwd, user, token, audit, verify-export or version)", cmd)
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

// tuneGC trades memory for CPU: the station decodes every event it
// stores, and with Go's default GOGC=100 garbage collection took about a
// tenth of its CPU while 200 gateways drained (docs/performance.md). At 400
// the heap may grow to five times the live data, which is small (tens of
// MiB); a soft memory limit of 1 GiB makes the collector work harder again
// before the station gets near what a station PC has. GOGC and GOMEMLIMIT
// in the environment still win.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(1 << 30)
	}
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
		dataDir   = fs.String("data", "./station-data", "data directory (the store, events.db)")
		logFormat = fs.String("log-format", "text", "log format: text or json")
		snapAge   = fs.Duration("snapshot-max-age", store.DefaultSnapshotMaxAge, "delete snapshots older than this")
		snapBytes = byteSize(store.DefaultSnapshotMaxBytes)

		maxClients     = fs.Int("max-clients", broker.DefaultMaxClients, "embedded broker: clients logged in over the network at once (the station's own client not counted)")
		connectTimeout = fs.Duration("connect-timeout", broker.DefaultConnectTimeout, "embedded broker: time from accepting a connection to its CONNACK (TLS and password check included)")
		maxPacket      = fs.Int("max-packet-size", broker.DefaultMaxPacketSize, "embedded broker: largest MQTT packet a client may send, in bytes (a snapshot must fit)")
		maxInflight    = fs.Int("max-inflight-bytes", broker.DefaultMaxInflightBytes, "embedded broker: bytes of packets all clients' read loops may hold at once, waiting for the store included; beyond it readers wait (-1: no bound)")
		maxFailures    = fs.Int("max-login-failures", broker.DefaultMaxLoginFailures, "embedded broker: failed logins from one address before it is put on cooldown")
		loginCooldown  = fs.Duration("login-cooldown", broker.DefaultLoginCooldown, "embedded broker: cooldown of an address after failed logins (only recently verified logins pass)")
		maxChecks      = fs.Int("max-password-checks", 0, "embedded broker: password checks running at once (0: half the CPUs)")
	)
	fs.Var(&snapBytes, "snapshot-max-bytes", "keep at most this many bytes of snapshots, oldest deleted first (e.g. 16GiB)")
	webCfg := web.RegisterFlags(fs)
	liveCfg := registerLiveFlags(fs)
	enrolCfg := enrol.RegisterFlags(fs)
	clipCfg := registerClipFlags(fs)
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
	sopts := store.Options{SnapshotMaxBytes: int64(snapBytes), SnapshotMaxAge: *snapAge,
		Logger: logger.With("component", "store")}
	// Tests make the store slow with this; it is read once, here.
	if v := os.Getenv(commitDelayEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%s=%q: want a duration like 20ms", commitDelayEnv, v)
		}
		sopts.CommitDelay = d
		logger.Warn("store commits delayed (test setting)", "env", commitDelayEnv, "delay", d)
	}
	st, err := store.Open(filepath.Join(*dataDir, storeFile), sopts)
	if err != nil {
		return err
	}
	defer st.Close()
	from, err := st.LastArrival()
	if err != nil {
		return err
	}
	cs, err := clipCfg.open(*dataDir, logger)
	if err != nil {
		return err
	}
	defer cs.Close()
	clipIngest := clips.Ingest{Next: st, Clips: cs}
	fmt.Fprintln(stderr, "station: store open", *dataDir)

	ccfg := console.Config{
		Prefix:   *prefix,
		ClientID: *clientID,
		Store:    clipConsoleStore{st, clipIngest},
		From:     from,
		Out:      stdout,
		Logger:   logger.With("component", "console"),
		Ready:    func() { fmt.Fprintln(stderr, "station: subscribed") },
	}

	var emb *broker.Broker
	if *extBroker != "" {
		ccfg.Broker, ccfg.Username, ccfg.Ingest = *extBroker, *username, true
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
			Limits: broker.Limits{
				ConnectTimeout: *connectTimeout, MaxPacketSize: *maxPacket, MaxClients: *maxClients, MaxInflightBytes: *maxInflight,
				MaxLoginFailures: *maxFailures, LoginCooldown: *loginCooldown, MaxChecks: *maxChecks,
			},
			Ingest: broker.ClipStoreIngester(clipIngest),
			Logger: logger.With("component", "broker"),
		})
		if err != nil {
			return err
		}
		// Its own context: a start-up error below (the web console's options)
		// returns with ctx still live, and the broker must stop then too,
		// or waiting for it would hang the station instead of exiting.
		bctx, stopBroker := context.WithCancel(ctx)
		addr, err := emb.Start(bctx)
		if err != nil {
			stopBroker()
			return err
		}
		defer func() {
			stopBroker()
			emb.Wait()
			fmt.Fprintln(stderr, "station: broker stats", brokerStats(emb), storeStats(st))
		}()
		if emb.Open() {
			fmt.Fprintln(stderr, "station: WARNING: the broker is open: no password file, anyone who can reach", addr, "may publish and subscribe")
		}
		fmt.Fprintln(stderr, "station: broker listening on", addr)
		ccfg.Dial = emb.Dial
		if !emb.Open() {
			stop := reloadOnHangup(ctx, emb, stderr)
			defer stop()
			// Enrolment from the page; without it the station runs on.
			if webCfg.Enrol, err = enrolCfg.Open(emb, addr, *tlsCert, *passwd, *access, filepath.Join(*dataDir, web.DirectoryFile), *prefix); err != nil {
				fmt.Fprintln(stderr, "station: enrolment from the page is off:", err)
			} else {
				fmt.Fprintln(stderr, "station: enrolment gives gateways broker", webCfg.Enrol.BrokerURL())
			}
		}
	}

	con, err := console.New(ccfg)
	if err != nil {
		return err
	}
	// Commands from the page go out on the station's MQTT client; live
	// view adds the TURN server and the gateways' candidates (live.go).
	lv, stopLive, err := startLive(ctx, liveCfg, liveEnv{console: ccfg, con: con, brokerListen: *listen, external: *extBroker != "",
		web: webCfg, brokerCert: *tlsCert, brokerKey: *tlsKey, dataDir: *dataDir}, logger, stderr)
	if err != nil {
		return err
	}
	defer stopLive()
	webCfg.Commands = lv
	if webCfg.Clips, err = webClips(*dataDir, cs); err != nil {
		return err
	}
	stopWeb, err := web.Start(ctx, webCfg, *dataDir, st, logger, stderr)
	if err != nil {
		return err
	}
	defer stopWeb()

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
