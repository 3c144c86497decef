package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docs/console.md names only flags the station has: every `-flag` inside
// a code span or block of the page is a flag of `station run` or of the
// subcommands the page shows (user, token, audit), read from their own
// -h; and every flag of `station run` the console uses (its listen
// address and TLS, the grace, TURN, enrolment, snapshot and clip limits)
// is on the page.
func TestConsoleDocFlags(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "console.md"))
	if err != nil {
		t.Fatal(err)
	}
	usage := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)
	flags := map[string]bool{"h": true} // the flag package's own help
	runFlags := map[string]bool{}
	for _, args := range [][]string{{"run"}, {"user", "add"}, {"token", "add"}, {"audit", "list"}, {"audit", "verify"}} {
		var stderr bytes.Buffer
		if code := run(t.Context(), append(args, "-h"), strings.NewReader(""), &bytes.Buffer{}, &stderr); code != 0 {
			t.Fatalf("station %s -h: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
		}
		for _, m := range usage.FindAllStringSubmatch(stderr.String(), -1) {
			flags[m[1]] = true
			if args[0] == "run" {
				runFlags[m[1]] = true
			}
		}
	}
	if len(runFlags) < 40 || !runFlags["http"] {
		t.Fatalf("station run -h lists %d flags: %v", len(runFlags), runFlags)
	}
	// Code spans and fenced blocks, and the flags in them.
	code := regexp.MustCompile("(?s)```.*?```|`[^`\n]+`")
	flag := regexp.MustCompile(`(?:^|[\s/(])-([a-z][a-z0-9-]*)`)
	named := map[string]bool{}
	for _, span := range code.FindAllString(string(doc), -1) {
		for _, m := range flag.FindAllStringSubmatch(strings.Trim(span, "`"), -1) {
			named[m[1]] = true
			if !flags[m[1]] {
				t.Errorf("docs/console.md names -%s (in %.60q), which no station command has", m[1], span)
			}
		}
	}
	for f := range runFlags {
		for _, p := range []string{"http", "offline-", "turn", "enrol-", "snapshot-", "clip-"} {
			if strings.HasPrefix(f, p) && !named[f] {
				t.Errorf("docs/console.md does not name the console's flag -%s", f)
			}
		}
	}
}
