package outbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/antt-gateway/antt/uplink/wire"
)

// FuzzOpen feeds Open arbitrary file contents: it must never panic or fail,
// and the outbox it returns must accept events with fresh seqs.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.db")
	o, err := Open(path, testOptions())
	if err != nil {
		f.Fatal(err)
	}
	for i := range 20 {
		if _, err := o.Append(context.Background(), motion(i)); err != nil {
			f.Fatal(err)
		}
	}
	o.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:8192])
	f.Add(append(make([]byte, 8192), good[8192:]...))
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "outbox.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := Open(path, testOptions())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer o.Close()
		before := o.Stats().NextSeq
		seq, err := o.Append(context.Background(), motion(1))
		if err != nil || seq < before {
			t.Fatalf("Append: %d %v (counter was %d)", seq, err, before)
		}
		if _, err := o.Peek(0, 100); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseSidecar: the sidecar parser accepts a decimal number, optionally
// followed by an "epoch E" line, and what it accepts writes back the same.
func FuzzParseSidecar(f *testing.F) {
	for _, s := range []string{"65536\n", "0", "", "18446744073709551615\n", "-1", "12x", " 7 \n",
		"65536\nepoch 0123456789abcdef\n", "65536\nepoch \n", "1\nepoch a\nmore\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, e, err := parseSidecar(b)
		if err != nil {
			return
		}
		if e != "" && !wire.ValidEpoch(e) {
			t.Fatalf("accepted epoch %q", e)
		}
		if e == "" {
			if w, _ := parseReservation([]byte(formatUint(v))); w != v {
				t.Fatalf("round trip %d -> %d", v, w)
			}
			return
		}
		if w, we, err := parseSidecar(formatSidecar(v, e)); err != nil || w != v || we != e {
			t.Fatalf("round trip %d %q -> %d %q %v", v, e, w, we, err)
		}
	})
}

func formatUint(v uint64) string { return strconv.FormatUint(v, 10) }
