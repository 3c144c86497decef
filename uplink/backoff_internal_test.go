package uplink

import (
	"testing"
	"time"
)

func TestBackoffCappedFullJitter(t *testing.T) {
	lo, hi := 500*time.Millisecond, 60*time.Second
	for attempt := range 100 {
		limit := hi
		if attempt < 7 {
			limit = lo << attempt
		}
		for range 50 {
			d := backoff(lo, hi, attempt)
			if d <= 0 || d > limit {
				t.Fatalf("attempt %d: %s outside (0, %s]", attempt, d, limit)
			}
		}
	}
}
