package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
)

// TestPingFailsWhileCommitsFail: after a commit fails (an I/O error), Ping
// fails too, even with nothing else to write, until a commit succeeds again.
func TestPingFailsWhileCommitsFail(t *testing.T) {
	var fail atomic.Bool
	opt := testOptions()
	opt.NoSync = true
	opt.FailCommit = func() error {
		if fail.Load() {
			return fmt.Errorf("write page: %w", syscall.EIO)
		}
		return nil
	}
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), opt)
	ctx := context.Background()
	if err := o.Ping(ctx); err != nil {
		t.Fatalf("Ping on a healthy outbox: %v", err)
	}
	fail.Store(true)
	if _, err := o.Append(ctx, motion(1)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with failing commits: %v", err)
	}
	for range 3 {
		if err := o.Ping(ctx); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Ping while commits fail = %v, want the I/O error", err)
		}
	}
	fail.Store(false)
	if err := o.Ping(ctx); err != nil {
		t.Fatalf("Ping once the disk works again: %v", err)
	}
	if _, err := o.Append(ctx, motion(2)); err != nil {
		t.Fatal(err)
	}
}

// TestReopenAfterCompactionRetried: a reopen that fails after a compaction
// leaves the outbox without a database only until a retry succeeds, which
// the writer makes by itself; meanwhile calls fail with a clear error.
func TestReopenAfterCompactionRetried(t *testing.T) {
	var failures atomic.Int32
	opt := testOptions()
	opt.NoSync = true
	opt.MaxBytes = MinMaxBytes
	opt.CompactAbove = 4096
	opt.reopenHook = func() error {
		if failures.Load() > 0 {
			failures.Add(-1)
			return errors.New("injected open failure")
		}
		return nil
	}
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), opt)
	ctx := context.Background()
	var seqs []uint64
	for i := range 40 {
		seq, err := o.Append(ctx, motion(i))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	failures.Store(3)
	if err := o.Ack(seqs...); err != nil {
		t.Fatalf("the ack itself committed before the compaction: %v", err)
	}
	if _, err := o.Peek(0, 10); err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("Peek without a database = %v, want an error naming the reopen", err)
	}
	// Nothing asks: the writer retries on its own.
	devtest.WaitFor(t, 10*time.Second, "the database reopened", func() bool {
		_, err := o.Peek(0, 10)
		return err == nil
	})
	seq, err := o.Append(ctx, motion(99))
	if err != nil || seq != seqs[len(seqs)-1]+1 {
		t.Fatalf("append after the reopen: seq %d, %v", seq, err)
	}
	if err := o.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestNoSpaceDropsInACommitOfItsOwn: after ENOSPC, the room is made in a
// commit of its own before the new events are stored.
func TestNoSpaceDropsInACommitOfItsOwn(t *testing.T) {
	var fail atomic.Bool
	opt := testOptions()
	opt.NoSync = true
	opt.FailCommit = func() error {
		if fail.Load() {
			return fmt.Errorf("write page: %w", syscall.ENOSPC)
		}
		return nil
	}
	o := open(t, filepath.Join(t.TempDir(), "outbox.db"), opt)
	ctx := context.Background()
	for i := range 80 {
		if _, err := o.Append(ctx, motion(i)); err != nil {
			t.Fatal(err)
		}
	}
	fail.Store(true)
	if _, err := o.Append(ctx, motion(100)); !isNoSpace(err) {
		t.Fatalf("append on a full disk: %v", err)
	}
	fail.Store(false)
	before := o.Commits()
	if _, err := o.Append(ctx, motion(101)); err != nil {
		t.Fatal(err)
	}
	if n := o.Commits() - before; n != 2 {
		t.Fatalf("%d commits for drop and append, want 2 (the drop on its own)", n)
	}
}

// TestMaxBytesLimit: a 32-bit board refuses a bound bbolt cannot map there.
func TestMaxBytesLimit(t *testing.T) {
	if got := MaxBytesLimit(32); got != 1<<30 {
		t.Fatalf("32-bit limit %d, want 1 GiB", got)
	}
	if got := MaxBytesLimit(64); got < 1<<40 {
		t.Fatalf("64-bit limit %d", got)
	}
	if MaxBytesLimit(strconv.IntSize) != platformMaxBytes {
		t.Fatal("platform limit is not the one for this int size")
	}
	opt := testOptions()
	opt.MaxBytes = platformMaxBytes + 1
	_, err := Open(filepath.Join(t.TempDir(), "outbox.db"), opt)
	if err == nil || !strings.Contains(err.Error(), "bit platform") {
		t.Fatalf("Open with max bytes beyond the platform limit: %v", err)
	}
}

// TestEffectiveBound: the bound follows the partition and never drops below
// what the outbox already holds on disk.
func TestEffectiveBound(t *testing.T) {
	for _, c := range []struct {
		max, held, avail, headroom, reserve, want int64
	}{
		{256 << 20, 0, 8 << 30, 4 << 20, 4 << 20, 256 << 20},       // plenty of room
		{256 << 20, 1 << 20, 64 << 20, 2 << 20, 4 << 20, 59 << 20}, // small partition
		{256 << 20, 10 << 20, 0, 2 << 20, 4 << 20, 10 << 20},       // full: what it holds
		{256 << 20, 0, 0, 2 << 20, 4 << 20, MinMaxBytes},           // full and empty: the minimum
		{2 << 20, 1 << 20, 64 << 20, 2 << 20, 0, 2 << 20},          // max below the partition
	} {
		if got := effectiveBound(c.max, c.held, c.avail, c.headroom, c.reserve); got != c.want {
			t.Errorf("effectiveBound(%+v) = %d, want %d", c, got, c.want)
		}
	}
}
