package store

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// TestLiveModeEvent: a mode event that is live (clock synced, its time
// near its arrival) becomes the gateway's mode at once; one from a
// backlog does not.
func TestLiveModeEvent(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mode := func(seq uint64, state string, at time.Time) []byte {
		b, _ := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID("gw", seq), Epoch: "e1", Kind: "mode",
			Source: state, State: state, Time: at, ClockSynced: true, Boot: "b1"})
		return b
	}
	state := func() GatewayState {
		for _, g := range s.States() {
			if g.ID == "gw" {
				return g
			}
		}
		return GatewayState{}
	}
	mustAdd(t, s, "gw", wire.TopicEvent, mode(1, "away", time.Now()))
	if g := state(); g.Mode != "away" || g.ModeAt.IsZero() {
		t.Fatalf("after a live arming: mode %q at %v", g.Mode, g.ModeAt)
	}
	mustAdd(t, s, "gw", wire.TopicEvent, mode(2, "disarmed", time.Now().Add(-time.Hour)))
	if g := state(); g.Mode != "away" {
		t.Fatalf("a backlog's disarm became the mode: %q", g.Mode)
	}
}
