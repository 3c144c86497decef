package live

import (
	"sync"
	"time"
)

// dayBytes counts the RTP bytes sent to viewers since the start of the
// current day (in Options.Location), closed sessions included: what the
// SIM paid for live view today, for telemetry.
type dayBytes struct {
	mu     sync.Mutex
	day    string            // "2006-01-02" of the day being counted
	closed uint64            // bytes of sessions that ended today
	base   map[string]uint64 // an open session's bytes when the day began
}

func (m *Manager) dayKey(t time.Time) string {
	loc := m.opts.Location
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format(time.DateOnly)
}

// roll starts a new day when now is past the one being counted. Called
// with d.mu held; sessions are read under m.mu.
func (m *Manager) roll(now time.Time) {
	d := &m.daily
	k := m.dayKey(now)
	if k == d.day {
		return
	}
	d.day, d.closed, d.base = k, 0, map[string]uint64{}
	m.mu.Lock()
	for id, s := range m.sessions {
		d.base[id] = s.st.bytes.Load()
	}
	m.mu.Unlock()
}

// countClosed adds an ended session's bytes of today. Called with
// m.daily.mu held, after roll.
func (m *Manager) countClosed(s *session) {
	d := &m.daily
	b := s.st.bytes.Load()
	d.closed += b - min(b, d.base[s.id])
	delete(d.base, s.id)
}

// BytesToday is the RTP bytes (headers included) sent to every viewer
// since the start of the day, closed sessions included.
func (m *Manager) BytesToday() uint64 { return m.bytesOn(time.Now()) }

func (m *Manager) bytesOn(now time.Time) uint64 {
	d := &m.daily
	d.mu.Lock()
	defer d.mu.Unlock()
	m.roll(now)
	total := d.closed
	m.mu.Lock()
	for id, s := range m.sessions {
		b := s.st.bytes.Load()
		total += b - min(b, d.base[id])
	}
	m.mu.Unlock()
	return total
}
