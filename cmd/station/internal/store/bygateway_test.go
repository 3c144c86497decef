package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// AfterBriefOf gives the records of the kept gateway as AfterBrief does,
// in every stored form (binary V2, binary V1 without a line, an earlier
// station's JSON event record, JSON gaps), and those of the other
// gateway as their arrival number only, except its JSON records, decoded
// in full; the filter asks its function once a gateway.
func TestAfterBriefOf(t *testing.T) {
	s := openWith(t, Options{})
	for _, e := range []struct {
		gw  string
		seq uint64
	}{{"gw-1", 1}, {"gw-2", 1}, {"gw-1", 3}, {"gw-2", 4}, {"gw-2", 5}} { // gw-1 3 and gw-2 4 open gaps
		if _, err := s.Add(e.gw, wire.TopicEvent, epochEv(e.gw, "e1", e.seq, wire.KindMotion)); err != nil {
			t.Fatal(err)
		}
	}
	// Records of earlier stations: V1 (no line) of gw-1 2 and gw-2 2, and
	// JSON of gw-2 3.
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		for _, e := range []struct {
			gw   string
			seq  uint64
			json bool
		}{{"gw-1", 2, false}, {"gw-2", 2, false}, {"gw-2", 3, true}} {
			n := getU64(meta, keyArrival) + 1
			rec := Record{Arrival: n, Type: RecordEvent, Gateway: e.gw, Epoch: "e1", Seq: e.seq, Late: true, Time: time.Unix(1_800_000_123, 456).UTC()}
			v := appendEventRecord(nil, &rec)
			if e.json {
				var err error
				if v, err = json.Marshal(rec); err != nil {
					return err
				}
			}
			eb := epochBucket(tx, e.gw, "e1")
			if err := firstErr(meta.Put(keyArrival, be(n)), tx.Bucket(bktArrivals).Put(be(n), v),
				eb.Bucket(bktEvents).Put(be(e.seq), epochEv(e.gw, "e1", e.seq, wire.KindMotion))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.AfterBrief(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]int{}
	f := NewGatewayFilter(func(gw string) bool { asked[gw]++; return gw == "gw-1" })
	for _, from := range []uint64{0, 3} {
		got, err := s.AfterBriefOf(from, 100, f)
		if err != nil {
			t.Fatal(err)
		}
		var want []Record
		var stubs int
		for _, r := range all {
			if r.Arrival <= from {
				continue
			}
			if r.Gateway == "gw-2" && r.Type == RecordEvent && (r.Line != nil || r.Seq == 2) { // its binary records
				r = Record{Arrival: r.Arrival}
				stubs++
			}
			want = append(want, r)
		}
		if stubs == 0 || len(want) == stubs {
			t.Fatalf("after %d: %d records, %d passed over: the test compares nothing", from, len(want), stubs)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("after %d:\n got %+v\nwant %+v", from, got, want)
		}
	}
	if asked["gw-1"] != 1 || asked["gw-2"] != 1 {
		t.Errorf("keep asked %v, want each gateway once over both reads", asked)
	}
	if got, err := s.AfterBriefOf(2, 3, NewGatewayFilter(func(string) bool { return false })); err != nil || len(got) != 3 || got[0].Arrival != 3 {
		t.Errorf("limit 3 after 2: %+v, %v", got, err)
	}
}

// recordGateway finds the gateway of every binary form and refuses a
// record too short to hold it.
func TestRecordGateway(t *testing.T) {
	ln := &Line{Kind: "motion", Source: "pir", State: "active", Time: time.Unix(1_800_000_000, 5).UTC()}
	for _, r := range []Record{
		{Type: RecordEvent, Gateway: "cong-khu-3", Epoch: "e1", Seq: 1 << 40, Time: time.Unix(-5, 999_999_999), Line: ln},
		{Type: RecordEvent, Gateway: "g", Seq: 7, Late: true, Time: time.Unix(1_800_000_000, 0)},
	} {
		v := appendEventRecord(nil, &r)
		if gw, ok := recordGateway(v); !ok || string(gw) != r.Gateway {
			t.Errorf("%x: gateway %q %v, want %q", v, gw, ok, r.Gateway)
		}
		// The id ends where a V1 record without an epoch ends, less the
		// epoch's length byte.
		end := len(appendEventRecord(nil, &Record{Type: RecordEvent, Gateway: r.Gateway, Seq: r.Seq, Time: r.Time})) - 1
		for n := range len(v) {
			gw, ok := recordGateway(v[:n])
			if ok != (n >= end) || (ok && string(gw) != r.Gateway) {
				t.Errorf("%x cut to %d bytes (the id ends at %d): gateway %q %v", v, n, end, gw, ok)
			}
		}
	}
	if _, ok := recordGateway([]byte(`{"type":"gap"}`)); ok {
		t.Error("a JSON record read as binary")
	}
}
