// Command gateway is the firmware of an ANTT site board: it reads the alarm
// sensors, keeps every event in a durable outbox and forwards it to the
// commune police station over MQTT.
//
//	gateway run -config /boot/gateway.yaml
//	gateway check-config /boot/gateway.yaml
//	gateway outbox stats|dump -data /data/gateway
//	gateway probe rtsp://user:pass@192.168.1.64/stream [-duration 5s]
//	gateway version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/config"
)

// exitUsage is the exit code of a bad command line or a bad configuration.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  gateway run -config FILE [-log-format text|json] [-log-level info]
  gateway check-config FILE
  gateway outbox stats|dump [-data DIR | -config FILE] [-api ADDR]
  gateway probe URL [-duration 5s] [-transport tcp|udp] [-tls-fingerprint SHA256]
  gateway version
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "outbox":
		return cmdOutbox(args[1:], stdout, stderr)
	case "probe":
		return cmdProbe(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "gateway %s\n", device.Version)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "gateway: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
}

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/boot/gateway.yaml", "configuration file")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "gateway run: %v\n", err)
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "gateway run: %v\n", err)
		return exitUsage
	}

	for _, w := range cfg.Warnings {
		log.Warn("config", "file", *cfgPath, "warning", w.String())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	gw, err := device.Open(cfg, device.Options{Logger: log})
	if err != nil {
		log.Error("gateway cannot start", "err", err)
		return 1
	}
	if err := gw.Run(ctx); err != nil {
		log.Error("gateway stopped with an error", "err", err)
		return 1
	}
	return 0
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: gateway check-config FILE")
		return exitUsage
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", args[0], w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, errors.New("-log-format " + format + ": want text or json")
}
