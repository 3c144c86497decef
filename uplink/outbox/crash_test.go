package outbox

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/antt-gateway/antt/device/reexec"

	"github.com/antt-gateway/antt/uplink/wire"
)

// openChild opens the outbox of a crash child (exit status 2 when it
// cannot) and returns it with say, which writes one report line to stdout
// at a time, for the parent to read after the kill.
func openChild(path string, maxBytes int64) (*Outbox, func(string)) {
	opt := testOptions()
	opt.MaxBytes = maxBytes
	o, err := Open(path, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	return o, func(s string) {
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(s)
	}
}

// crashChild appends and acks until killed, writing "A seq" after each
// Append returned and "K seq" after each Ack returned.
func crashChild(path string) {
	o, say := openChild(path, 8<<20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				seq, err := o.Append(context.Background(), motion(g*1_000_000+i))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				say(fmt.Sprintf("A %d\n", seq))
			}
		})
	}
	wg.Go(func() {
		for {
			recs, err := o.Peek(0, 200)
			if err != nil {
				os.Exit(4)
			}
			if len(recs) < 200 {
				<-o.Notify()
				continue
			}
			seqs := seqsOf(recs[:10])
			var p strings.Builder
			for _, s := range seqs {
				fmt.Fprintf(&p, "P %d\n", s)
			}
			say(p.String())
			if err := o.Ack(seqs...); err != nil {
				os.Exit(5)
			}
			var b strings.Builder
			for _, s := range seqs {
				fmt.Fprintf(&b, "K %d\n", s)
			}
			say(b.String())
		}
	})
	wg.Wait()
}

// TestDurableAcrossKill kills a process that is appending at a random moment
// and checks that every append and ack it reported survived.
func TestDurableAcrossKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	appended := map[uint64]bool{}
	acked := map[uint64]bool{}
	ackTried := map[uint64]bool{}
	var maxSeq uint64
	for round := range 5 {
		cmd := reexec.Command("-test.run=^$")
		cmd.Env = append(os.Environ(), "OUTBOX_CRASH_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 50 + rand.IntN(3000)
		sc := bufio.NewScanner(out)
		lines := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				t.Fatalf("child said %q", sc.Text())
			}
			seq, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			switch f[0] {
			case "A":
				if appended[seq] {
					t.Fatalf("round %d: seq %d reported twice (reused)", round, seq)
				}
				appended[seq] = true
				maxSeq = max(maxSeq, seq)
			case "K":
				acked[seq] = true
			case "P":
				ackTried[seq] = true
			}
			if lines++; lines == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		err = cmd.Wait()
		if lines < killAt {
			t.Fatalf("round %d: child ended by itself after %d lines: %v\n%s", round, lines, err, stderr.String())
		}

		o := open(t, path, testOptions())
		present := map[uint64]bool{}
		for _, r := range all(t, o) {
			present[r.Seq] = true
			decode(t, r)
		}
		for seq := range appended {
			if acked[seq] && present[seq] {
				t.Fatalf("round %d: seq %d was acked but came back", round, seq)
			}
			if !ackTried[seq] && !present[seq] {
				t.Fatalf("round %d: seq %d was reported durable but is gone", round, seq)
			}
		}
		if st := o.Stats(); st.NextSeq <= maxSeq {
			t.Fatalf("round %d: counter %d not beyond reported seq %d", round, st.NextSeq, maxSeq)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d lines; %d appended, %d acked so far", round, lines, len(appended), len(acked))
	}
}

// compactChild fills and drains the outbox over and over, so that it
// compacts all the time, writing "N next" after each drain returned.
func compactChild(path string) {
	opt := testOptions()
	opt.MaxBytes = 8 << 20
	opt.CompactAbove = 64 << 10
	o, err := Open(path, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		evs := make([]*wire.Event, 500)
		for j := range evs {
			evs[j] = motion(i*1000 + j)
			evs[j].Attrs["pad"] = strings.Repeat("c", 200)
		}
		seqs, err := o.AppendBatch(context.Background(), evs)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if err := o.Ack(seqs...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Printf("N %d\n", o.Stats().NextSeq)
	}
}

// TestCompactionSurvivesKill kills a process in the middle of its
// compactions: the file must always open cleanly (never be taken for
// damaged) with the counter at or beyond what was reported.
func TestCompactionSurvivesKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	for round := range 5 {
		cmd := reexec.Command("-test.run=^$")
		cmd.Env = append(os.Environ(), "OUTBOX_COMPACT_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 1 + rand.IntN(15)
		var next uint64
		sc := bufio.NewScanner(out)
		lines := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			n, err := strconv.ParseUint(f[len(f)-1], 10, 64)
			if err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			next = n
			if lines++; lines == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		err = cmd.Wait()
		if lines < killAt {
			t.Fatalf("round %d: child ended by itself: %v\n%s", round, err, stderr.String())
		}
		o := open(t, path, testOptions())
		if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 0 {
			t.Fatalf("round %d: file damaged by a kill during compaction", round)
		}
		st := o.Stats()
		if st.NextSeq < next {
			t.Fatalf("round %d: counter %d behind reported %d", round, st.NextSeq, next)
		}
		for _, r := range all(t, o) {
			decode(t, r)
		}
		o.Close()
		t.Logf("round %d: killed after %d drains; counter %d, file %d bytes, depth %d", round, lines, st.NextSeq, st.FileSize, st.Depth)
	}
}
