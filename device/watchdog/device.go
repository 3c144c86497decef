package watchdog

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// OpenDevice opens a Linux watchdog device (which arms it) and asks it for
// timeout with WDIOC_SETTIMEOUT. A driver that refuses (a fixed or smaller
// maximum timeout, as the Raspberry Pi's bcm2835 with about 15 s) keeps its
// own; the returned Device reports the timeout in force (from
// WDIOC_GETTIMEOUT) so the feeding can be sped up to match. A file that is no
// watchdog at all (ENOTTY, as in tests) is written to like one.
func OpenDevice(path string, timeout time.Duration) (Device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	d := &linuxDevice{File: f}
	secs := int((timeout + time.Second - 1) / time.Second)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("set timeout: %w", err)
	}
	var setErr, getErr error
	var got int
	if err := rc.Control(func(fd uintptr) {
		setErr = unix.IoctlSetPointerInt(int(fd), unix.WDIOC_SETTIMEOUT, secs)
		got, getErr = unix.IoctlGetInt(int(fd), unix.WDIOC_GETTIMEOUT)
	}); err != nil {
		f.Close()
		return nil, fmt.Errorf("set timeout: %w", err)
	}
	if setErr != nil && !refused(setErr) {
		f.Close()
		return nil, fmt.Errorf("set timeout %ds: %w", secs, setErr)
	}
	if getErr == nil && got > 0 {
		d.timeout = time.Duration(got) * time.Second
	}
	return d, nil
}

// refused tells the errors of a driver that does not take the timeout asked
// for, of a file that is no watchdog, or of an emulator that does not pass
// the ioctl on (qemu-user answers ENOSYS).
func refused(err error) bool {
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

// linuxDevice is an open /dev/watchdog.
type linuxDevice struct {
	*os.File
	timeout time.Duration // in force, as the driver reports it; 0 if unknown
}

// Timeout is the timeout the driver reports, 0 when unknown.
func (d *linuxDevice) Timeout() time.Duration { return d.timeout }
