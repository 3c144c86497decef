// Package devtest holds the small helpers the project's tests share: a
// Buffer that collects a logger's or a process's output and that a test
// waits on, WaitFor to poll a condition until a deadline, and FreeAddr for
// a loopback address to put into a configuration before anything listens.
//
// Every wait ends at a deadline the caller chooses and fails the test with
// what it waited for, so a test never hangs and never sleeps to synchronise.
package devtest

import (
	"bytes"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollInterval is how often WaitFor asks its condition: short enough not to
// slow a test down, long enough not to load a process whose API it polls.
const pollInterval = 10 * time.Millisecond

// Buffer is an io.Writer that loggers, child processes and the test may
// use at once; the test can read it at any time or wait for something to
// appear in it. The zero value is ready to use; a Buffer must not be copied.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed by the next Write; nil while nobody waits
}

// Write appends p and wakes every waiter. It never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed) // a broadcast: any number of waiters see it
		b.changed = nil
	}
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// snapshot returns the content and a channel closed by the next Write, read
// together so that no write falls between them unseen.
func (b *Buffer) snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.b.String(), b.changed
}

// wait returns the content once ok holds for it, or the last content and
// false when d has passed.
func (b *Buffer) wait(d time.Duration, ok func(string) bool) (string, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s, changed := b.snapshot()
		if ok(s) {
			return s, true
		}
		select {
		case <-changed:
		case <-timer.C:
			s = b.String()
			return s, ok(s)
		}
	}
}

// WaitMatch waits up to d for re to match the content and returns the
// match's first submatch (the whole match when re has no group). It fails
// the test, showing the content, when d passes first.
func (b *Buffer) WaitMatch(t testing.TB, d time.Duration, re *regexp.Regexp) string {
	t.Helper()
	var m []string
	s, ok := b.wait(d, func(s string) bool {
		m = re.FindStringSubmatch(s)
		return m != nil
	})
	if !ok {
		t.Fatalf("no match for %s after %v in:\n%s", re, d, s)
	}
	if len(m) > 1 {
		return m[1]
	}
	return m[0]
}

// WaitContains waits up to d until the content holds every one of subs. It
// fails the test, showing the content, when d passes first.
func (b *Buffer) WaitContains(t testing.TB, d time.Duration, subs ...string) {
	t.Helper()
	s, ok := b.wait(d, func(s string) bool {
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("output lacks %q after %v:\n%s", subs, d, s)
	}
}

// WaitFor asks cond every few milliseconds until it holds, and fails the
// test naming what when d passes first. It is for conditions nothing
// signals (a process's API answering, a counter reaching a value); cond
// runs on the test's goroutine, so it may itself call t.Fatal.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(pollInterval) // polling interval, not synchronisation
	}
}

// FreeAddr returns a 127.0.0.1 address no one listened on a moment ago, for
// a configuration that names its listening address before the listener
// exists (a child process, a gateway's API). Another process may take the
// port in between; where the code under test accepts a net.Listener, pass
// one instead.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
