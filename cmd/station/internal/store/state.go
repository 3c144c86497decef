package store

import (
	"maps"
	"sort"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// GatewayState is what the station knows of a gateway right now.
type GatewayState struct {
	ID          string          `json:"id"`
	Status      *wire.Status    `json:"status,omitempty"`
	StatusAt    time.Time       `json:"status_at,omitzero"`
	Telemetry   *wire.Telemetry `json:"telemetry,omitempty"`
	TelemetryAt time.Time       `json:"telemetry_at,omitzero"`
	// Epoch and LastSeq are those of the latest event stored since Open.
	Epoch       string    `json:"epoch,omitempty"`
	LastSeq     uint64    `json:"last_seq,omitempty"`
	LastEventAt time.Time `json:"last_event_at,omitzero"`
	// Mode is the alarm mode of the latest live `mode` event and ModeAt
	// when it was stored: an officer who arms a site sees it at once, not
	// at the next telemetry (up to a minute later). A mode event from a
	// backlog (its time more than liveSkew from its arrival, or the clock
	// not synced) is not live and leaves them.
	Mode   string    `json:"mode,omitempty"`
	ModeAt time.Time `json:"mode_at,omitzero"`
}

// liveSkew is how far a mode event's own time may be from its arrival
// and still be the gateway's mode now.
const liveSkew = time.Minute

// Online reports the last status the gateway (or its will) published.
func (g GatewayState) Online() bool { return g.Status != nil && g.Status.Online }

func (s *Store) stateOf(gw string) *GatewayState {
	g, ok := s.state[gw]
	if !ok {
		g = &GatewayState{ID: gw}
		s.state[gw] = g
	}
	return g
}

func (s *Store) noteEvent(gw string, ev wire.Event, at time.Time) {
	s.mu.Lock()
	g := s.stateOf(gw)
	if g.Epoch != ev.Epoch {
		g.Epoch, g.LastSeq = ev.Epoch, 0
	}
	g.LastSeq = max(g.LastSeq, ev.Seq)
	g.LastEventAt = at
	if ev.Kind == "mode" && ev.State != "" && ev.ClockSynced && ev.Time.Sub(at).Abs() <= liveSkew {
		g.Mode, g.ModeAt = ev.State, at
	}
	s.mu.Unlock()
	s.noteCamera(gw, &ev, at) // outages.go
}

// SetStatus records a status message (birth, will or clean stop), and
// durably what it says of the gateway's outages (outages.go).
func (s *Store) SetStatus(gw string, st wire.Status, at time.Time) {
	s.mu.Lock()
	g := s.stateOf(gw)
	prev, seen := g.Status, g.StatusAt
	for _, t := range []time.Time{g.TelemetryAt, g.LastEventAt} {
		seen = maxTime(seen, t)
	}
	g.Status, g.StatusAt = &st, at
	s.mu.Unlock()
	s.noteStatus(gw, prev, seen, st, at)
}

// SetTelemetry records the latest telemetry.
func (s *Store) SetTelemetry(gw string, t wire.Telemetry, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.stateOf(gw)
	g.Telemetry, g.TelemetryAt = &t, at
}

// State returns a copy of what is known of gw.
func (s *Store) State(gw string) (GatewayState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.state[gw]
	if !ok {
		return GatewayState{ID: gw}, false
	}
	return g.clone(), true
}

// States returns a copy of every gateway's state, sorted by id.
func (s *Store) States() []GatewayState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]GatewayState, 0, len(s.state))
	for _, g := range s.state {
		out = append(out, g.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (g *GatewayState) clone() GatewayState {
	c := *g
	if g.Status != nil {
		st := *g.Status
		c.Status = &st
	}
	if g.Telemetry != nil {
		t := *g.Telemetry
		if t.CPUTempC != nil {
			v := *t.CPUTempC
			t.CPUTempC = &v
		}
		if t.Cameras != nil {
			t.Cameras = maps.Clone(t.Cameras)
		}
		c.Telemetry = &t
	}
	return c
}
