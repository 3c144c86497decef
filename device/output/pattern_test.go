package output

import (
	"strings"
	"testing"
	"time"
)

func TestParsePattern(t *testing.T) {
	for in, want := range map[string]Pattern{
		"":              {Kind: Steady},
		"steady":        {Kind: Steady},
		"pulse":         {Kind: Pulse, Hz: 1, Duty: 0.5},
		"pulse 2Hz":     {Kind: Pulse, Hz: 2, Duty: 0.5},
		"Pulse 25% 4hz": {Kind: Pulse, Hz: 4, Duty: 0.25},
		"chirp":         {Kind: Chirp, Count: 1},
		"chirp 3":       {Kind: Chirp, Count: 3},
	} {
		got, err := ParsePattern(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := ParsePattern(got.String()); err != nil || back != got {
			t.Errorf("%q: String %q reads back as %+v, %v", in, got.String(), back, err)
		}
	}
	for in, want := range map[string]string{
		"disco":          `"disco" is not one of`,
		"steady 2Hz":     "steady takes no parameters",
		"pulse 30Hz":     "frequency 30 Hz",
		"pulse 2Hz 99%":  "duty 99%",
		"pulse fastHz":   "not a frequency",
		"pulse 2Hz 3Hz":  `unexpected "3Hz"`,
		"chirp 0":        "at least 1",
		"chirp 11":       "count 11",
		"chirp two":      "not a count",
		"pulse NaNHz":    "not a frequency",
		"pulse 50% nan%": "unexpected",
	} {
		if _, err := ParsePattern(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	if p := (Pattern{Kind: Chirp, Count: 2}); p.chirpLength() != 2*ChirpOn+ChirpOff {
		t.Fatal("chirp length")
	}
	if on, off := (Pattern{Kind: Pulse, Hz: 2, Duty: 0.25}).phases(); on != 125*time.Millisecond || off != 375*time.Millisecond {
		t.Fatalf("phases %s %s", on, off)
	}
}

// FuzzParsePattern: whatever is accepted is valid and reads back the same
// from its String. Seeds are in testdata/fuzz/FuzzParsePattern.
func FuzzParsePattern(f *testing.F) {
	f.Add("pulse 2Hz 25%")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePattern(s)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("%q accepted as invalid %+v: %v", s, p, err)
		}
		back, err := ParsePattern(p.String())
		if err != nil || back != p {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, p, p.String(), back, err)
		}
	})
}
