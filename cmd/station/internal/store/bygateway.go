package store

import "encoding/binary"

// GatewayFilter is the gateways a read keeps, its function's answer
// remembered for each gateway over every read it is given to (one query
// reads a day in many chunks, each naming most gateways). Not safe for
// concurrent use.
type GatewayFilter struct {
	keep func(gw string) bool
	seen map[string]bool
}

// NewGatewayFilter is a GatewayFilter asking keep.
func NewGatewayFilter(keep func(gw string) bool) *GatewayFilter {
	return &GatewayFilter{keep: keep, seen: map[string]bool{}}
}

// keeps is the filter's answer for gateway id gw.
func (f *GatewayFilter) keeps(gw []byte) bool {
	if yes, ok := f.seen[string(gw)]; ok {
		return yes
	}
	id := string(gw)
	yes := f.keep(id)
	if len(f.seen) < maxIntern {
		f.seen[id] = yes
	}
	return yes
}

// AfterBriefOf is AfterBrief for a reader that wants the records of a few
// gateways only (an officer limited to sites, a query of one site): the
// binary event records of the gateways f refuses are passed over without
// being decoded, their gateway id read from the front of the record, and
// returned as their arrival number alone (Type empty). A caller that
// counts what it looked at (the console's scan budget) therefore counts
// them as before; the cost of a record, its time, line and strings, is
// spent only on those kept. Gaps, notices and snapshots (JSON) are
// decoded whatever their gateway.
//
// The records still come from the arrival index, read in order: the
// store keeps no arrival number with a gateway's events (the events
// bucket holds seq -> JSON), so a read per gateway could not give the
// arrival numbers that paging needs.
func (s *Store) AfterBriefOf(n uint64, limit int, f *GatewayFilter) ([]Record, error) {
	return s.after(nil, n, limit, false, f)
}

// recordGateway is the gateway id of a binary event record (see
// arrival.go: type, time, nanoseconds, seq, flags, then the id), read
// without decoding the rest; false for a JSON record or one too short,
// which the caller decodes (and so reports) in full.
func recordGateway(v []byte) ([]byte, bool) {
	if len(v) == 0 || (v[0] != arrivalEventV1 && v[0] != arrivalEventV2) {
		return nil, false
	}
	b := v[1:]
	if _, k := binary.Varint(b); k > 0 {
		b = b[k:]
	} else {
		return nil, false
	}
	for range 2 { // nanoseconds, seq
		_, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, false
		}
		b = b[k:]
	}
	if len(b) == 0 {
		return nil, false
	}
	b = b[1:] // flags
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, false
	}
	return b[k : k+int(n)], true
}
