package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/antt-gateway/antt/cmd/station/internal/clips"
)

// runVerifyExport is "station verify-export [-data DIR] FILE": it checks a
// case export's signature and every file's SHA-256 and names each thing
// wrong. With -data, the signing key must also be this station's.
func runVerifyExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("station verify-export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "", "the station's data directory: the export must be signed by its key (default: by the key the manifest names)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: station verify-export [-data DIR] FILE.zip")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("verify-export needs one file")
	}
	var want ed25519.PublicKey
	if *dataDir != "" {
		if _, err := os.Stat(filepath.Join(*dataDir, clips.KeyFile)); err != nil {
			return fmt.Errorf("station key: %w", err)
		}
		k, err := clips.LoadOrCreateKey(*dataDir)
		if err != nil {
			return err
		}
		want = k.Public().(ed25519.PublicKey)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	m, problems, err := clips.Verify(f, st.Size(), want)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, "BAD", p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %d problems: the export is not as the station signed it", fs.Arg(0), len(problems))
	}
	fmt.Fprintf(stdout, "OK %s: case %q, %d files, exported by %s at %s, key %s\n",
		fs.Arg(0), m.Case, len(m.Files), m.ExportedBy, m.ExportedAt.Format("2006-01-02T15:04:05Z07:00"), m.PublicKey)
	if want == nil {
		// The manifest names its own key: anyone can sign a forged export
		// with a key of theirs, and it verifies.
		fmt.Fprintf(stdout, "KEY NOT CHECKED: %s signed it, a key the export names itself; run with -data DIR on the station (or compare the key with the station's) to know the station made it\n", m.PublicKey)
	}
	for _, miss := range m.Missing {
		fmt.Fprintln(stdout, "NOT INCLUDED", miss)
	}
	return nil
}
