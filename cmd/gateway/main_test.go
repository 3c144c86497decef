package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigBad runs `gateway check-config` on every broken file: each
// must exit 2 and name its key and line (the "# want:" comment on line 1).
func TestCheckConfigBad(t *testing.T) {
	files, err := filepath.Glob("../../testdata/config/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("want at least 15 broken configs, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := wantLine(t, f)
			var stdout, stderr bytes.Buffer
			code := run([]string{"check-config", f}, &stdout, &stderr)
			if code != exitUsage {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not name the problem %q:\n%s", want, stderr.String())
			}
			if !strings.Contains(stderr.String(), f) {
				t.Errorf("stderr does not name the file %s:\n%s", f, stderr.String())
			}
		})
	}
}

func wantLine(t *testing.T, path string) string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Scan()
	want, ok := strings.CutPrefix(sc.Text(), "# want: ")
	if !ok || want == "" {
		t.Fatalf("%s: line 1 must be '# want: <expected error>'", path)
	}
	return want
}

func TestCheckConfigGood(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", "../../testdata/config/full.yaml"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d for the full example:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "ok") {
		t.Errorf("stdout %q does not say ok", stdout.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"frobnicate"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Errorf("stderr: %s", stderr.String())
	}
}
