package web

import (
	"math"
	"sync"
	"time"
)

// Fetch requests an account may send a gateway: FetchBurst at once, then
// one every FetchEvery (FetchBurst an hour). Each clip.get of a range may
// move 480 MiB over a prepaid 4G link; a script or a held-down button
// must not empty the SIM.
const (
	FetchBurst = 30
	FetchEvery = time.Hour / FetchBurst
)

// fetchLimit is a token bucket per account over the clip.get commands
// the console sends (answers the station gives itself, a clip it already
// holds, take none).
type fetchLimit struct {
	mu sync.Mutex
	b  map[string]*bucketState
}

type bucketState struct {
	tokens float64
	at     time.Time
}

// take spends one of account's tokens at now; when none is left it
// returns false and how long until one is.
func (l *fetchLimit) take(account string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b == nil {
		l.b = map[string]*bucketState{}
	}
	if len(l.b) >= 4096 { // forget full buckets: they are as if new
		for k, b := range l.b {
			if b.fill(now) >= FetchBurst {
				delete(l.b, k)
			}
		}
	}
	b := l.b[account]
	if b == nil {
		b = &bucketState{tokens: FetchBurst, at: now}
		l.b[account] = b
	}
	b.tokens, b.at = b.fill(now), later(b.at, now)
	if b.tokens < 1 {
		return false, time.Duration(math.Ceil((1 - b.tokens) * float64(FetchEvery)))
	}
	b.tokens--
	return true, 0
}

// fill is b's tokens at now (a clock set back adds none).
func (b *bucketState) fill(now time.Time) float64 {
	if !now.After(b.at) {
		return b.tokens
	}
	return min(FetchBurst, b.tokens+float64(now.Sub(b.at))/float64(FetchEvery))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
