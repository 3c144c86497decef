package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// TestArrivalRecordForms: event records are written in the binary form,
// gaps and notices as JSON, and a file holding event records in the JSON
// form of earlier stations reads the same: After gives every record with
// its event's bytes, in arrival order.
func TestArrivalRecordForms(t *testing.T) {
	s := openWith(t, Options{})
	for _, seq := range []uint64{1, 3} { // 3 opens a gap: a JSON gap record
		if _, err := s.Add("gw-1", wire.TopicEvent, epochEv("gw-1", "e1", seq, wire.KindMotion)); err != nil {
			t.Fatal(err)
		}
	}
	// An earlier station's JSON record of event 2, filling the gap, as if
	// stored before the binary form existed.
	late := Record{Type: RecordEvent, Gateway: "gw-1", Epoch: "e1", Seq: 2, Late: true, Time: time.Unix(1_800_000_123, 456).UTC()}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		n := getU64(meta, keyArrival) + 1
		late.Arrival = n
		v, err := json.Marshal(late)
		if err != nil {
			return err
		}
		eb := epochBucket(tx, "gw-1", "e1")
		return firstErr(meta.Put(keyArrival, be(n)), tx.Bucket(bktArrivals).Put(be(n), v),
			eb.Bucket(bktEvents).Put(be(2), epochEv("gw-1", "e1", 2, wire.KindMotion)))
	})
	if err != nil {
		t.Fatal(err)
	}
	var forms []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktArrivals).ForEach(func(_, v []byte) error { forms = append(forms, v[0]); return nil })
	})
	if string(forms) != "\x02{\x02{" {
		t.Fatalf("first bytes of the records %q, want event binary V2, gap JSON, event binary V2, old event JSON", forms)
	}
	recs, err := s.After(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Type)
		if r.Type != RecordEvent {
			continue
		}
		var ev wire.Event
		if err := json.Unmarshal(r.Event, &ev); err != nil || ev.Seq != r.Seq || r.Gateway != "gw-1" || r.Epoch != "e1" {
			t.Errorf("record %+v: event %s (%v)", r, r.Event, err)
		}
		if r.Time.IsZero() {
			t.Errorf("record %d has no time", r.Arrival)
		}
		if r.Seq != 2 && (r.Line == nil || r.Line.Kind != ev.Kind || !r.Line.Time.Equal(ev.Time) || r.Line.ClockSynced != ev.ClockSynced) {
			t.Errorf("record %d: line %+v, event %+v", r.Arrival, r.Line, ev)
		}
	}
	// AfterBrief leaves out the bodies of events whose record has a Line,
	// and reads that of the old record, which has none.
	brief, err := s.AfterBrief(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range brief {
		if r.Type != RecordEvent {
			continue
		}
		if (r.Line == nil) == (r.Event == nil) {
			t.Errorf("AfterBrief record %d: line %+v, event %q", r.Arrival, r.Line, r.Event)
		}
		if !reflect.DeepEqual(r.Line, recs[i].Line) {
			t.Errorf("AfterBrief record %d: line %+v, After gave %+v", r.Arrival, r.Line, recs[i].Line)
		}
	}
	if want := []string{RecordEvent, RecordGap, RecordEvent, RecordEvent}; !reflect.DeepEqual(got, want) {
		t.Fatalf("types %v, want %v", got, want)
	}
	if r := recs[3]; r.Arrival != late.Arrival || !r.Late || !r.Time.Equal(late.Time) || r.Seq != 2 {
		t.Fatalf("old JSON record read as %+v, want %+v", r, late)
	}
}

// FuzzArrivalRecord: a binary event record reads back as written, and no
// stored bytes make decodeRecord panic.
func FuzzArrivalRecord(f *testing.F) {
	f.Add(uint64(1), "gw-1", "e1", int64(1_800_000_000), uint32(5), true, []byte{arrivalEventV1, 0x80})
	f.Add(uint64(1<<40), "", "", int64(-1), uint32(999_999_999), false, []byte(`{"type":"event","gateway":"g","seq":2}`))
	f.Fuzz(func(t *testing.T, seq uint64, gw, epoch string, sec int64, nsec uint32, late bool, raw []byte) {
		var r Record
		_ = decodeRecord(7, raw, &r)
		in := Record{Arrival: 9, Type: RecordEvent, Gateway: gw, Epoch: epoch, Seq: seq, Late: late,
			Time: time.Unix(sec, int64(nsec%1e9)).UTC()}
		v, err := encodeRecord(in)
		if err != nil {
			t.Fatal(err)
		}
		var out Record
		if err := decodeRecord(9, v, &out); err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("read %+v\nwant %+v", out, in)
		}
		for i := range v { // every truncation is an error, never a panic
			if decodeRecord(9, v[:i], &out) == nil && i > 0 {
				t.Fatalf("truncated record %q accepted", v[:i])
			}
		}
	})
}

// FuzzArrivalRecordLine: a binary event record with its Line (V2) reads
// back as written, and every truncation of it is refused.
func FuzzArrivalRecordLine(f *testing.F) {
	f.Add(uint64(1), "gw-1", "e1", int64(1_800_000_000), uint32(5), true, "motion", "gate-pir", "active", int64(1_799_999_999), uint32(7), byte(3))
	f.Add(uint64(1<<40), "", "", int64(-1), uint32(999_999_999), false, "", "", "", int64(-62135596800), uint32(0), byte(0))
	f.Fuzz(func(t *testing.T, seq uint64, gw, epoch string, sec int64, nsec uint32, late bool, kind, source, state string, esec int64, ensec uint32, flags byte) {
		in := Record{Arrival: 9, Type: RecordEvent, Gateway: gw, Epoch: epoch, Seq: seq, Late: late,
			Time: time.Unix(sec, int64(nsec%1e9)).UTC(),
			Line: &Line{Kind: kind, Source: source, State: state, Time: time.Unix(esec, int64(ensec%1e9)).UTC(),
				ClockSynced: flags&1 != 0, Test: flags&2 != 0}}
		v, err := encodeRecord(in)
		if err != nil {
			t.Fatal(err)
		}
		if v[0] != arrivalEventV2 {
			t.Fatalf("record with a line written as form %#x", v[0])
		}
		var out Record
		if err := decodeRecord(9, v, &out); err != nil {
			t.Fatalf("%+v: %v", in, err)
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("read %+v %+v\nwant %+v %+v", out, out.Line, in, in.Line)
		}
		for i := range v {
			if decodeRecord(9, v[:i], &out) == nil && i > 0 {
				t.Fatalf("truncated record %q accepted", v[:i])
			}
		}
	})
}
