package store

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/antt-gateway/antt/uplink/wire"
)

// leanEvent decodes an event with its attrs left as raw JSON: its Attrs
// field, shallower than the embedded wire.Event's, takes the "attrs" key.
type leanEvent struct {
	wire.Event
	Attrs json.RawMessage `json:"attrs"`
}

// needsAttrs reports whether the store reads the attrs of an event of
// kind: only an outbox_overflow's ranges and a storage_reset's resumed_seq
// explain gaps.
func needsAttrs(kind string) bool {
	return kind == wire.KindOutboxOverflow || kind == wire.KindStorageReset
}

var errAttrsNotObject = errors.New("attrs: want a JSON object")

// decodeEvent decodes payload into ev as json.Unmarshal would, and checks
// it the same way, but builds the attrs map only for the kinds the store
// reads it of (needsAttrs): for every other event ev.Attrs stays nil. The
// map is most of the cost of decoding an event, paid on every gateway's
// read loop before its PUBACK. The events gateways send are decoded by
// hand (fastDecodeEvent); anything unusual goes through encoding/json.
func decodeEvent(payload []byte, ev *wire.Event) error {
	if fastDecodeEvent(payload, ev) {
		return nil
	}
	return leanDecodeEvent(payload, ev)
}

// leanDecodeEvent is decodeEvent through encoding/json: what
// fastDecodeEvent falls back to, and is checked against.
func leanDecodeEvent(payload []byte, ev *wire.Event) error {
	var l leanEvent
	if err := json.Unmarshal(payload, &l); err != nil {
		return err
	}
	*ev = l.Event
	raw := bytes.TrimLeft(l.Attrs, " \t\r\n")
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
	case raw[0] != '{':
		return errAttrsNotObject
	case needsAttrs(ev.Kind):
		return json.Unmarshal(raw, &ev.Attrs)
	}
	return nil
}
