package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"
)

// Arrival records of events, by far the most numerous, are kept in a
// compact binary form rather than JSON: they are written once per event
// before its PUBACK and read back once per event by the console, and JSON
// cost more than the rest of either. Other records (gaps, notices,
// snapshots) stay JSON. A reader tells them apart by the first byte: JSON
// starts with '{', the binary form with arrivalEventV1. Files written
// before this form hold JSON event records, which are still read.
//
// The binary form of an event record:
//
//	arrivalEventV1
//	varint   time, Unix seconds
//	uvarint  time, nanoseconds within the second
//	uvarint  seq
//	byte     flags (1: late)
//	uvarint  length of the gateway id, then its bytes
//	uvarint  length of the epoch, then its bytes
//
// The arrival number is the record's key.
const arrivalEventV1 = 0x01

var errShortRecord = errors.New("binary record truncated")

// encodeRecord is the stored form of rec.
func encodeRecord(rec Record) ([]byte, error) {
	if rec.Type != RecordEvent {
		return json.Marshal(rec)
	}
	b := make([]byte, 0, 32+len(rec.Gateway)+len(rec.Epoch))
	b = append(b, arrivalEventV1)
	b = binary.AppendVarint(b, rec.Time.Unix())
	b = binary.AppendUvarint(b, uint64(rec.Time.Nanosecond()))
	b = binary.AppendUvarint(b, rec.Seq)
	var flags byte
	if rec.Late {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(rec.Gateway)))
	b = append(b, rec.Gateway...)
	b = binary.AppendUvarint(b, uint64(len(rec.Epoch)))
	b = append(b, rec.Epoch...)
	return b, nil
}

// decodeRecord reads a stored record, of either form, into r; arrival is
// its key.
func decodeRecord(arrival uint64, v []byte, r *Record) error {
	if len(v) == 0 || v[0] != arrivalEventV1 {
		return json.Unmarshal(v, r)
	}
	d := recDecoder{b: v[1:]}
	sec := d.varint()
	nsec := d.uvarint()
	seq := d.uvarint()
	flags := d.byte()
	gw := d.str()
	epoch := d.str()
	if d.err != nil {
		return d.err
	}
	if nsec >= 1e9 || flags&^1 != 0 || len(d.b) != 0 {
		return errors.New("binary record malformed")
	}
	*r = Record{Arrival: arrival, Type: RecordEvent, Gateway: gw, Epoch: epoch,
		Time: time.Unix(sec, int64(nsec)).UTC(), Seq: seq, Late: flags&1 != 0}
	return nil
}

// recDecoder reads the fields of a binary record; the first error sticks.
type recDecoder struct {
	b   []byte
	err error
}

func (d *recDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *recDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.err = errShortRecord
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *recDecoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errShortRecord
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *recDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errShortRecord
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
