package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// fill writes a file in dir until the file system is full and returns its
// size; leave bytes are left free (0: none).
func fill(t testing.TB, path string, leave int64) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i) | 1 // not zeros: a file system may not store those
	}
	var n int64
	for {
		_, avail, err := fsSpace(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if avail <= leave {
			break
		}
		w, err := f.Write(buf[:min(int64(len(buf)), avail-leave)])
		n += int64(w)
		if errors.Is(err, unix.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, unix.ENOSPC) {
		t.Fatal(err)
	}
	return n
}

// station is what a test's uplink delivered: every seq, and the seqs the
// delivered overflow events report lost.
type station struct {
	got  map[uint64]bool
	lost map[uint64]bool
	last uint64
}

func newStation() *station { return &station{got: map[uint64]bool{}, lost: map[uint64]bool{}} }

// drain peeks and acks everything in o, as the uplink does after PUBACKs;
// an Ack that fails fails the test: acks must always commit.
func (s *station) drain(t testing.TB, o *Outbox) int {
	t.Helper()
	n := 0
	for {
		recs, err := o.Peek(s.last, 256)
		if err != nil {
			t.Fatalf("peek: %v", err)
		}
		if len(recs) == 0 {
			return n
		}
		seqs := make([]uint64, 0, len(recs))
		for _, r := range recs {
			e := decode(t, r)
			s.got[r.Seq] = true
			s.last = r.Seq
			seqs = append(seqs, r.Seq)
			if e.Kind == wire.KindOutboxOverflow {
				var a struct {
					Attrs struct {
						First  uint64      `json:"first_seq"`
						Last   uint64      `json:"last_seq"`
						Ranges [][2]uint64 `json:"ranges"`
					} `json:"attrs"`
				}
				if err := json.Unmarshal(r.Data, &a); err != nil {
					t.Fatal(err)
				}
				runs := a.Attrs.Ranges
				if len(runs) == 0 {
					runs = [][2]uint64{{a.Attrs.First, a.Attrs.Last}}
				}
				for _, run := range runs {
					for q := run[0]; q <= run[1]; q++ {
						s.lost[q] = true
					}
				}
			}
		}
		if err := o.Ack(seqs...); err != nil {
			t.Fatalf("ack %d records with the disk full: %v", len(seqs), err)
		}
		n += len(recs)
	}
}

// TestDiskFullOnRealFileSystem fills a real 4 MiB tmpfs under the outbox,
// with outbox.max_bytes below and above its size, and with the other files
// of the disk taking the space before and after the outbox opened. Every
// event whose Append succeeded is delivered or inside a reported overflow
// range, acks never fail, and the outbox keeps draining (and taking new
// events) while the disk stays full.
func TestDiskFullOnRealFileSystem(t *testing.T) {
	const disk = 4 << 20
	for _, c := range []struct {
		name       string
		maxBytes   int64
		fillBefore int64 // bytes left free by the filler before Open; 0: no filler before
		backlog    int   // events appended before the filler takes the rest
	}{
		{"max below disk", 2 << 20, 0, 1000},
		{"max below disk, full backlog", 2 << 20, 0, 12000},
		{"max above disk", 16 << 20, 0, 1000},
		{"max above disk, full backlog", 16 << 20, 0, 12000},
		{"max above disk, disk mostly taken before open", 16 << 20, 1 << 20, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := devtest.MountTmpfs(t, disk)
			path := filepath.Join(dir, "outbox.db")
			if c.fillBefore > 0 {
				fill(t, filepath.Join(dir, "other-before"), c.fillBefore)
			}
			opt := testOptions()
			opt.MaxBytes = c.maxBytes
			o := open(t, path, opt)
			st := o.Stats()
			if st.MaxBytes != c.maxBytes || st.Bound <= 0 || st.Bound > c.maxBytes || st.Bound > disk {
				t.Fatalf("bound %d for max_bytes %d on a %d-byte disk", st.Bound, c.maxBytes, disk)
			}
			if c.maxBytes > disk && st.Bound >= disk-c.fillBefore && c.fillBefore > 0 {
				t.Fatalf("bound %d not capped to the %d bytes left", st.Bound, c.fillBefore)
			}
			if _, err := os.Stat(path + ".reserve"); err != nil {
				t.Fatalf("no disk reserve: %v", err)
			}
			t.Logf("opened: bound %d of max_bytes %d", st.Bound, c.maxBytes)

			ctx := context.Background()
			stored := map[uint64]bool{}
			failed := 0
			add := func(i int) {
				e := motion(i)
				e.Attrs["pad"] = strings.Repeat("x", 200)
				seq, err := o.Append(ctx, e)
				if err != nil {
					if !isNoSpace(err) {
						t.Fatalf("append %d: %v", i, err)
					}
					failed++
					return
				}
				stored[seq] = true
			}
			stn := newStation()
			// A backlog, then the rest of the disk goes to other files
			// while the outbox still grows, and stays taken.
			for i := range c.backlog {
				add(i)
			}
			filled := fill(t, filepath.Join(dir, "other"), 0)
			if _, avail, _ := fsSpace(dir); avail > 0 {
				t.Fatalf("disk not full: %d bytes free", avail)
			}
			// Events keep coming (the outbox overflows) while the uplink
			// drains, the disk full.
			// Whatever a compaction frees goes to the other files at once.
			for round := range 60 {
				for i := range 200 {
					add(20000 + round*200 + i)
				}
				stn.drain(t, o)
				filled += fill(t, filepath.Join(dir, "other"), 0)
			}
			stn.drain(t, o)
			if d := o.Stats().Depth; d != 0 {
				t.Fatalf("%d records left after draining with the disk full", d)
			}
			// Still full, drained: new events are stored and delivered.
			before := len(stored)
			for i := range 500 {
				add(40000 + i)
			}
			if len(stored)-before < 450 {
				t.Fatalf("only %d of 500 appends stored on the drained outbox with the disk full", len(stored)-before)
			}
			stn.drain(t, o)
			for seq := range stored {
				if !stn.got[seq] && !stn.lost[seq] {
					t.Fatalf("seq %d was stored but neither delivered nor reported dropped", seq)
				}
			}
			st = o.Stats()
			t.Logf("filler took %d bytes; %d stored, %d appends refused, %d delivered, %d reported lost, %d commits hit ENOSPC; stats %+v",
				filled, len(stored), failed, len(stn.got), len(stn.lost), o.noSpace.Load(), st)
			if st.Dropped == 0 {
				t.Fatal("no overflow: the test did not fill the outbox")
			}
			if st.Bound > c.maxBytes {
				t.Fatalf("bound %d above max_bytes %d", st.Bound, c.maxBytes)
			}
			// The disk returns: the reserve comes back, the bound too.
			if err := os.Remove(filepath.Join(dir, "other")); err != nil {
				t.Fatal(err)
			}
			o.Close()
			o = open(t, path, opt)
			if _, err := os.Stat(path + ".reserve"); err != nil {
				t.Fatalf("reserve not re-created once space returned: %v", err)
			}
		})
	}
}
