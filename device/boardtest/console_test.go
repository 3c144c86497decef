package boardtest

import (
	"strings"
	"testing"
)

const sampleConsole = `[    1.924321] Run /init as init process
BOARD: init uptime=2.11
BOARD: ready arm64 uptime=3.18
BOARD: first-edge arm64 uptime=3.52
gw arm64: time=2026-11-28T13:31:47Z level=INFO msg=started
BOARD-BEGIN arm64
{"seq":1,"id":"board-test/1","kind":"contact","source":"cua","state":"active","time":"2026-11-28T13:31:47.5Z","clock_synced":true,"uptime_ms":412,"boot":"a1b2c3","test":false}
not an event
BOARD-END arm64 rc=0
BOARD-FAIL armv7 not ready
BOARD-DONE
`

func TestParseConsole(t *testing.T) {
	r, err := ParseConsole(strings.Split(sampleConsole, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Done || r.InitAt != 1.924321 {
		t.Errorf("Done %v InitAt %v, want true 1.924321", r.Done, r.InitAt)
	}
	if up, ok := r.Mark("first-edge arm64"); !ok || up != 3.52 {
		t.Errorf("first-edge mark %v %v, want 3.52", up, ok)
	}
	run, ok := r.Run("arm64")
	if !ok || !run.Closed || run.RC != 0 || len(run.Events) != 1 || len(run.Other) != 1 {
		t.Fatalf("run %+v", run)
	}
	if e := run.Events[0]; e.Seq != 1 || e.Source != "cua" || e.State != "active" || e.Kind != "contact" {
		t.Errorf("event %+v", e)
	}
	if len(r.Failures) != 1 || r.Failures[0] != "armv7 not ready" {
		t.Errorf("failures %q", r.Failures)
	}
}

func TestParseConsoleErrors(t *testing.T) {
	for _, c := range []string{
		"BOARD-BEGIN a\nBOARD-BEGIN b",
		"BOARD-END a rc=0",
		"BOARD-BEGIN a\nBOARD-END a rc=x",
		"BOARD-BEGIN a\n{}",
		"BOARD: no uptime",
		"BOARD: x uptime=soon",
	} {
		if _, err := ParseConsole(strings.Split(c, "\n")); err == nil {
			t.Errorf("%q: no error", c)
		}
	}
}

// FuzzParseConsole feeds the parser whatever a broken board might print.
func FuzzParseConsole(f *testing.F) {
	f.Add(sampleConsole)
	f.Add("BOARD-BEGIN x\n{\"seq\":1}\nBOARD-END x")
	f.Add("[ 0.1] Run /init as init process\nBOARD: a uptime=1e9")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseConsole(strings.Split(s, "\n"))
		if r == nil {
			t.Fatal("nil report")
		}
		if err == nil {
			for _, run := range r.Runs {
				if !run.Closed {
					t.Fatalf("run %s not closed without an error", run.Name)
				}
			}
		}
	})
}
