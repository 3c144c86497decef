package watchdog

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// OpenDevice opens a Linux watchdog device (which arms it) and asks it for
// timeout with WDIOC_SETTIMEOUT. A device or file that does not take the
// ioctl keeps its own timeout; that is not an error, as some drivers have a
// fixed one.
func OpenDevice(path string, timeout time.Duration) (Device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	if err := setTimeout(f, secs); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// setTimeout asks for secs; drivers without the ioctl (ENOTTY, EINVAL,
// EOPNOTSUPP) or with a fixed timeout keep theirs.
func setTimeout(f *os.File, secs int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("set timeout: %w", err)
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetPointerInt(int(fd), unix.WDIOC_SETTIMEOUT, secs)
	}); err != nil {
		return fmt.Errorf("set timeout: %w", err)
	}
	switch {
	case ierr == nil,
		errors.Is(ierr, unix.ENOTTY), errors.Is(ierr, unix.EINVAL), errors.Is(ierr, unix.EOPNOTSUPP):
		return nil
	}
	return fmt.Errorf("set timeout %ds: %w", secs, ierr)
}
