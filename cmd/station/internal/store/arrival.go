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
// starts with '{', the binary forms with arrivalEventV1 or V2. Files
// written before these forms hold JSON event records, which are still read.
//
// The binary form of an event record:
//
//	arrivalEventV1 or arrivalEventV2
//	varint   time, Unix seconds
//	uvarint  time, nanoseconds within the second
//	uvarint  seq
//	byte     flags (1: late; V2 only: 2 clock synced, 4 test)
//	uvarint  length of the gateway id, then its bytes
//	uvarint  length of the epoch, then its bytes
//
// and, in V2 only, the fields of the event's console line (Line), so that
// a reader printing it need not decode the event again:
//
//	varint   the event's time, Unix seconds
//	uvarint  its nanoseconds within the second
//	uvarint  length of the kind, then its bytes
//	uvarint  length of the source, then its bytes
//	uvarint  length of the state, then its bytes
//
// The arrival number is the record's key. Records written before V2 (V1)
// have no Line: a reader decodes their event.
const (
	arrivalEventV1 = 0x01
	arrivalEventV2 = 0x02
)

// Flags of a binary event record.
const (
	flagLate        = 1
	flagClockSynced = 2
	flagTest        = 4
)

var errShortRecord = errors.New("binary record truncated")

// encodeRecord is the stored form of rec: an event with its Line in the
// binary form V2, without it in V1.
func encodeRecord(rec Record) ([]byte, error) {
	if rec.Type != RecordEvent {
		return json.Marshal(rec)
	}
	return appendEventRecord(make([]byte, 0, eventRecordSize(&rec)), &rec), nil
}

// eventRecordSize is at least the length of event record rec's stored form.
func eventRecordSize(rec *Record) int {
	n := 32 + len(rec.Gateway) + len(rec.Epoch)
	if ln := rec.Line; ln != nil {
		n += 24 + len(ln.Kind) + len(ln.Source) + len(ln.State)
	}
	return n
}

// appendEventRecord appends the stored form of event record rec to b. The
// writer appends every record of a commit to one buffer this way (see
// txn.eventRecord).
func appendEventRecord(b []byte, rec *Record) []byte {
	ln := rec.Line
	if ln == nil {
		b = append(b, arrivalEventV1)
	} else {
		b = append(b, arrivalEventV2)
	}
	b = binary.AppendVarint(b, rec.Time.Unix())
	b = binary.AppendUvarint(b, uint64(rec.Time.Nanosecond()))
	b = binary.AppendUvarint(b, rec.Seq)
	var flags byte
	if rec.Late {
		flags |= flagLate
	}
	if ln != nil && ln.ClockSynced {
		flags |= flagClockSynced
	}
	if ln != nil && ln.Test {
		flags |= flagTest
	}
	b = append(b, flags)
	b = appendStr(b, rec.Gateway)
	b = appendStr(b, rec.Epoch)
	if ln == nil {
		return b
	}
	b = binary.AppendVarint(b, ln.Time.Unix())
	b = binary.AppendUvarint(b, uint64(ln.Time.Nanosecond()))
	b = appendStr(b, ln.Kind)
	b = appendStr(b, ln.Source)
	b = appendStr(b, ln.State)
	return b
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decodeRecord reads a stored record, of any form, into r; arrival is its
// key.
func decodeRecord(arrival uint64, v []byte, r *Record) error {
	return decodeRecordIn(arrival, v, r, nil, nil)
}

// decodeRecordIn is decodeRecord sharing the strings of the records it
// decoded before through intern (nil: none): a page of records names the
// same gateways and epochs over and over. An event's Line is decoded into
// ln when it is not nil (a page's lines are allocated together).
func decodeRecordIn(arrival uint64, v []byte, r *Record, ln *Line, intern map[string]string) error {
	if len(v) == 0 || (v[0] != arrivalEventV1 && v[0] != arrivalEventV2) {
		return json.Unmarshal(v, r)
	}
	v2 := v[0] == arrivalEventV2
	d := recDecoder{b: v[1:], intern: intern}
	sec := d.varint()
	nsec := d.uvarint()
	seq := d.uvarint()
	flags := d.byte()
	gw := d.str()
	epoch := d.str()
	known := byte(flagLate)
	if !v2 {
		ln = nil
	} else {
		known |= flagClockSynced | flagTest
		esec := d.varint()
		ensec := d.uvarint()
		if ln == nil {
			ln = new(Line)
		}
		*ln = Line{Kind: d.str(), Source: d.str(), State: d.str(),
			ClockSynced: flags&flagClockSynced != 0, Test: flags&flagTest != 0}
		if ensec >= 1e9 {
			return errors.New("binary record malformed")
		}
		ln.Time = time.Unix(esec, int64(ensec)).UTC()
	}
	if d.err != nil {
		return d.err
	}
	if nsec >= 1e9 || flags&^known != 0 || len(d.b) != 0 {
		return errors.New("binary record malformed")
	}
	*r = Record{Arrival: arrival, Type: RecordEvent, Gateway: gw, Epoch: epoch,
		Time: time.Unix(sec, int64(nsec)).UTC(), Seq: seq, Late: flags&flagLate != 0, Line: ln}
	return nil
}

// recDecoder reads the fields of a binary record; the first error sticks.
type recDecoder struct {
	b      []byte
	err    error
	intern map[string]string // see decodeRecordIn
}

// maxIntern bounds a recDecoder's intern map.
const maxIntern = 4096

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
	b := d.b[:n]
	d.b = d.b[n:]
	if k, ok := kinds[string(b)]; ok {
		return k
	}
	if d.intern == nil {
		return string(b)
	}
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.intern) < maxIntern {
		d.intern[s] = s
	}
	return s
}
