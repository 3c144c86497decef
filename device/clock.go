package device

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// plausibleSince is a wall-clock floor: a board without a real-time clock
// boots in 1970 (or at its image's build date) until NTP runs, and no event
// of this firmware can truly happen before this date.
var plausibleSince = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// ClockSynced reports whether the wall clock has been set: a board without a
// real-time clock boots in 1970 (or at its image's build date) until NTP
// runs. The kernel's own NTP flag is not used, because a board with a
// battery-backed RTC and no NTP reads the right time but is never flagged.
func ClockSynced(now time.Time) bool { return !now.Before(plausibleSince) }

// NewBootID returns a random id for one start of the process, so a station
// can tell apart events and uptimes from different boots.
func NewBootID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
