package output

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// SystemBoot reads the kernel's boot id and CLOCK_BOOTTIME.
type SystemBoot struct{}

// ID implements Boot with /proc/sys/kernel/random/boot_id.
func (SystemBoot) ID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Since implements Boot with CLOCK_BOOTTIME (it counts suspend too).
func (SystemBoot) Since() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
