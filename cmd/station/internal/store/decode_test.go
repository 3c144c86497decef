package store

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/antt-gateway/antt/uplink/wire"
)

// FuzzDecodeEvent: decodeEvent accepts exactly what json.Unmarshal into a
// wire.Event accepts, and gives the same event, but for the attrs of kinds
// the store does not read (left nil).
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"id":"g/1","kind":"motion","time":"2026-11-28T13:00:00Z","attrs":{"a":1}}`,
		`{"seq":2,"id":"g/2","kind":"outbox_overflow","time":"2026-11-28T13:00:00Z","attrs":{"first_seq":1,"last_seq":1,"dropped":1}}`,
		`{"seq":3,"kind":"storage_reset","attrs":{"resumed_seq":3}}`,
		`{"seq":4,"kind":"motion","attrs":5}`,
		`{"seq":4,"kind":"motion","attrs":[1]}`,
		`{"seq":4,"kind":"motion","attrs":null}`,
		`{"seq":4,"kind":"motion","attrs": {"x":{"y":[1,2]}}}`,
		`{"seq":4,"kind":"motion","time":"garbage"}`,
		`{"seq":-1}`,
		`[]`,
		`{"attrs":{}, "attrs":3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want wire.Event
		werr := json.Unmarshal(b, &want)
		var got wire.Event
		gerr := decodeEvent(b, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: json.Unmarshal error %v, decodeEvent error %v", b, werr, gerr)
		}
		if werr != nil {
			return
		}
		if !needsAttrs(want.Kind) {
			want.Attrs = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", b, got, want)
		}
	})
}

// BenchmarkDecodeEvent is the store's decode of a typical event on the
// read loop; BenchmarkDecodeEventFull is the full json.Unmarshal it
// replaces.
func BenchmarkDecodeEvent(b *testing.B) {
	p := benchEventJSON(b)
	b.ReportAllocs()
	for b.Loop() {
		var ev wire.Event
		if err := decodeEvent(p, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEventFull(b *testing.B) {
	p := benchEventJSON(b)
	b.ReportAllocs()
	for b.Loop() {
		var ev wire.Event
		if err := json.Unmarshal(p, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEventJSON(b *testing.B) []byte {
	p, err := json.Marshal(wire.Event{Seq: 4242, ID: "gw-001/4242", Epoch: "e0c1", Kind: wire.KindMotion, Source: "gate-pir",
		State: "active", ClockSynced: true, UptimeMS: 123456, Boot: "b1", Attrs: map[string]any{"walktest": true, "sensor": "gate-pir"}})
	if err != nil {
		b.Fatal(err)
	}
	return p
}
