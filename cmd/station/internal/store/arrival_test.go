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
	if string(forms) != "\x01{\x01{" {
		t.Fatalf("first bytes of the records %q, want event binary, gap JSON, event binary, old event JSON", forms)
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
