package devtest

import (
	"fmt"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records the failure a helper reports and, like testing.T, stops
// the goroutine that called Fatalf.
type fakeTB struct {
	testing.TB // nil: any other method the helpers call panics the test
	msg        string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs fn with a fakeTB and returns what it failed with ("" when it
// returned normally).
func failure(fn func(testing.TB)) string {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f.msg
}

func TestBufferZeroValue(t *testing.T) {
	var b Buffer
	if b.String() != "" {
		t.Fatalf("empty buffer holds %q", b.String())
	}
	fmt.Fprintf(&b, "a=%d\n", 1)
	fmt.Fprint(&b, "b")
	if got := b.String(); got != "a=1\nb" {
		t.Fatalf("String = %q", got)
	}
	b.WaitContains(t, time.Second, "a=1", "b") // already there: returns at once
}

func TestBufferConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "w%d line %d\n", w, i)
			}
		})
	}
	b.WaitContains(t, 10*time.Second, "w0 line 99\n", "w1 line 99\n", "w2 line 99\n", "w3 line 99\n")
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 400 {
		t.Fatalf("%d lines, want 400 (writes lost or torn)", n)
	}
}

func TestBufferWaitMatch(t *testing.T) {
	var b Buffer
	go func() {
		b.Write([]byte("level=INFO msg=start\nstation: broker listening on 127.0.0.1:")) // a line cut in two writes
		b.Write([]byte("1883\n"))
	}()
	if got := b.WaitMatch(t, 10*time.Second, regexp.MustCompile(`listening on (\S+)\n`)); got != "127.0.0.1:1883" {
		t.Fatalf("WaitMatch = %q, want the first submatch", got)
	}
	if got := b.WaitMatch(t, 10*time.Second, regexp.MustCompile(`msg=\w+`)); got != "msg=start" {
		t.Fatalf("WaitMatch without a group = %q, want the whole match", got)
	}
}

// Every waiter wakes on a write, however many there are: a notification
// one waiter could take from the others would leave them to time out.
func TestBufferManyWaiters(t *testing.T) {
	var b Buffer
	const waiters = 8
	errs := make(chan string, waiters)
	for range waiters {
		go func() { errs <- failure(func(tb testing.TB) { b.WaitContains(tb, 10*time.Second, "ready") }) }()
	}
	WaitFor(t, 10*time.Second, "a waiter to block", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.changed != nil
	})
	b.Write([]byte("ready\n"))
	for range waiters {
		if msg := <-errs; msg != "" {
			t.Fatalf("a waiter failed: %s", msg)
		}
	}
}

func TestBufferWaitTimesOut(t *testing.T) {
	var b Buffer
	b.Write([]byte("station: subscribed\n"))
	msg := failure(func(tb testing.TB) {
		b.WaitContains(tb, 20*time.Millisecond, "subscribed", "GAP")
		t.Error("WaitContains returned without its content")
	})
	if !strings.Contains(msg, `output lacks ["subscribed" "GAP"] after 20ms`) || !strings.Contains(msg, "station: subscribed\n") {
		t.Errorf("WaitContains failed with %q, want what was awaited and the content", msg)
	}
	msg = failure(func(tb testing.TB) {
		b.WaitMatch(tb, 20*time.Millisecond, regexp.MustCompile(`seq (\d+)`))
		t.Error("WaitMatch returned without a match")
	})
	if !strings.Contains(msg, `no match for seq (\d+) after 20ms`) || !strings.Contains(msg, "station: subscribed\n") {
		t.Errorf("WaitMatch failed with %q, want the pattern and the content", msg)
	}
}

func TestWaitFor(t *testing.T) {
	calls := 0
	WaitFor(t, 10*time.Second, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Fatalf("cond asked %d times after it held, want 3", calls)
	}

	start := time.Now()
	msg := failure(func(tb testing.TB) {
		WaitFor(tb, 50*time.Millisecond, "a condition that never holds", func() bool { return false })
		t.Error("WaitFor returned although cond never held")
	})
	if want := "timed out after 50ms waiting for a condition that never holds"; msg != want {
		t.Errorf("WaitFor failed with %q, want %q", msg, want)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("WaitFor gave up after %v, before its deadline", waited)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q (%v), want a 127.0.0.1 address", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on the free address: %v", err)
	}
	ln.Close()
}
