package alarm

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/output/statefile"
)

// State is what the alarm logic keeps across reboots and power cuts.
type State struct {
	Mode         string            `json:"mode"`
	Since        time.Time         `json:"since,omitzero"`
	Origin       Origin            `json:"origin"`
	Bypass       map[string]Bypass `json:"bypass,omitempty"`
	ScheduleDone time.Time         `json:"schedule_done,omitzero"`
	// Trips counts the alarms each sensor sounded in this arming period
	// (swinger shutdown), so a reboot or a crash loop cannot reset it.
	Trips map[string]int `json:"trips,omitempty"`
}

// Bypass is one stored bypass.
type Bypass struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason,omitempty"`
}

// Store keeps the State durably. Save returns only once the state would
// survive a power cut; Load returns the zero State when nothing was stored
// yet.
type Store interface {
	Load() (State, error)
	Save(State) error
}

// FileStore is a Store in one small JSON file (in the gateway's data
// directory), replaced atomically and fsynced on every Save.
type FileStore struct {
	Path string
}

// Load implements Store. A file that cannot be decoded is moved aside
// (Path.damaged-TIME, never deleted) and reported as an error, so the
// caller can start disarmed and say so.
func (f FileStore) Load() (State, error) {
	data, err := statefile.Read(f.Path)
	if statefile.Missing(err) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("alarm state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		aside := fmt.Sprintf("%s.damaged-%s", f.Path, time.Now().UTC().Format("20060102T150405"))
		if rerr := os.Rename(f.Path, aside); rerr != nil {
			return State{}, fmt.Errorf("alarm state %s: decode: %v; and moving it aside: %w", f.Path, err, rerr)
		}
		return State{}, fmt.Errorf("alarm state %s: decode: %v (moved aside to %s)", f.Path, err, aside)
	}
	return st, nil
}

// Save implements Store.
func (f FileStore) Save(st State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("alarm state: encode: %w", err)
	}
	if err := statefile.Write(f.Path, data); err != nil {
		return fmt.Errorf("alarm state: %w", err)
	}
	return nil
}

// MemStore is a Store in memory, for tests and the demo; Err, when set,
// fails every Save.
type MemStore struct {
	mu    sync.Mutex
	st    State
	saves int
	Err   error
}

// Load implements Store.
func (m *MemStore) Load() (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st, nil
}

// Save implements Store.
func (m *MemStore) Save(st State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return m.Err
	}
	m.st = st
	m.saves++
	return nil
}

// Saves counts successful saves.
func (m *MemStore) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}
