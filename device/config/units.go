package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size units. Binary ones (KiB, MiB, GiB, TiB) are what disks and the
// outbox bound are usually reasoned in; SI ones (KB, MB, GB, TB) are
// accepted too and mean powers of 1000, as on a drive's label.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"tb":  1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// sizeHint is how a size should look; it ends every size error.
const sizeHint = "(like 256MiB, 1GiB, 512KiB, 500MB or a number of bytes)"

// ParseSize reads a byte count: a whole number of bytes ("1000000") or a
// whole number followed by a unit, with or without a space: 512KiB, 256MiB,
// 1GiB, 1TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), B.
// Units are matched without regard to case ("256mib" works).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '_') {
		i++
	}
	num, unit := strings.ReplaceAll(t[:i], "_", ""), strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q is not a size %s", s, sizeHint)
	}
	mult, ok := sizeUnits[unit]
	if !ok && strings.HasPrefix(unit, ".") {
		return 0, fmt.Errorf("%q is not a size: use a whole number in a smaller unit (like 1536MiB for 1.5GiB)", s)
	}
	if !ok {
		return 0, fmt.Errorf("%q is not a size: unknown unit %q %s", s, t[i:], sizeHint)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large a size", s)
	}
	return n * mult, nil
}

// FormatSize prints n the way a person would write it in the file: with the
// largest binary unit that divides it exactly, else in bytes.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// errNoUnit is returned for a bare non-zero number: "30" could mean
// seconds or milliseconds, so the file has to say.
var errNoUnit = errors.New("no unit")

// ParseDuration reads a non-negative Go duration ("50ms", "2s", "1m30s",
// "0"). Negative durations are rejected: no setting here counts backwards.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(t, 64); err == nil && t != "0" {
		return 0, fmt.Errorf("%q is not a duration: add a unit (like %ss or %sms): %w", s, t, t, errNoUnit)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 50ms, 2s)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative; durations here must be 0 or more", s)
	}
	return d, nil
}
