package boardtest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Report is what the board's /init printed between its markers (see
// testdata/board/init).
type Report struct {
	// Runs are the outbox dumps, by gateway run name, in console order.
	Runs []Run
	// Marks are the "BOARD: <what> uptime=<s>" progress lines.
	Marks []Mark
	// Failures are the "BOARD-FAIL <why>" lines.
	Failures []string
	// Done tells whether the board printed BOARD-DONE.
	Done bool
	// InitAt is the kernel's timestamp of "Run /init", in seconds.
	InitAt float64
}

// Run is one gateway's outbox after its run on the board.
type Run struct {
	Name   string
	Events []wire.Event
	RC     int      // exit code of `gateway outbox dump`
	Other  []string // lines in the dump that are not events
	Closed bool     // BOARD-END seen
}

// Mark is one progress line: what happened, at which kernel uptime.
type Mark struct {
	What   string
	Uptime float64 // seconds since the kernel started
}

// Mark returns the uptime of the first mark whose text is what.
func (r *Report) Mark(what string) (float64, bool) {
	for _, m := range r.Marks {
		if m.What == what {
			return m.Uptime, true
		}
	}
	return 0, false
}

// Run returns the run called name.
func (r *Report) Run(name string) (*Run, bool) {
	for i := range r.Runs {
		if r.Runs[i].Name == name {
			return &r.Runs[i], true
		}
	}
	return nil, false
}

// ParseConsole reads the board's console. Kernel and gateway log lines
// between the markers are ignored; a dump line that is not an event is kept
// in Run.Other so a test can show it.
func ParseConsole(lines []string) (*Report, error) {
	r := &Report{}
	var cur *Run
	for i, line := range lines {
		switch {
		case strings.HasPrefix(line, "BOARD-BEGIN "):
			if cur != nil {
				return r, fmt.Errorf("console line %d: BOARD-BEGIN inside the dump of %s", i+1, cur.Name)
			}
			r.Runs = append(r.Runs, Run{Name: strings.TrimSpace(strings.TrimPrefix(line, "BOARD-BEGIN "))})
			cur = &r.Runs[len(r.Runs)-1]
		case strings.HasPrefix(line, "BOARD-END "):
			f := strings.Fields(strings.TrimPrefix(line, "BOARD-END "))
			if cur == nil || len(f) == 0 || f[0] != cur.Name {
				return r, fmt.Errorf("console line %d: %q ends no open dump", i+1, line)
			}
			cur.Closed = true
			if len(f) > 1 {
				if rc, ok := strings.CutPrefix(f[1], "rc="); ok {
					n, err := strconv.Atoi(rc)
					if err != nil {
						return r, fmt.Errorf("console line %d: exit code %q: %w", i+1, rc, err)
					}
					cur.RC = n
				}
			}
			cur = nil
		case strings.HasPrefix(line, "BOARD-FAIL"):
			r.Failures = append(r.Failures, strings.TrimSpace(strings.TrimPrefix(line, "BOARD-FAIL")))
		case line == "BOARD-DONE":
			r.Done = true
		case strings.HasPrefix(line, "BOARD: "):
			m, err := parseMark(strings.TrimPrefix(line, "BOARD: "))
			if err != nil {
				return r, fmt.Errorf("console line %d: %w", i+1, err)
			}
			r.Marks = append(r.Marks, m)
		case cur != nil:
			if strings.HasPrefix(line, "{") {
				var e wire.Event
				if err := json.Unmarshal([]byte(line), &e); err == nil {
					cur.Events = append(cur.Events, e)
					continue
				}
			}
			if strings.TrimSpace(line) != "" {
				cur.Other = append(cur.Other, line)
			}
		case r.InitAt == 0 && strings.HasSuffix(line, "Run /init as init process"):
			r.InitAt, _ = kernelTime(line)
		}
	}
	if cur != nil {
		return r, fmt.Errorf("console ended inside the dump of %s", cur.Name)
	}
	return r, nil
}

// parseMark reads "<what> uptime=<seconds>".
func parseMark(s string) (Mark, error) {
	i := strings.LastIndex(s, " uptime=")
	if i < 0 {
		return Mark{}, fmt.Errorf("mark %q has no uptime=", s)
	}
	up, err := strconv.ParseFloat(s[i+len(" uptime="):], 64)
	if err != nil {
		return Mark{}, fmt.Errorf("mark %q: uptime: %w", s, err)
	}
	return Mark{What: s[:i], Uptime: up}, nil
}

// kernelTime reads the printk timestamp "[    1.924321] ..." of a line.
func kernelTime(line string) (float64, bool) {
	rest, ok := strings.CutPrefix(line, "[")
	if !ok {
		return 0, false
	}
	ts, _, ok := strings.Cut(rest, "]")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(ts), 64)
	return v, err == nil
}
