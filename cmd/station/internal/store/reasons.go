package store

import (
	"fmt"
	"strings"
)

// Causes of a gap, as ParseReason reads a Gap.Reason back.
const (
	// CauseOverflow: the gateway's outbox was full and dropped the oldest
	// events (an outbox_overflow event, Cause.Seq, reported it).
	CauseOverflow = "outbox_overflow"
	// CauseReset: the gateway's outbox file was damaged, moved aside and
	// started afresh (a storage_reset event, Cause.Seq).
	CauseReset = "storage_reset"
	// CauseDroppedReset: as CauseReset, but the storage_reset event
	// (Cause.ResetSeq) was itself dropped by a later overflow, whose
	// outbox_overflow event (Cause.Seq) named it.
	CauseDroppedReset = "storage_reset_dropped"
)

// Cause is a gap's reason in parts: which event of the gateway explains
// it, and what that event said.
type Cause struct {
	Kind string `json:"kind"`
	// Seq is the explaining event's (an outbox_overflow or storage_reset
	// of the same epoch).
	Seq uint64 `json:"seq"`
	// Dropped is the outbox_overflow event's count (HasDropped when it
	// gave one).
	Dropped    uint64 `json:"dropped,omitempty"`
	HasDropped bool   `json:"-"`
	// ResumedSeq is the storage_reset event's resumed_seq, when given.
	ResumedSeq uint64 `json:"resumed_seq,omitempty"`
	// ResetSeq is the dropped storage_reset event's seq.
	ResetSeq uint64 `json:"reset_seq,omitempty"`
}

// ParseReason reads a Gap.Reason written by this package (attrs.go:
// overflowReason, resetReason, droppedResetReason) back into its parts. It
// reports false for any other text (a reason a newer station wrote).
func ParseReason(reason string) (Cause, bool) {
	var c Cause
	switch {
	case strings.HasPrefix(reason, "outbox_overflow (event "):
		c.Kind = CauseOverflow
		if n, _ := fmt.Sscanf(reason, "outbox_overflow (event %d, %d dropped)", &c.Seq, &c.Dropped); n == 2 {
			c.HasDropped = true
			return c, reason == overflowText(c)
		}
		if n, _ := fmt.Sscanf(reason, "outbox_overflow (event %d)", &c.Seq); n == 1 {
			return c, reason == overflowText(c)
		}
	case strings.HasPrefix(reason, "storage_reset (event "):
		c.Kind = CauseReset
		if n, _ := fmt.Sscanf(reason, "storage_reset (event %d, resumed at seq %d)", &c.Seq, &c.ResumedSeq); n == 2 {
			return c, reason == resetText(c, true)
		}
		if n, _ := fmt.Sscanf(reason, "storage_reset (event %d)", &c.Seq); n == 1 {
			return c, reason == resetText(c, false)
		}
	case strings.HasPrefix(reason, "storage_reset "):
		c.Kind = CauseDroppedReset
		if n, _ := fmt.Sscanf(reason, "storage_reset %d (dropped, reported by outbox_overflow %d)", &c.ResetSeq, &c.Seq); n == 2 {
			return c, reason == droppedResetText(c)
		}
	}
	return Cause{}, false
}

// overflowText, resetText and droppedResetText write a reason from its
// parts: attrs.go writes reasons with them, and ParseReason rebuilds the
// text it read to accept exactly that (Sscanf alone would accept trailing
// text).
func overflowText(c Cause) string {
	if c.HasDropped {
		return fmt.Sprintf("outbox_overflow (event %d, %d dropped)", c.Seq, c.Dropped)
	}
	return fmt.Sprintf("outbox_overflow (event %d)", c.Seq)
}

func resetText(c Cause, resumed bool) string {
	if resumed {
		return fmt.Sprintf("storage_reset (event %d, resumed at seq %d)", c.Seq, c.ResumedSeq)
	}
	return fmt.Sprintf("storage_reset (event %d)", c.Seq)
}

func droppedResetText(c Cause) string {
	return fmt.Sprintf("storage_reset %d (dropped, reported by outbox_overflow %d)", c.ResetSeq, c.Seq)
}
