package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Acknowledgements survive closing and reopening the store; a second
// acknowledgement of the same alarm is refused and stores nothing of its
// batch; bad ones name what is wrong.
func TestAcknowledgeDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ev.db")
	l := openLog(t, path)
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if err := l.Acknowledge([]Ack{{Key: "a1", User: "tuan", Outcome: OutcomeFalse, Note: "mèo", At: at, Gateway: "g"}}); err != nil {
		t.Fatal(err)
	}
	err := l.Acknowledge([]Ack{{Key: "a2", User: "tuan", Outcome: OutcomeHandled, At: at}, {Key: "a1", User: "an", Outcome: OutcomeIncident, At: at}})
	if !errors.Is(err, ErrAcknowledged) {
		t.Fatalf("second ack of a1: %v, want ErrAcknowledged", err)
	}
	for _, bad := range []Ack{{Key: "", User: "u", Outcome: OutcomeFalse}, {Key: "k", Outcome: OutcomeFalse}, {Key: "k", User: "u", Outcome: "ok"},
		{Key: "k", User: "u", Outcome: OutcomeFalse, Note: "a\x00b"}} {
		if err := l.Acknowledge([]Ack{bad}); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, path)
	acks, err := l.Acks()
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 1 || acks["a1"].User != "tuan" || acks["a1"].Note != "mèo" || !acks["a1"].At.Equal(at) {
		t.Fatalf("after reopen: %+v", acks)
	}
}
