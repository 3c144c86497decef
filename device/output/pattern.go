package output

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Pattern kinds.
const (
	Steady = "steady" // on for the whole activation
	Pulse  = "pulse"  // on and off at Hz with Duty (a strobe, a pulsing siren)
	Chirp  = "chirp"  // Count short beeps, then off: arming feedback, chime
)

// Pattern limits and the chirp's timing.
const (
	DefaultHz    = 1.0
	DefaultDuty  = 0.5
	MaxHz        = 20.0 // a relay or a siren driver does not switch faster usefully
	MinDuty      = 0.05
	MaxDuty      = 0.95
	MaxChirps    = 10
	ChirpOn      = 100 * time.Millisecond
	ChirpOff     = 150 * time.Millisecond
	maxPatternIn = 64 // bytes of a pattern string we parse
)

// Pattern is how an active output drives its line. The zero value is steady.
type Pattern struct {
	Kind  string  `json:"kind"`
	Hz    float64 `json:"hz,omitempty"`    // pulse: switching frequency
	Duty  float64 `json:"duty,omitempty"`  // pulse: fraction of each period on
	Count int     `json:"count,omitempty"` // chirp: how many beeps
}

// Normal returns p with defaults filled in (steady for the zero value, 1 Hz
// at 50 % for a bare pulse, one beep for a bare chirp).
func (p Pattern) Normal() Pattern {
	switch p.Kind {
	case "", Steady:
		return Pattern{Kind: Steady}
	case Pulse:
		if p.Hz == 0 {
			p.Hz = DefaultHz
		}
		if p.Duty == 0 {
			p.Duty = DefaultDuty
		}
		p.Count = 0
	case Chirp:
		if p.Count == 0 {
			p.Count = 1
		}
		p.Hz, p.Duty = 0, 0
	}
	return p
}

// Validate reports what is wrong with p (after Normal).
func (p Pattern) Validate() error {
	p = p.Normal()
	switch p.Kind {
	case Steady:
	case Pulse:
		if !(p.Hz > 0 && p.Hz <= MaxHz) {
			return fmt.Errorf("pattern pulse: frequency %v Hz is not in (0, %v]", p.Hz, MaxHz)
		}
		if !(p.Duty >= MinDuty && p.Duty <= MaxDuty) {
			return fmt.Errorf("pattern pulse: duty %v%% is not in [%v, %v]%%", p.Duty*100, MinDuty*100, MaxDuty*100)
		}
	case Chirp:
		if p.Count < 1 || p.Count > MaxChirps {
			return fmt.Errorf("pattern chirp: count %d is not in [1, %d]", p.Count, MaxChirps)
		}
	default:
		return fmt.Errorf("pattern %q is not one of steady, pulse, chirp", p.Kind)
	}
	return nil
}

// String gives the form ParsePattern reads back: "steady", "pulse 2Hz 25%",
// "chirp 2".
func (p Pattern) String() string {
	p = p.Normal()
	switch p.Kind {
	case Pulse:
		return fmt.Sprintf("pulse %sHz %s%%", strconv.FormatFloat(p.Hz, 'g', -1, 64), strconv.FormatFloat(p.Duty*100, 'g', -1, 64))
	case Chirp:
		return fmt.Sprintf("chirp %d", p.Count)
	}
	return p.Kind
}

// ParsePattern reads a pattern as written in the config and in commands:
// "steady", "pulse", "pulse 2Hz", "pulse 2Hz 25%", "chirp", "chirp 3".
// Errors name the part that is wrong.
func ParsePattern(s string) (Pattern, error) {
	if len(s) > maxPatternIn {
		return Pattern{}, fmt.Errorf("pattern: longer than %d bytes", maxPatternIn)
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return Pattern{Kind: Steady}, nil
	}
	p := Pattern{Kind: strings.ToLower(f[0])}
	switch p.Kind {
	case Steady:
		if len(f) > 1 {
			return Pattern{}, fmt.Errorf("pattern %q: steady takes no parameters", s)
		}
	case Pulse:
		for _, w := range f[1:] {
			lw := strings.ToLower(w)
			switch {
			case strings.HasSuffix(lw, "hz") && p.Hz == 0:
				v, err := strconv.ParseFloat(strings.TrimSuffix(lw, "hz"), 64)
				if err != nil || math.IsNaN(v) || v <= 0 {
					return Pattern{}, fmt.Errorf("pattern %q: %q is not a frequency like 2Hz", s, w)
				}
				p.Hz = v
			case strings.HasSuffix(lw, "%") && p.Duty == 0:
				v, err := strconv.ParseFloat(strings.TrimSuffix(lw, "%"), 64)
				if err != nil || math.IsNaN(v) || v <= 0 {
					return Pattern{}, fmt.Errorf("pattern %q: %q is not a duty like 50%%", s, w)
				}
				p.Duty = v / 100
			default:
				return Pattern{}, fmt.Errorf("pattern %q: unexpected %q (pulse takes a frequency like 2Hz and a duty like 50%%)", s, w)
			}
		}
	case Chirp:
		if len(f) > 2 {
			return Pattern{}, fmt.Errorf("pattern %q: chirp takes one count", s)
		}
		if len(f) == 2 {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return Pattern{}, fmt.Errorf("pattern %q: %q is not a count of chirps", s, f[1])
			}
			p.Count = n
			if n == 0 {
				return Pattern{}, fmt.Errorf("pattern %q: count must be at least 1", s)
			}
		}
	default:
		return Pattern{}, fmt.Errorf("pattern %q: %q is not one of steady, pulse, chirp", s, f[0])
	}
	p = p.Normal()
	if err := p.Validate(); err != nil {
		return Pattern{}, err
	}
	return p, nil
}

// period returns the on and off phases of a pulse.
func (p Pattern) phases() (on, off time.Duration) {
	period := time.Duration(float64(time.Second) / p.Hz)
	on = time.Duration(float64(period) * p.Duty)
	if on <= 0 {
		on = time.Millisecond
	}
	off = period - on
	if off <= 0 {
		off = time.Millisecond
	}
	return on, off
}

// chirpLength is how long a chirp pattern runs.
func (p Pattern) chirpLength() time.Duration {
	return time.Duration(p.Count)*ChirpOn + time.Duration(p.Count-1)*ChirpOff
}
