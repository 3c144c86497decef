package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fill writes n entries and returns the log's path and lines.
func fill(t *testing.T, n int) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	l := Open(path)
	for i := range n {
		e, err := l.Append(Entry{Actor: fmt.Sprintf("user%d", i%3), Action: []string{Login, LoginFailed, Arm}[i%3],
			Gateway: "cong-khu-3", OK: i%3 != 1, Detail: map[string]string{"i": fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if e.N != uint64(i+1) {
			t.Fatalf("entry %d numbered %d", i+1, e.N)
		}
	}
	return l, path
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func write(t *testing.T, path string, ls []string) {
	t.Helper()
	s := strings.Join(ls, "")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyIntact(t *testing.T) {
	_, path := fill(t, 10)
	n, err := Verify(path)
	if err != nil || n != 10 {
		t.Fatalf("Verify = %d, %v; want 10, nil", n, err)
	}
	if n, err := Verify(filepath.Join(t.TempDir(), FileName)); err != nil || n != 0 {
		t.Fatalf("Verify of no log = %d, %v", n, err)
	}
}

// Each way of damaging the file is found, and the problem names the first
// bad entry.
func TestVerifyDamage(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, ls []string)
		entry  uint64
		reason string
	}{
		{"edited actor", func(t *testing.T, p string, ls []string) {
			ls[4] = strings.Replace(ls[4], `"actor":"user1"`, `"actor":"user2"`, 1)
			write(t, p, ls)
		}, 5, "edited"},
		{"edited ok flag", func(t *testing.T, p string, ls []string) {
			ls[7] = strings.Replace(ls[7], `"ok":false`, `"ok":true`, 1)
			write(t, p, ls)
		}, 8, "edited"},
		{"removed", func(t *testing.T, p string, ls []string) {
			write(t, p, append(ls[:3:3], ls[4:]...))
		}, 4, "removed"},
		{"reordered", func(t *testing.T, p string, ls []string) {
			ls[2], ls[3] = ls[3], ls[2]
			write(t, p, ls)
		}, 3, "moved"},
		{"truncated", func(t *testing.T, p string, ls []string) {
			write(t, p, ls[:7])
		}, 8, "cut off the end"},
		{"torn last line", func(t *testing.T, p string, ls []string) {
			s := strings.Join(ls, "")
			if err := os.WriteFile(p, []byte(s[:len(s)-20]), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 10, "torn"},
		{"garbage line", func(t *testing.T, p string, ls []string) {
			ls[1] = "hello\n"
			write(t, p, ls)
		}, 2, "not an entry"},
		{"head removed", func(t *testing.T, p string, ls []string) {
			if err := os.Remove(p + headSuffix); err != nil {
				t.Fatal(err)
			}
		}, 0, "head file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, path := fill(t, 10)
			c.damage(t, path, lines(t, path))
			_, err := Verify(path)
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify = %v; want a *Problem", err)
			}
			if p.N != c.entry || !strings.Contains(p.Error(), c.reason) {
				t.Fatalf("Verify: %v; want entry %d and %q", err, c.entry, c.reason)
			}
		})
	}
}

// An entry recomputed after an edit (its own hash made right) still breaks
// the chain at the next entry.
func TestVerifyRehashedEdit(t *testing.T) {
	_, path := fill(t, 5)
	ls := lines(t, path)
	es := readAll(t, path)
	es[1].Actor = "mallory"
	es[1].Hash = es[1].sum()
	b, _ := jsonLine(es[1])
	ls[1] = b
	write(t, path, ls)
	_, err := Verify(path)
	var p *Problem
	if !errors.As(err, &p) || p.N != 3 {
		t.Fatalf("Verify = %v; want a problem at entry 3", err)
	}
}

// After a torn write, appends go on with the chain of the last good entry
// (Verify still names the torn line).
func TestAppendAfterTornLine(t *testing.T) {
	l, path := fill(t, 3)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"n":4,"time":"2026`)
	f.Close()
	e, err := l.Append(Entry{Action: Login, Actor: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if e.N != 4 {
		t.Fatalf("entry after a torn line numbered %d, want 4", e.N)
	}
	_, err = Verify(path)
	var p *Problem
	if !errors.As(err, &p) || p.Line != 4 || !strings.Contains(p.Reason, "not an entry") {
		t.Fatalf("Verify = %v; want line 4 not an entry", err)
	}
}

// Two Logs on one file (the station and the command line) keep one chain.
func TestConcurrentAppenders(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	a, b := Open(path), Open(path)
	var wg sync.WaitGroup
	for _, l := range []*Log{a, b, a, b} {
		wg.Go(func() {
			for range 25 {
				if _, err := l.Append(Entry{Action: Login, Actor: "x"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n, err := Verify(path); err != nil || n != 100 {
		t.Fatalf("Verify = %d, %v; want 100 intact", n, err)
	}
}

func TestList(t *testing.T) {
	l, _ := fill(t, 30)
	es, err := l.List(Filter{Action: LoginFailed}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 || es[0].N != 29 || es[3].N != 20 {
		t.Fatalf("List failed logins = %v", ns(es))
	}
	es, _ = l.List(Filter{Before: 10}, 100)
	if len(es) != 9 || es[0].N != 9 {
		t.Fatalf("List before 10 = %v", ns(es))
	}
	es, _ = l.List(Filter{Keep: func(e Entry) bool { return e.Actor == "user0" }}, 100)
	if len(es) != 10 {
		t.Fatalf("List with Keep = %v", ns(es))
	}
	future := time.Now().Add(time.Hour)
	if es, _ = l.List(Filter{Since: future}, 100); len(es) != 0 {
		t.Fatalf("List since the future = %v", ns(es))
	}
}

func TestCommand(t *testing.T) {
	_, path := fill(t, 6)
	dir := filepath.Dir(path)
	var out, errb bytes.Buffer
	if err := Command([]string{"verify", "-data", dir}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "6 entries, chain intact") {
		t.Fatalf("verify printed %q", out.String())
	}
	out.Reset()
	if err := Command([]string{"list", "-data", dir, "-action", "arm"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), " arm "); got != 2 {
		t.Fatalf("list -action arm printed %d arm rows:\n%s", got, out.String())
	}
	ls := lines(t, path)
	ls[2] = strings.Replace(ls[2], "cong-khu-3", "cong-khu-4", 1)
	write(t, path, ls)
	err := Command([]string{"verify", "-data", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "entry 3 (line 3)") || !strings.Contains(err.Error(), "2 entries before it") {
		t.Fatalf("verify of an edited log = %v", err)
	}
	if err := Command([]string{"list", "-data", dir, "-since", "yesterday"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "-since") {
		t.Fatalf("list -since yesterday = %v", err)
	}
}

func readAll(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	if err := scan(f, func(_ int, _ []byte, e *Entry, perr error) bool {
		if perr != nil {
			t.Fatal(perr)
		}
		out = append(out, *e)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func ns(es []Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.N)
	}
	return out
}

func jsonLine(e Entry) (string, error) {
	b, err := json.Marshal(e)
	return string(b) + "\n", err
}

// FuzzVerify feeds damaged logs to Verify and List: they never panic, and
// a log Verify passes is one whose every line List returns.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, FileName)
	l := Open(path)
	for i := range 3 {
		if _, err := l.Append(Entry{Action: Login, Actor: fmt.Sprint("u", i), Detail: map[string]string{"k": "v"}}); err != nil {
			f.Fatal(err)
		}
	}
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		es, err := Open(p).List(Filter{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var last Entry
		if len(es) > 0 {
			last = es[0]
		}
		if err := writeHead(p+headSuffix, last); err != nil {
			t.Fatal(err)
		}
		n, err := Verify(p)
		if err == nil && n != len(es) {
			t.Fatalf("Verify passed %d entries, List read %d", n, len(es))
		}
		if _, err := Open(p).Append(Entry{Action: Logout}); err != nil && !strings.Contains(err.Error(), "no readable entry") {
			t.Fatal(err)
		}
	})
}
