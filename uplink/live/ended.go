package live

import "time"

// Ended sessions' figures are kept for a while after the close so that a
// live.stats sent after it (the station reads the bytes of a playback that
// ended by itself, or of a close that crossed its last stats) still
// answers. Bounded in count: the oldest go first.
const (
	// EndedKeep is how long an ended session's figures answer live.stats.
	EndedKeep = 2 * time.Minute
	// EndedMax bounds the ended sessions kept.
	EndedMax = 64
)

// endedStats is one ended session's last figures.
type endedStats struct {
	st    SessionStats
	until time.Time
}

// keepEnded remembers st until now+EndedKeep. Called with m.mu held.
func (m *Manager) keepEnded(st SessionStats, now time.Time) {
	if m.ended == nil {
		m.ended = map[string]endedStats{}
	}
	m.dropEnded(now)
	for len(m.ended) >= EndedMax {
		oldest, at := "", time.Time{}
		for id, e := range m.ended {
			if oldest == "" || e.until.Before(at) {
				oldest, at = id, e.until
			}
		}
		delete(m.ended, oldest)
	}
	m.ended[st.Session] = endedStats{st: st, until: now.Add(EndedKeep)}
}

// dropEnded forgets the figures whose time is up. Called with m.mu held.
func (m *Manager) dropEnded(now time.Time) {
	for id, e := range m.ended {
		if !now.Before(e.until) {
			delete(m.ended, id)
		}
	}
}

// endedStatsOf returns the kept figures of an ended session. Called with
// m.mu held.
func (m *Manager) endedStatsOf(id string, now time.Time) (SessionStats, bool) {
	e, ok := m.ended[id]
	if !ok || !now.Before(e.until) {
		return SessionStats{}, false
	}
	return e.st, true
}
