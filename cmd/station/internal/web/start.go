package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/enrol"
)

// Files the console keeps in the station's data directory when it makes
// its own certificate.
const (
	CertFile = "console-cert.pem"
	KeyFile  = "console-key.pem"
)

// Config is the console's part of the station's flags.
type Config struct {
	Listen   string
	CertFile string
	KeyFile  string
	// OfflineGrace is -offline-grace: how long a gateway is offline before
	// that is an alarm.
	OfflineGrace time.Duration
	// Commands, set by the station, publishes commands to gateways.
	Commands Commander
	// Clips, set by the station, is its clip store and export key.
	Clips *Clips
	// Enrol, set by the station when its embedded broker has a password
	// file, adds and removes gateways from the page (enrol.go).
	Enrol *enrol.Enroller
}

// RegisterFlags adds -http, -http-cert and -http-key to fs.
func RegisterFlags(fs *flag.FlagSet) *Config {
	c := &Config{}
	fs.StringVar(&c.Listen, "http", DefaultListen, `console: listen address of the web page and API ("off": none); on a non-loopback address TLS is on`)
	fs.StringVar(&c.CertFile, "http-cert", "", "console: TLS certificate (PEM); without it a non-loopback console makes one in the data directory")
	fs.StringVar(&c.KeyFile, "http-key", "", "console: TLS key (PEM), with -http-cert")
	fs.DurationVar(&c.OfflineGrace, "offline-grace", DefaultOfflineGrace, "console: a gateway offline this long is an alarm to review (shorter blips are recorded, not alarmed)")
	return c
}

// Start runs the console for the station until ctx ends: accounts and
// audit log from dataDir, data from st. It prints the console's URL (and,
// with TLS, the certificate's SHA-256 fingerprint) on stderr. stop shuts
// it down and waits.
//
// A bad flag is an error. A console that cannot start (its port taken, a
// damaged accounts file, an unreadable certificate) is not: Start prints
// why on stderr and the station runs on without it, because storing the
// gateways' events matters more than the page (docs/decisions.md).
func Start(ctx context.Context, c *Config, dataDir string, st StoreReader, logger *slog.Logger, stderr io.Writer) (stop func(), err error) {
	if c.Listen == "off" || c.Listen == "" {
		return func() {}, nil
	}
	if _, err := IsLoopback(c.Listen); err != nil {
		return nil, err
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("-http-cert and -http-key go together")
	}
	stop, err = start(ctx, c, dataDir, st, logger, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "station: console not started:", err)
		logger.Error("console not started", "err", err)
		return func() {}, nil
	}
	return stop, nil
}

func start(ctx context.Context, c *Config, dataDir string, st StoreReader, logger *slog.Logger, stderr io.Writer) (stop func(), err error) {
	loop, _ := IsLoopback(c.Listen)
	var tlsCfg *tls.Config
	if !loop || c.CertFile != "" {
		cert, fp, made, err := loadOrMakeCert(c, dataDir, c.Listen)
		if err != nil {
			return nil, err
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		how := "given"
		if made {
			how = "made by the station"
		}
		fmt.Fprintf(stderr, "station: console certificate (%s) SHA-256 fingerprint %s\n", how, fp)
	}
	db, err := accounts.Open(filepath.Join(dataDir, accounts.FileName), accounts.Options{})
	if err != nil {
		return nil, err
	}
	dir, err := LoadDirectory(filepath.Join(dataDir, DirectoryFile))
	if err != nil {
		return nil, err
	}
	data := &StoreData{Store: st, Dir: dir}
	rv, _ := st.(Reviews)
	srv, err := New(Options{Accounts: db, Audit: audit.Open(filepath.Join(dataDir, audit.FileName)),
		Gateways: data, Events: data, Feed: data, Reviews: rv, OfflineGrace: c.OfflineGrace, Commands: c.Commands, Enrol: c.Enrol, Clips: c.Clips,
		Secure: tlsCfg != nil, Logger: logger.With("component", "console")})
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	if tlsCfg != nil && loop {
		raw, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return nil, err
		}
		ln = tls.NewListener(&limitListener{Listener: raw, sem: make(chan struct{}, maxConns)}, tlsCfg)
	} else if ln, _, err = Listen(c.Listen, tlsCfg); err != nil {
		return nil, err
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	if us, _ := db.Users(); len(us) == 0 {
		fmt.Fprintln(stderr, "station: console has no accounts yet; make an admin with: station user add -data", dataDir, "-role admin NAME")
	}
	fmt.Fprintf(stderr, "station: console listening on %s://%s\n", scheme, ln.Addr())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := Serve(ctx, NewHTTPServer(srv, logger), ln); err != nil {
			logger.Error("console stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// loadOrMakeCert loads the given certificate, or the one made earlier in
// dataDir, or makes one (ECDSA P-256, 10 years, named for the listen
// address, the host name, localhost and the machine's addresses when the
// listen address is unspecified). It returns the SHA-256 fingerprint of
// the certificate, which an officer compares in the browser the first
// time.
func loadOrMakeCert(c *Config, dataDir, listen string) (tls.Certificate, string, bool, error) {
	certPath, keyPath, made := c.CertFile, c.KeyFile, false
	if certPath == "" {
		certPath, keyPath = filepath.Join(dataDir, CertFile), filepath.Join(dataDir, KeyFile)
		if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
			if err := makeCert(certPath, keyPath, listen); err != nil {
				return tls.Certificate{}, "", false, err
			}
		}
		made = true
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, "", false, fmt.Errorf("console certificate: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return cert, strings.Join(hexes, ":"), made, nil
}

func makeCert(certPath, keyPath, listen string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("console certificate: %w", err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	host, _, _ := net.SplitHostPort(listen)
	name, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ANTT station console " + name, Organization: []string{"ANTT station"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if name != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, name, name+".local")
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	} else if host != "" && ip == nil {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, n.IP)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("console certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("console certificate: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("console certificate: %w", err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("console certificate: %w", err)
	}
	return nil
}
