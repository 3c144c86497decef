package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

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

// FuzzFastDecodeEvent: whenever the hand-written decoder takes an event
// (it never refuses one, it only leaves it to encoding/json), the event is
// field for field what the encoding/json path gives, and that path
// accepts it too.
func FuzzFastDecodeEvent(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got wire.Event
		if !fastDecodeEvent(b, &got) {
			if !reflect.DeepEqual(got, wire.Event{}) {
				t.Fatalf("%q: declined but changed the event: %+v", b, got)
			}
			return
		}
		var want wire.Event
		if err := leanDecodeEvent(b, &want); err != nil {
			t.Fatalf("%q: fast decoder accepted what encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n fast %+v\n json %+v", b, got, want)
		}
		var full wire.Event
		if err := json.Unmarshal(b, &full); err != nil {
			t.Fatalf("%q: fast decoder accepted what json.Unmarshal refuses: %v", b, err)
		}
	})
}

// fastSeeds are FuzzFastDecodeEvent's seeds: what gateways send, and the
// edges of the subset the fast decoder knows.
var fastSeeds = []string{
	`{"seq":4242,"id":"gw-001/4242","epoch":"e0c1","kind":"motion","source":"gate-pir","state":"active","time":"0001-01-01T00:00:00Z","clock_synced":true,"uptime_ms":123456,"boot":"b1","test":false,"attrs":{"sensor":"gate-pir","walktest":true}}`,
	`{"seq":1,"id":"g/1","kind":"motion","time":"2026-11-28T13:00:00.123456789+07:00"}`,
	` { "seq" : 1 , "id" : "g/1" } `,
	`{}`,
	`{"seq":18446744073709551615}`,
	`{"seq":18446744073709551616}`,
	`{"seq":01}`,
	`{"seq":1.0}`,
	`{"seq":1e3}`,
	`{"seq":-1}`,
	`{"uptime_ms":-9223372036854775808}`,
	`{"uptime_ms":9223372036854775808}`,
	`{"uptime_ms":-0}`,
	`{"source":"cổng trước"}`,
	"{\"source\":\"\xff\"}",
	`{"source":"a\"b"}`,
	`{"source":"a\u0041"}`,
	`{"Seq":1}`,
	`{"seq":1,"seq":2}`,
	`{"seq":1,}`,
	`{"seq":1}x`,
	`{"seq":null}`,
	`{"test":true,"clock_synced":false}`,
	`{"test":tru}`,
	`{"time":"garbage"}`,
	`{"time":"2026-11-28T13:00:00Z","time":"2026-11-29T13:00:00Z"}`,
	`{"attrs":{"a":"}","b":[{"c":"\"{"}]}}`,
	`{"attrs":{"a":1},"attrs":null}`,
	`{"attrs":null,"attrs":{"a":1}}`,
	`{"attrs":{"a":]}`,
	`{"attrs":{"a":1}}}`,
	`{"attrs":[1]}`,
	`{"kind":"outbox_overflow","attrs":{"first_seq":1,"last_seq":2}}`,
	`{"kind":"storage_reset","attrs":null}`,
	`{"unknown":1}`,
}

// TestFastDecodeTakesGatewayEvents: the events a gateway really sends
// (json.Marshal of wire.Event) are decoded by hand, not left to
// encoding/json, and equal what encoding/json gives.
func TestFastDecodeTakesGatewayEvents(t *testing.T) {
	for _, ev := range []wire.Event{
		{Seq: 4242, ID: "gw-001/4242", Epoch: "e0c1", Kind: wire.KindMotion, Source: "gate-pir", State: "active",
			ClockSynced: true, UptimeMS: 123456, Boot: "b1", Attrs: map[string]any{"walktest": true, "sensor": "gate-pir"}},
		{Seq: 1, ID: "g/1", Kind: wire.KindBoot, Time: time.Date(2026, 11, 28, 13, 0, 0, 5, time.UTC),
			Attrs: map[string]any{"sensors": map[string]any{"gate": "active"}, "version": "1.2"}},
		{Seq: 7, ID: "g/7", Kind: wire.KindTamper, Source: "hộp", State: "active", Test: true, UptimeMS: -1},
	} {
		p, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var got wire.Event
		if !fastDecodeEvent(p, &got) {
			t.Errorf("%s: left to encoding/json", p)
			continue
		}
		var want wire.Event
		if err := leanDecodeEvent(p, &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n fast %+v\n json %+v (%v)", p, got, want, err)
		}
	}
	// The kinds whose attrs the store reads are always left to it.
	p := []byte(`{"seq":2,"id":"g/2","kind":"outbox_overflow","attrs":{"first_seq":1,"last_seq":1}}`)
	var ev wire.Event
	if fastDecodeEvent(p, &ev) {
		t.Errorf("%s: decoded by hand, attrs lost", p)
	}
}

// FuzzValidators: the store's checks of gateway ids, epochs and event ids
// say what wire's say.
func FuzzValidators(f *testing.F) {
	for _, s := range []string{"gw-1", "-gw", "a", "", "A", "cổng", strings.Repeat("a", 63), strings.Repeat("a", 64), "e0c1", "g/1", "g/01", "gw-1/18446744073709551615"} {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, s string, seq uint64) {
		if got, want := validID(s), wire.ValidID(s); got != want {
			t.Fatalf("validID(%q) = %v, wire says %v", s, got, want)
		}
		if got, want := validEpoch(s), wire.ValidEpoch(s); got != want {
			t.Fatalf("validEpoch(%q) = %v, wire says %v", s, got, want)
		}
		gw, _, _ := strings.Cut(s, "/")
		if got, want := isEventID(s, gw, seq), s == wire.EventID(gw, seq); got != want {
			t.Fatalf("isEventID(%q, %q, %d) = %v, want %v", s, gw, seq, got, want)
		}
		if got := isEventID(wire.EventID(gw, seq), gw, seq); !got {
			t.Fatalf("isEventID(EventID(%q, %d)) = false", gw, seq)
		}
	})
}
