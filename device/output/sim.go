package output

import (
	"log/slog"
	"sync"
)

// Sim is a Line with no hardware: it keeps and logs its level, for the
// demo gateway and end-to-end tests, which read it through Level.
type Sim struct {
	name string
	log  *slog.Logger

	mu      sync.Mutex
	on      bool
	changes uint64
}

// NewSim returns a simulated line called name; a nil logger logs nothing.
func NewSim(name string, log *slog.Logger) *Sim { return &Sim{name: name, log: log} }

// Set implements Line.
func (s *Sim) Set(on bool) error {
	s.mu.Lock()
	changed := s.on != on
	s.on = on
	if changed {
		s.changes++
	}
	s.mu.Unlock()
	if changed && s.log != nil {
		s.log.Debug("sim output line", "line", s.name, "on", on)
	}
	return nil
}

// String implements Line.
func (s *Sim) String() string { return "sim:" + s.name }

// Level reports whether the line is on.
func (s *Sim) Level() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.on
}

// Changes counts level changes since the line was made.
func (s *Sim) Changes() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changes
}
