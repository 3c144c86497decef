package outbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/antt-gateway/antt/device/devtest"
)

// TestDiskFullAcrossRestart: the disk fills while the outbox holds a
// backlog, and the gateway restarts with the disk still full. The reserve
// file made before the restart is still on disk; the reopened outbox must
// count it as its own and release it when an ack meets ENOSPC, so the
// backlog drains with the disk full.
func TestDiskFullAcrossRestart(t *testing.T) {
	dir := devtest.MountTmpfs(t, 4<<20)
	path := filepath.Join(dir, "outbox.db")
	opt := testOptions()
	opt.MaxBytes = 16 << 20
	o := open(t, path, opt)
	if _, err := os.Stat(path + ".reserve"); err != nil {
		t.Fatalf("no disk reserve: %v", err)
	}
	ctx := context.Background()
	stored := map[uint64]bool{}
	for i := range 3000 {
		e := motion(i)
		e.Attrs["pad"] = strings.Repeat("x", 200)
		seq, err := o.Append(ctx, e)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		stored[seq] = true
	}
	fill(t, filepath.Join(dir, "other"), 0)
	o.Close()

	// The first ack after the restart needs a page the disk no longer has
	// (injected once: which commit meets ENOSPC first depends on bbolt's
	// freelist).
	var once atomic.Bool
	opt.FailCommit = func() error {
		if once.CompareAndSwap(false, true) {
			return fmt.Errorf("write page: %w", syscall.ENOSPC)
		}
		return nil
	}
	o = open(t, path, opt)
	stn := newStation()
	stn.drain(t, o)
	for seq := range stored {
		if !stn.got[seq] && !stn.lost[seq] {
			t.Fatalf("seq %d was stored but neither delivered nor reported dropped", seq)
		}
	}
	if d := o.Stats().Depth; d != 0 {
		t.Fatalf("%d records left after draining with the disk full", d)
	}
	if _, err := os.Stat(path + ".reserve"); err == nil {
		t.Fatal("the reserve left from before the restart was not released for the ack that met ENOSPC")
	}
	t.Logf("%d stored, %d delivered after the restart with the disk full", len(stored), len(stn.got))
}
