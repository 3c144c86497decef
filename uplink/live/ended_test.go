package live

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Ended sessions' figures answer Stats for EndedKeep, then not; at most
// EndedMax are kept, the oldest dropped first; the minute's tick drops
// those whose time is up.
func TestEndedStatsKeptBounded(t *testing.T) {
	m := &Manager{sessions: map[string]*session{}, offers: map[string]*memo{}}
	t0 := time.Now()
	id := func(i int) string { return fmt.Sprintf("%032x", i) }
	m.mu.Lock()
	for i := range EndedMax + 6 {
		m.keepEnded(SessionStats{Session: id(i), State: "closed", Bytes: uint64(i)}, t0.Add(time.Duration(i)*time.Millisecond))
	}
	n := len(m.ended)
	m.mu.Unlock()
	if n != EndedMax {
		t.Fatalf("%d ended sessions kept, want the bound %d", n, EndedMax)
	}
	if _, err := m.Stats(id(5)); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("one of the oldest, past the bound: %v", err)
	}
	st, err := m.Stats(id(EndedMax + 5))
	if err != nil || st.Bytes != EndedMax+5 || st.State != "closed" {
		t.Errorf("the newest: %+v, %v", st, err)
	}
	m.mu.Lock()
	_, kept := m.endedStatsOf(id(EndedMax+5), t0.Add(EndedKeep+time.Second))
	m.mu.Unlock()
	if kept {
		t.Error("figures answered after EndedKeep")
	}
	m.forget(t0.Add(EndedKeep + time.Second))
	if len(m.ended) != 0 {
		t.Errorf("%d ended sessions left after the tick past EndedKeep", len(m.ended))
	}
}
