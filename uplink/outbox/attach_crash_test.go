package outbox

import (
	"bufio"
	"bytes"
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
	"time"

	"github.com/antt-gateway/antt/device/reexec"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Environment of the attachment crash child (see TestMain).
const (
	envAttachChild = "OUTBOX_ATTACH_CHILD" // database path
	envAttachMode  = "OUTBOX_ATTACH_MODE"  // "mixed" or "overflow"
	envAttachRound = "OUTBOX_ATTACH_ROUND" // keeps the events' i unique across rounds
)

// Files of the attachment crash tests: mixed stays far from its bound,
// overflow lives at it.
const (
	mixedMaxBytes    = 16 << 20
	overflowMaxBytes = 256 << 10
)

// attachSize is the attachment size event i gets, so the parent knows what
// each stored record must carry without being told: about a third have
// none, most are small, some span several pages (bbolt overflow pages).
func attachSize(i int, overflow bool) int {
	h := uint32(i) * 2654435761
	h ^= h >> 15
	switch k := h % 10; {
	case !overflow && k < 3:
		return 0
	case k < 7:
		return 16 + int(h>>8)%1000
	case k < 9:
		return 2048 + int(h>>8)%6144
	case overflow:
		return 16<<10 + int(h>>8)%(12<<10) // under the per-event quarter of the budget
	default:
		return 12<<10 + int(h>>8)%(28<<10)
	}
}

// wantAttachment is what record i must carry: nil when it has none.
func wantAttachment(i int, overflow bool) []byte {
	if n := attachSize(i, overflow); n > 0 {
		return jpegFor(i, n)
	}
	return nil
}

// attachChild appends events with and without attachments from several
// goroutines until it is killed, writing "A seq i" after each append
// returned. In mixed mode it also acks most records in scattered windows,
// writing "P seq" before and "K seq" after each Ack; in overflow mode it
// never acks, so the outbox lives at its bound.
func attachChild(path string) {
	overflow := os.Getenv(envAttachMode) == "overflow"
	round, _ := strconv.Atoi(os.Getenv(envAttachRound))
	maxBytes := int64(mixedMaxBytes)
	if overflow {
		maxBytes = overflowMaxBytes
	}
	o, say := openChild(path, maxBytes)
	fail := func(code int, err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(code)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for n := 0; ; n++ {
				i := round*10_000_000 + g*1_000_000 + n
				var seq uint64
				var err error
				switch a := wantAttachment(i, overflow); {
				case a == nil && n%2 == 0:
					seq, err = o.Append(ctx, motion(i))
				default: // a nil attachment through AppendAttached too
					seq, err = o.AppendAttached(ctx, motion(i), a)
				}
				if err != nil {
					fail(3, err)
				}
				say(fmt.Sprintf("A %d %d\n", seq, i))
			}
		})
	}
	if !overflow {
		wg.Go(func() {
			var after uint64
			for {
				recs, err := o.Peek(after, 40)
				if err != nil {
					fail(4, err)
				}
				if len(recs) < 40 {
					if after != 0 && len(recs) == 0 {
						after = 0 // go round again for the ones left behind
						continue
					}
					<-o.Notify()
					continue
				}
				after = recs[len(recs)-1].Seq
				// Three in four, so acked and kept records, with and
				// without attachments, sit side by side in the pages.
				var seqs []uint64
				for _, r := range recs {
					if r.Seq%4 != 0 {
						seqs = append(seqs, r.Seq)
					}
				}
				var p, k strings.Builder
				for _, s := range seqs {
					fmt.Fprintf(&p, "P %d\n", s)
					fmt.Fprintf(&k, "K %d\n", s)
				}
				say(p.String())
				if err := o.Ack(seqs...); err != nil {
					fail(5, err)
				}
				say(k.String())
			}
		})
	}
	wg.Wait()
}

// runAttachChild runs one child round against path and SIGKILLs it once it
// has written killAt lines; every line it wrote (up to the kill and beyond,
// as the pipe drains) goes to line. It returns how many lines came.
func runAttachChild(t *testing.T, path, mode string, round, killAt int, line func(f []string)) int {
	t.Helper()
	cmd := reexec.Command("-test.run=^$")
	cmd.Env = append(os.Environ(), envAttachChild+"="+path, envAttachMode+"="+mode, envAttachRound+"="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	lines := 0
	for sc.Scan() {
		line(strings.Fields(sc.Text()))
		if lines++; lines == killAt {
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	err = cmd.Wait()
	if lines < killAt {
		t.Fatalf("round %d: child ended by itself after %d lines: %v\n%s", round, lines, err, stderr.String())
	}
	return lines
}

func parseUint(t *testing.T, f []string, n int) []uint64 {
	t.Helper()
	if len(f) != n+1 {
		t.Fatalf("child said %q", f)
	}
	v := make([]uint64, n)
	for j := range v {
		var err error
		if v[j], err = strconv.ParseUint(f[j+1], 10, 64); err != nil {
			t.Fatalf("child said %q", f)
		}
	}
	return v
}

// checkAttachments checks what every kind of reopen must hold: each event
// stored once, with its own attachment, nothing damaged, and Stats.Bytes
// (live and read-only) equal to the bytes stored. It returns the records
// and, for each motion event, the seq holding it.
func checkAttachments(t *testing.T, path string, opt Options, overflow bool) ([]Record, map[int]uint64) {
	t.Helper()
	if m, _ := filepath.Glob(path + ".damaged-*"); len(m) != 0 {
		t.Fatalf("file taken for damaged after a kill: %v", m)
	}
	o := open(t, path, opt)
	recs := all(t, o)
	at := map[int]uint64{}
	withAtt := 0
	for _, r := range recs {
		e := decode(t, r)
		if r.Attachment != nil {
			withAtt++
		}
		switch e.Kind {
		case wire.KindMotion:
		case wire.KindOutboxOverflow:
			if !overflow || r.Attachment != nil {
				t.Fatalf("overflow event %d (with attachment: %v)", r.Seq, r.Attachment != nil)
			}
			continue
		default:
			t.Fatalf("record %d is a %s event", r.Seq, e.Kind)
		}
		i := int(e.Attrs["i"].(float64))
		if prev, dup := at[i]; dup {
			t.Fatalf("event %d stored twice, at seqs %d and %d", i, prev, r.Seq)
		}
		at[i] = r.Seq
		if want := wantAttachment(i, overflow); !bytes.Equal(r.Attachment, want) {
			t.Fatalf("record %d (event %d): attachment of %d bytes, want %d bytes of its own", r.Seq, i, len(r.Attachment), len(want))
		}
	}
	st := o.Stats()
	if st.Depth != len(recs) || st.Bytes != payloadOf(recs) {
		t.Fatalf("Stats depth %d bytes %d; stored %d records of %d bytes", st.Depth, st.Bytes, len(recs), payloadOf(recs))
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// Open has verified that no attachment lacks its record (it would have
	// moved the file aside); count them anyway, straight from the file.
	if n := attachmentKeys(t, path); n != withAtt {
		t.Fatalf("%d attachment keys for %d records with an attachment", n, withAtt)
	}
	r, err := ReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ro, err := r.Stats(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ro.Depth != st.Depth || ro.Bytes != st.Bytes || ro.NextSeq != st.NextSeq || ro.Dropped != st.Dropped {
		t.Fatalf("read-only stats %+v differ from the outbox's %+v", ro, st)
	}
	j := 0
	err = r.Records(0, func(rec Record) error {
		if j >= len(recs) || rec.Seq != recs[j].Seq || !bytes.Equal(rec.Attachment, recs[j].Attachment) {
			return fmt.Errorf("read-only record %d differs from the outbox's", rec.Seq)
		}
		j++
		return nil
	})
	if err != nil || j != len(recs) {
		t.Fatalf("read-only records: %d of %d: %v", j, len(recs), err)
	}
	return recs, at
}

// TestAttachmentsDurableAcrossKill kills a process appending events with
// and without attachments (from a few bytes to several pages) while it acks
// most of them: every append it reported is stored exactly once with its
// own attachment, every ack it reported stays acked with its attachment
// gone, no attachment is left without its record, and Stats.Bytes is what
// is stored.
func TestAttachmentsDurableAcrossKill(t *testing.T) {
	rounds, maxKill := 4, 1500
	if testing.Short() {
		rounds, maxKill = 2, 300
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	opt := testOptions()
	opt.MaxBytes = mixedMaxBytes
	appended := map[uint64]int{} // seq → i
	acked, ackTried := map[uint64]bool{}, map[uint64]bool{}
	var maxSeq uint64
	for round := range rounds {
		killAt := 100 + rand.IntN(maxKill)
		lines := runAttachChild(t, path, "mixed", round, killAt, func(f []string) {
			switch {
			case len(f) > 0 && f[0] == "A":
				v := parseUint(t, f, 2)
				if _, dup := appended[v[0]]; dup {
					t.Fatalf("round %d: seq %d reported twice", round, v[0])
				}
				appended[v[0]] = int(v[1])
				maxSeq = max(maxSeq, v[0])
			case len(f) > 0 && f[0] == "P":
				ackTried[parseUint(t, f, 1)[0]] = true
			case len(f) > 0 && f[0] == "K":
				acked[parseUint(t, f, 1)[0]] = true
			default:
				t.Fatalf("child said %q", f)
			}
		})
		recs, at := checkAttachments(t, path, opt, false)
		present := map[uint64]bool{}
		for _, r := range recs {
			present[r.Seq] = true
		}
		for seq, i := range appended {
			switch {
			case acked[seq] && present[seq]:
				t.Fatalf("round %d: seq %d was acked but came back", round, seq)
			case !ackTried[seq] && at[i] != seq:
				t.Fatalf("round %d: seq %d (event %d) was reported durable but is stored at %d (0: gone)", round, seq, i, at[i])
			}
		}
		o := open(t, path, opt)
		st := o.Stats()
		o.Close()
		if st.NextSeq <= maxSeq || st.Dropped != 0 {
			t.Fatalf("round %d: stats %+v; highest reported seq %d", round, st, maxSeq)
		}
		t.Logf("round %d: killed after %d lines; %d appended, %d acked so far; %d stored, %d bytes, file %d bytes",
			round, lines, len(appended), len(acked), st.Depth, st.Bytes, st.FileSize)
	}
	if len(acked) == 0 {
		t.Fatal("no ack completed: the test did not exercise removal")
	}
}

// TestAttachmentOverflowAcrossKill kills a process that keeps a small
// outbox full with events carrying attachments: after reopening, the file
// and the payload are within their bounds, and every seq ever given out is
// either stored or in exactly one reported overflow range, with the
// reported counts adding up to Stats.Dropped. (Acks inside dropped ranges
// are covered by TestOverflowDropsOldestExactly; here nothing is acked, so
// the accounting must be exact.)
func TestAttachmentOverflowAcrossKill(t *testing.T) {
	rounds, maxKill := 4, 400
	if testing.Short() {
		rounds, maxKill = 2, 150
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	opt := testOptions()
	opt.MaxBytes = overflowMaxBytes
	appended := map[uint64]int{}
	for round := range rounds {
		killAt := 60 + rand.IntN(maxKill)
		lines := runAttachChild(t, path, "overflow", round, killAt, func(f []string) {
			if len(f) == 0 || f[0] != "A" {
				t.Fatalf("child said %q", f)
			}
			v := parseUint(t, f, 2)
			appended[v[0]] = int(v[1])
		})
		recs, at := checkAttachments(t, path, opt, true)
		o := open(t, path, opt)
		st := o.Stats()
		o.Close()
		if st.FileSize > opt.MaxBytes || st.Bytes > opt.MaxBytes/2 {
			t.Fatalf("round %d: beyond the bound: %+v", round, st)
		}
		inRange := map[uint64]int{}
		present := map[uint64]bool{}
		var dropped uint64
		for _, r := range recs {
			present[r.Seq] = true
			e := decode(t, r)
			if e.Kind != wire.KindOutboxOverflow {
				continue
			}
			runs := overflowRuns(t, e)
			var n uint64
			for _, run := range runs {
				for s := run[0]; s <= run[1]; s++ {
					inRange[s]++
					n++
				}
			}
			if got := uint64(e.Attrs["dropped"].(float64)); got != n {
				t.Fatalf("round %d: overflow %d reports %d dropped, its runs %v hold %d", round, r.Seq, got, runs, n)
			}
			dropped += n
		}
		for s := uint64(1); s < st.NextSeq; s++ {
			k := inRange[s]
			if present[s] {
				k++
			}
			if k != 1 {
				t.Fatalf("round %d: seq %d stored %v and in %d overflow ranges", round, s, present[s], inRange[s])
			}
		}
		for seq, i := range appended {
			if seq >= st.NextSeq || (inRange[seq] == 0 && at[i] != seq) {
				t.Fatalf("round %d: seq %d (event %d) reported durable, neither stored nor reported dropped", round, seq, i)
			}
		}
		if st.Dropped != dropped {
			t.Fatalf("round %d: Stats.Dropped %d, overflow events report %d", round, st.Dropped, dropped)
		}
		t.Logf("round %d: killed after %d lines; %d stored, %d bytes, %d dropped, file %d bytes", round, lines, st.Depth, st.Bytes, st.Dropped, st.FileSize)
	}
	o := open(t, path, opt)
	defer o.Close()
	if o.Stats().Dropped == 0 {
		t.Fatal("the outbox never overflowed")
	}
}

// overflowRuns reads the seq runs an overflow event reports.
func overflowRuns(t *testing.T, e wire.Event) [][2]uint64 {
	t.Helper()
	first, last := uint64(e.Attrs["first_seq"].(float64)), uint64(e.Attrs["last_seq"].(float64))
	rs, ok := e.Attrs["ranges"].([]any)
	if !ok {
		return [][2]uint64{{first, last}}
	}
	var runs [][2]uint64
	for _, r := range rs {
		ab := r.([]any)
		runs = append(runs, [2]uint64{uint64(ab[0].(float64)), uint64(ab[1].(float64))})
	}
	if runs[0][0] != first || runs[len(runs)-1][1] != last {
		t.Fatalf("overflow %d: runs %v do not span %d..%d", e.Seq, runs, first, last)
	}
	return runs
}
