package console

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// fmtEvent is the event line as it was written with fmt before the feed
// formatted without it: the reference appendEvent must match.
func fmtEvent(gw string, ev wire.Event, late bool, loc *time.Location) string {
	var b strings.Builder
	b.WriteString(ev.Time.In(loc).Format(timeFormat))
	if !ev.ClockSynced {
		b.WriteString("?")
	}
	fmt.Fprintf(&b, " %-16s #%-6d %-15s", gw, ev.Seq, printable(ev.Kind))
	if ev.Source != "" {
		fmt.Fprintf(&b, " source=%s", printable(ev.Source))
	}
	if ev.State != "" {
		fmt.Fprintf(&b, " state=%s", printable(ev.State))
	}
	if ev.Test {
		b.WriteString(" TEST")
	}
	if ev.Epoch != "" {
		fmt.Fprintf(&b, " epoch=%s", printable(ev.Epoch))
	}
	if late {
		b.WriteString(" (late)")
	}
	return b.String()
}

// TestFeedLineMatchesFmt: the feed's line of a stored event (from the
// Line its arrival record carries, or decoded from its JSON into lineEvent
// for records stored before Lines; appended without fmt) is byte for byte
// the fmt line, over padding edges, non-ASCII and control characters.
func TestFeedLineMatchesFmt(t *testing.T) {
	c := &Console{cfg: Config{Location: VietnamTime()}}
	c.log = slog.New(slog.DiscardHandler)
	base := time.Date(2026, 11, 28, 13, 0, 0, 123456789, time.UTC)
	cases := []struct {
		gw string
		ev wire.Event
	}{
		{"g", wire.Event{Seq: 1, Kind: "motion", Time: base, ClockSynced: true}},
		{"cong-khu-3", wire.Event{Seq: 123456, Kind: "contact", Source: "door", State: "open", Time: base, Test: true}},
		{"a-very-long-gateway-id-beyond-16", wire.Event{Seq: 12345678901, Kind: "outbox_overflow_and_more", Time: base, Epoch: "abc123",
			Attrs: map[string]any{"dropped": 3.0, "first_seq": 1.0, "last_seq": 3.0}}},
		{"g2", wire.Event{Seq: 7, Kind: "chuyển động", Source: "cổng\x1b[2J", State: "tắt\n", Time: base.Add(time.Hour), ClockSynced: true}},
		{"g3", wire.Event{Seq: 99, Kind: "", Time: time.Time{}}},
	}
	for _, tc := range cases {
		for _, late := range []bool{false, true} {
			raw, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			got := string(c.appendRecord(nil, store.Record{Type: store.RecordEvent, Gateway: tc.gw, Seq: tc.ev.Seq, Late: late, Event: raw}, new(lineEvent)))
			want := fmtEvent(tc.gw, tc.ev, late, c.cfg.Location) + "\n"
			if got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			// From the line the arrival record carries, the event unread.
			rec := store.Record{Type: store.RecordEvent, Gateway: tc.gw, Epoch: tc.ev.Epoch, Seq: tc.ev.Seq, Late: late, Line: store.LineOf(&tc.ev)}
			if got := string(c.appendRecord(nil, rec, new(lineEvent))); got != want {
				t.Errorf("from the record's line\ngot  %q\nwant %q", got, want)
			}
			if f := FormatEvent(tc.gw, tc.ev, late, c.cfg.Location) + "\n"; f != want {
				t.Errorf("FormatEvent %q\nwant        %q", f, want)
			}
		}
	}
	// An unreadable stored event prints nothing rather than a broken line.
	if got := c.appendRecord([]byte("x"), store.Record{Type: store.RecordEvent, Gateway: "g", Event: []byte("{")}, new(lineEvent)); string(got) != "x" {
		t.Errorf("unreadable event appended %q", got)
	}
}

// BenchmarkFeedLine is the feed's cost per stored event line (decode and
// format); BenchmarkFeedLineFmt is the way it was done before (a full
// wire.Event decode and fmt), for the ratio.
func BenchmarkFeedLine(b *testing.B) {
	c := &Console{cfg: Config{Location: VietnamTime()}, log: slog.New(slog.DiscardHandler)}
	r := benchRecord(b)
	var ev lineEvent
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = c.appendRecord(buf[:0], r, &ev)
	}
}

// BenchmarkFeedLineFromRecord is the feed's cost per line of a record
// that carries its Line (every event stored since): nothing is decoded.
func BenchmarkFeedLineFromRecord(b *testing.B) {
	c := &Console{cfg: Config{Location: VietnamTime()}, log: slog.New(slog.DiscardHandler)}
	r := benchRecord(b)
	var ev wire.Event
	if err := json.Unmarshal(r.Event, &ev); err != nil {
		b.Fatal(err)
	}
	r.Event, r.Line = nil, store.LineOf(&ev)
	var le lineEvent
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = c.appendRecord(buf[:0], r, &le)
	}
}

func BenchmarkFeedLineFmt(b *testing.B) {
	loc := VietnamTime()
	r := benchRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		var ev wire.Event
		if err := json.Unmarshal(r.Event, &ev); err != nil {
			b.Fatal(err)
		}
		_ = fmtEvent(r.Gateway, ev, r.Late, loc)
	}
}

func benchRecord(b *testing.B) store.Record {
	ev := wire.Event{Seq: 4242, ID: "gw-001/4242", Epoch: "e0c1", Kind: wire.KindMotion, Source: "gate-pir", State: "active",
		Time: time.Now(), ClockSynced: true, UptimeMS: 123456, Boot: "b1", Attrs: map[string]any{"walktest": true, "sensor": "gate-pir"}}
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return store.Record{Type: store.RecordEvent, Gateway: "gw-001", Seq: ev.Seq, Event: raw}
}
