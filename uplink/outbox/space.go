package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxBytesLimit is the largest Options.MaxBytes a platform whose int has
// intSize bits can use. bbolt maps the whole file, rounded up to a power of
// two up to 1 GiB and in 1 GiB steps beyond: on a 32-bit board (GOARCH arm)
// a map above 1 GiB does not fit the process's address space next to the
// Go heap, so 1 GiB is the limit there. On 64-bit boards the limit is the
// SD card, not the address space.
func MaxBytesLimit(intSize int) int64 {
	if intSize == 32 {
		return 1 << 30
	}
	return 1 << 40
}

// platformMaxBytes is MaxBytesLimit of the running program.
var platformMaxBytes = MaxBytesLimit(strconv.IntSize)

// spaceCheckEvery is how often the writer measures the file system again
// after a commit (the effective bound and the reserve follow what it finds).
const spaceCheckEvery = 10 * time.Second

// newEpoch makes a fresh epoch: 64 random bits as 16 hexadecimal digits.
func newEpoch() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make epoch: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// isNoSpace reports a full file system. bbolt formats some of its file
// errors with %s, which loses the errno, so the message is checked too.
func isNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), syscall.ENOSPC.Error()))
}

// reserveSizeFor is the size of the reserve file for a file system of
// total bytes and a configured bound of maxBytes: a sixteenth of the bound
// the partition can hold, between 64 KiB and 4 MiB. It only has to carry
// the commits that free pages (acks and drops) until freed pages can be
// reused; bbolt reuses them from the next transaction on.
func reserveSizeFor(maxBytes, total int64) int64 {
	b := maxBytes
	if total > 0 {
		b = min(b, total)
	}
	return min(max(b/16, 64<<10), 4<<20) &^ 4095
}

// headroomFor is what the outbox leaves free on a file system of total
// bytes for the rest of the gateway: a thirty-second, at most 4 MiB.
func headroomFor(total int64) int64 { return min(total/32, 4<<20) }

// allocated is how many bytes of disk the file holds (sparse parts of a
// bbolt file hold none).
func allocated(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return fi.Size()
}

// fsSpace is a file system's size and what an unprivileged writer may still
// use of it.
func fsSpace(dir string) (total, avail int64, err error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(s.Blocks) * int64(s.Bsize), int64(s.Bavail) * int64(s.Bsize), nil
}

// effectiveBound is the bound the outbox really uses: the configured one,
// capped by what it holds on disk plus what the file system still has once
// the headroom and (when released) the reserve are left to others, never
// below MinMaxBytes, in whole 4 KiB pages.
func effectiveBound(maxBytes, held, avail, headroom, reserveWanted int64) int64 {
	free := max(0, avail-headroom-reserveWanted)
	return min(maxBytes, max(MinMaxBytes, held+free)) &^ 4095
}

// checkSpace measures the file system, re-creates a released reserve when
// there is room for it, and sets the effective bound and the payload budget.
// Writer-owned (and called by Open before the writer starts).
func (o *Outbox) checkSpace() {
	o.spaceChecked = o.opt.Now()
	total, avail, err := o.opt.statfs(filepath.Dir(o.path))
	if err != nil {
		if o.bound.Load() == 0 {
			o.setBound(o.opt.MaxBytes)
		}
		o.log.Warn("cannot measure the data partition; keeping the bound", "err", err)
		return
	}
	if o.reserveSize == 0 {
		o.reserveSize = reserveSizeFor(o.opt.MaxBytes, total)
	}
	headroom := headroomFor(total)
	if !o.reserveHeld {
		// A reserve left by the last run (a restart with the disk full) is
		// ours: taken over, it can be released for the first ack that meets
		// ENOSPC. One too small to serve is deleted and its space counted.
		if a := allocated(o.reservePath()); a >= o.reserveSize {
			o.reserveHeld = true
		} else if a > 0 && os.Remove(o.reservePath()) == nil {
			avail += a
		}
	}
	// Twice the reserve must be free to take it again, so that a reserve
	// just released for a commit is not re-created out of its own space.
	if !o.reserveHeld && avail-headroom >= 2*o.reserveSize {
		if err := writeReserve(o.reservePath(), o.reserveSize, !o.opt.NoSync); err != nil {
			o.log.Warn("cannot create the disk reserve", "bytes", o.reserveSize, "err", err)
		} else {
			o.reserveHeld = true
			avail -= o.reserveSize
			o.log.Info("disk reserve in place", "bytes", o.reserveSize)
		}
	}
	want := int64(0)
	if !o.reserveHeld {
		want = o.reserveSize
	}
	b := effectiveBound(o.opt.MaxBytes, allocated(o.path), avail, headroom, want)
	if old := o.bound.Load(); old != b {
		if old != 0 {
			o.log.Info("outbox bound follows the data partition", "bound", b, "was", old, "max_bytes", o.opt.MaxBytes)
		} else if b < o.opt.MaxBytes {
			o.log.Warn("data partition smaller than outbox.max_bytes; bound capped", "bound", b, "max_bytes", o.opt.MaxBytes, "partition", total)
		}
		o.setBound(b)
	}
}

// setBound sets the effective bound and the payload budget that follows it.
func (o *Outbox) setBound(b int64) {
	o.bound.Store(b)
	if o.opt.payloadBudget > 0 {
		o.budget.Store(o.opt.payloadBudget)
		return
	}
	o.budget.Store(b / 2)
}

func (o *Outbox) reservePath() string { return o.path + ".reserve" }

// releaseReserve deletes the reserve file so that the commit that failed
// with ENOSPC can be retried in its space; false when none was held.
func (o *Outbox) releaseReserve() bool {
	if !o.reserveHeld {
		return false
	}
	o.reserveHeld = false
	if err := os.Remove(o.reservePath()); err != nil {
		o.log.Error("cannot release the disk reserve", "err", err)
		return false
	}
	o.log.Warn("disk full: released the disk reserve so acks and drops can commit", "bytes", o.reserveSize)
	return true
}

// writeReserve creates the reserve file with real blocks, not a hole, so
// deleting it really frees space: allocated by fallocate where the file
// system can (ext4, f2fs, tmpfs: no data written), else written as zeros.
func writeReserve(path string, size int64, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err = unix.Fallocate(int(f.Fd()), 0, 0, size); errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		err = writeZeros(f, size)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func writeZeros(f *os.File, size int64) error {
	buf := make([]byte, 64<<10)
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			return err
		}
	}
	return nil
}
