package statefile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/device/output/statefile"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alarm.json")
	if _, err := statefile.Read(path); !statefile.Missing(err) {
		t.Fatalf("missing file: %v", err)
	}
	for _, content := range []string{`{"mode":"away"}`, `{"mode":"disarmed","origin":{"by":"station"}}`} {
		if err := statefile.Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := statefile.Read(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLimitsAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "big.json")
	if err := statefile.Write(path, bytes.Repeat([]byte("x"), statefile.MaxSize+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized write: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("an oversized write left a file")
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), statefile.MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := statefile.Read(path); err == nil || !strings.Contains(err.Error(), "not a state file") || !strings.Contains(err.Error(), path) {
		t.Fatalf("oversized read: %v", err)
	}
	bad := filepath.Join(dir, "no-such-dir", "x.json")
	if err := statefile.Write(bad, []byte("{}")); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("write into a missing directory: %v", err)
	}
	// Writing over a directory fails at the rename and keeps the directory.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := statefile.Write(sub, []byte("{}")); err == nil {
		t.Fatal("wrote over a directory")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("temporary file left after a failed write: %s", e.Name())
		}
	}
}
