package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Review outcomes: what the officer found when acknowledging an alarm.
const (
	OutcomeFalse    = "false_alarm" // báo động giả
	OutcomeHandled  = "handled"     // đã xử lý
	OutcomeIncident = "incident"    // chuyển thành vụ việc
)

// Ack is an officer's acknowledgement of one alarm. Key names the alarm:
// "a<arrival>" for a record of the arrival index, "offline/<gw>/<unix
// nanoseconds>" for a gateway's offline period (the web console chooses
// them; the store only keeps them).
type Ack struct {
	Key     string    `json:"key"`
	User    string    `json:"user"`
	Outcome string    `json:"outcome"`
	Note    string    `json:"note,omitempty"`
	At      time.Time `json:"at"`
	// Raised is when the alarm was raised, kept so that the time to
	// acknowledge can be counted without the alarm's record.
	Raised time.Time `json:"raised,omitzero"`
	// Gateway is the alarm's gateway, for site limits on the list.
	Gateway string `json:"gateway,omitempty"`
}

// Limits of an acknowledgement.
const (
	MaxAckNote = 500
	maxAckKey  = 200
)

var bktReviews = []byte("reviews")

// ErrAcknowledged is returned (wrapped) for an alarm acknowledged before:
// the first acknowledgement stands.
var ErrAcknowledged = errors.New("already acknowledged")

func (a Ack) check() error {
	switch {
	case a.Key == "" || len(a.Key) > maxAckKey || !utf8.ValidString(a.Key):
		return fmt.Errorf("key %.40q: want 1 to %d bytes of UTF-8", a.Key, maxAckKey)
	case a.User == "":
		return errors.New("user: required")
	case a.Outcome != OutcomeFalse && a.Outcome != OutcomeHandled && a.Outcome != OutcomeIncident:
		return fmt.Errorf("outcome %q: want %s, %s or %s", a.Outcome, OutcomeFalse, OutcomeHandled, OutcomeIncident)
	case len(a.Note) > MaxAckNote || !utf8.ValidString(a.Note):
		return fmt.Errorf("note: at most %d bytes of UTF-8", MaxAckNote)
	case strings.ContainsFunc(a.Note, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' }):
		return errors.New("note: control characters")
	}
	return nil
}

// Acknowledge stores acks in one transaction: all or none. An ack of an
// alarm acknowledged before fails with ErrAcknowledged naming it, and
// nothing of the batch is stored.
func (s *Store) Acknowledge(acks []Ack) error {
	for i, a := range acks {
		if err := a.check(); err != nil {
			return fmt.Errorf("acknowledgement %d: %w", i+1, err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bktReviews)
		if err != nil {
			return err
		}
		for _, a := range acks {
			if b.Get([]byte(a.Key)) != nil {
				return fmt.Errorf("%s: %w", a.Key, ErrAcknowledged)
			}
			v, err := json.Marshal(a)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(a.Key), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store acknowledgements: %w", err)
	}
	return nil
}

// Acks returns every acknowledgement by key.
func (s *Store) Acks() (map[string]Ack, error) {
	out := map[string]Ack{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktReviews)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var a Ack
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("acknowledgement %q: %w", k, err)
			}
			out[string(k)] = a
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read acknowledgements: %w", err)
	}
	return out, nil
}
