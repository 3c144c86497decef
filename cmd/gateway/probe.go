package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/rtsp"
)

// cmdProbe is `gateway probe URL [-duration 5s] [-transport tcp|udp]
// [-tls-fingerprint SHA256]`: an installer's check of a camera before adding
// it to the config. The URL's password never reaches the output (the camera
// package redacts it). An rtsps camera whose certificate is not trusted
// fails with the certificate's fingerprint in the message, ready to be
// checked against the camera and pinned with -tls-fingerprint and the
// camera's tls_fingerprint key.
func cmdProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway probe URL [-duration 5s] [-transport tcp|udp] [-timeout 10s] [-tls-fingerprint SHA256]")
		fs.PrintDefaults()
	}
	d := fs.Duration("duration", 5*time.Second, "how long to receive before reporting")
	transport := fs.String("transport", "tcp", "RTP transport: tcp (inside RTSP) or udp")
	timeout := fs.Duration("timeout", rtsp.DefaultTimeout, "bound on each connection step")
	fingerprint := fs.String("tls-fingerprint", "", "rtsps only: accept just the camera certificate with this SHA-256 (hex, colons optional), as tls_fingerprint in the config")
	// Flags may come before or after the URL.
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitUsage
	}
	rawURL := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 || *d <= 0 {
		fs.Usage()
		return exitUsage
	}
	opts := camera.Options{Timeout: *timeout, TLSFingerprint: *fingerprint}
	switch *transport {
	case "tcp":
		opts.Transport = rtsp.TCP
	case "udp":
		opts.Transport = rtsp.UDP
	default:
		fmt.Fprintf(stderr, "gateway probe: -transport %q: want tcp or udp\n", *transport)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := camera.Probe(ctx, rawURL, *d, opts)
	if err != nil {
		fmt.Fprintf(stderr, "gateway probe: %v\n", err)
		var ce *rtsp.CertificateError
		if errors.As(err, &ce) && !ce.Pinned && ce.Fingerprint != "" {
			// The network between here and the camera could be lying too:
			// the installer compares before trusting.
			fmt.Fprintf(stderr, "gateway probe: if the camera (its web page or label) shows this fingerprint, retry with -tls-fingerprint %s and put it in the camera's tls_fingerprint\n", ce.Fingerprint)
		}
		return 1
	}
	fmt.Fprint(stdout, r)
	return 0
}
