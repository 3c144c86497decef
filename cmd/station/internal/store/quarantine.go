package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// A payload the store refuses as invalid (ErrInvalid: bad JSON, a wrong
// id, an event above MaxEventBytes, ...) can never be stored, and the
// broker acknowledges it so the gateway does not send it forever. So that
// it is not lost without a trace, the store first commits a quarantine
// entry of it (Quarantined, listed by "station dump"), and only then
// answers the Submit, with the ErrInvalid error: the gateway's PUBACK
// comes after the entry is on disk. A failed commit of the entry is a
// store error like any other (the gateway sends again).
//
// Entries are bounded: the first MaxQuarantinePayload bytes of each
// payload are kept (with its size and SHA-256), and only the newest
// MaxQuarantined entries; older ones are deleted as new ones come.
const (
	MaxQuarantinePayload = 16 << 10
	MaxQuarantined       = 1000
)

var bktQuarantine = []byte("quarantine")

// Quarantined is one refused payload.
type Quarantined struct {
	// N numbers the entries in the order they were refused.
	N       uint64    `json:"n"`
	Time    time.Time `json:"time"`
	Gateway string    `json:"gateway"`
	Topic   string    `json:"topic"` // below {prefix}/{gateway}/
	Error   string    `json:"error"`
	Bytes   int       `json:"bytes"`
	SHA256  string    `json:"sha256"`
	// Payload is the payload's start, as text when it is valid UTF-8
	// (PayloadB64 empty), else base64 in PayloadB64.
	Payload    string `json:"payload,omitempty"`
	PayloadB64 []byte `json:"payload_b64,omitempty"`
	Truncated  bool   `json:"truncated,omitempty"`
}

// quarantine stores the entry of r, an invalid request.
func (w *txn) quarantine(r *request) error {
	b, err := w.tx.CreateBucketIfNotExists(bktQuarantine)
	if err != nil {
		return err
	}
	b.FillPercent = appendFill
	n, err := b.NextSequence()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(r.payload)
	q := Quarantined{N: n, Time: w.now, Gateway: clip(r.gw, 200), Topic: clip(r.rest, 200), Error: r.invalid.Error(),
		Bytes: len(r.payload), SHA256: hex.EncodeToString(sum[:])}
	p := r.payload
	if len(p) > MaxQuarantinePayload {
		p, q.Truncated = p[:MaxQuarantinePayload], true
	}
	if utf8.Valid(p) {
		q.Payload = string(p)
	} else {
		q.PayloadB64 = p
	}
	v, err := json.Marshal(q)
	if err != nil {
		return err
	}
	if err := b.Put(be(n), v); err != nil {
		return err
	}
	if n <= MaxQuarantined {
		return nil
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= n-MaxQuarantined; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// clip cuts s to at most n bytes (a gateway id or topic from a refused
// publish can be long).
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Quarantine returns up to limit entries numbered above after, oldest
// first.
func (s *Store) Quarantine(after uint64, limit int) ([]Quarantined, error) {
	if limit <= 0 {
		limit = MaxQuarantined
	}
	var out []Quarantined
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktQuarantine)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(be(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var q Quarantined
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, q)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read quarantine after %d: %w", after, err)
	}
	return out, nil
}
