package watchdog

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Recent is a Check for a loop that stamps each iteration (the uplink's and
// the sensors' LastLoop): it fails once last is more than limit ago. A zero
// last (the loop has not started) counts from when Recent was called, so a
// loop gets limit to start.
func Recent(last func() time.Time, limit time.Duration) Check {
	created := time.Now()
	return func(context.Context) error {
		t := last()
		if t.IsZero() {
			if d := time.Since(created); d > limit {
				return fmt.Errorf("has not started in %s (limit %s)", d.Round(time.Millisecond), limit)
			}
			return nil
		}
		if d := time.Since(t); d > limit {
			return fmt.Errorf("no progress for %s (limit %s)", d.Round(time.Millisecond), limit)
		}
		return nil
	}
}

// Answers is a Check for a goroutine that can be asked to answer (the
// outbox writer's Ping): each round asks once, within the round's time. A
// slow answer is tolerated; the check fails only when no answer has come
// for longer than limit, so one long commit does not reboot the board but a
// writer hung in fsync does.
func Answers(ping func(context.Context) error, limit time.Duration) Check {
	var (
		mu     sync.Mutex
		lastOK = time.Now()
	)
	return func(ctx context.Context) error {
		err := ping(ctx)
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			lastOK = time.Now()
			return nil
		}
		if d := time.Since(lastOK); d > limit {
			return fmt.Errorf("no answer for %s (limit %s): %w", d.Round(time.Millisecond), limit, err)
		}
		return nil
	}
}
