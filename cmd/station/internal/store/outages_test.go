package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

// outagesString renders outages compactly: "gw 10:00-10:01 cam/gate-cam 10:02-" (open
// ones end with "-"), "!" marking a restart, "?" an unsynced clock.
func outagesString(os []Outage) string {
	var parts []string
	for _, o := range os {
		s := ""
		if o.Camera != "" {
			s = o.Camera + " "
		}
		s += o.Start.Format("15:04:05") + "-"
		if !o.Open() {
			s += o.End.Format("15:04:05")
		}
		if o.Restart {
			s += "!"
		}
		if o.Unsynced {
			s += "?"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func wantOutages(t *testing.T, s *Store, since time.Time, gw, want string) {
	t.Helper()
	all, err := s.Outages(since)
	if err != nil {
		t.Fatal(err)
	}
	if got := outagesString(all[gw]); got != want {
		t.Fatalf("outages of %s = %q, want %q", gw, got, want)
	}
}

// A gateway's statuses make outages that survive a restart of the
// station: a will opens one (a second copy, as a retained will read again,
// changes nothing), a birth closes it; a birth with a new boot while
// online is a restart the will never told; a read-only store records
// nothing.
func TestGatewayOutagesDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openLog(t, path)
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	const gw = "cong-khu-3"
	s.SetStatus(gw, wire.Status{Online: true, Boot: "b1"}, at(0))
	wantOutages(t, s, t0, gw, "")
	s.SetStatus(gw, wire.Status{Online: false, Boot: "b1"}, at(10))
	s.SetStatus(gw, wire.Status{Online: false, Boot: "b1"}, at(12))
	wantOutages(t, s, t0, gw, "10:00:10-")
	s.SetStatus(gw, wire.Status{Online: true, Boot: "b2"}, at(15))
	wantOutages(t, s, t0, gw, "10:00:10-10:00:15")
	s.SetStatus(gw, wire.Status{Online: false, Boot: "b2"}, at(60))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The station restarts; the broker gives the retained will again.
	s = openLog(t, path)
	s.SetStatus(gw, wire.Status{Online: false, Boot: "b2"}, at(300))
	wantOutages(t, s, t0, gw, "10:00:10-10:00:15 10:01:00-")
	s.SetStatus(gw, wire.Status{Online: true, Boot: "b3"}, at(320))
	wantOutages(t, s, t0, gw, "10:00:10-10:00:15 10:01:00-10:05:20")
	// Only the outages that lasted into the span.
	wantOutages(t, s, at(16), gw, "10:01:00-10:05:20")

	// Restarted without a will: from its start to the birth; a start
	// before the last message heard is not believed.
	s.SetTelemetry(gw, wire.Telemetry{}, at(400))
	s.SetStatus(gw, wire.Status{Online: true, Boot: "b4", Started: at(425)}, at(430))
	s.SetStatus(gw, wire.Status{Online: true, Boot: "b4"}, at(431)) // the same birth again: nothing
	s.SetStatus(gw, wire.Status{Online: true, Boot: "b5", Started: at(300)}, at(440))
	wantOutages(t, s, at(16), gw, "10:01:00-10:05:20 10:07:05-10:07:10! 10:07:20-10:07:20!")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	ro.SetStatus(gw, wire.Status{Online: false, Boot: "b4"}, at(500))
	wantOutages(t, ro, at(16), gw, "10:01:00-10:05:20 10:07:05-10:07:10! 10:07:20-10:07:20!")
}

func cameraEv(gw string, seq uint64, kind, camera string, at time.Time, synced bool) []byte {
	b, err := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(gw, seq), Kind: kind, Source: camera,
		State: wire.StateActive, Time: at, ClockSynced: synced, Boot: "b1"})
	if err != nil {
		panic(err)
	}
	return b
}

// Camera outages come from the stored camera_offline and camera_online
// events, at the gateway's times with its clock flag; a duplicate or an
// online without an offline opens nothing.
func TestCameraOutages(t *testing.T) {
	s := openLog(t, filepath.Join(t.TempDir(), "events.db"))
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	const gw = "truong-thcs-chi-dam"
	events := []struct {
		kind, cam string
		sec       int
		synced    bool
	}{
		{wire.KindCameraOnline, "gate-cam", 1, true}, // no outage open: nothing
		{wire.KindCameraOffline, "gate-cam", 5, true},
		{wire.KindCameraOffline, "yard-cam", 6, false},
		{wire.KindCameraOffline, "gate-cam", 7, true}, // already open
		{wire.KindMotion, "gate-cam", 8, true},
		{wire.KindCameraOnline, "gate-cam", 20, true},
	}
	for i, e := range events {
		if _, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, uint64(i+1), e.kind, e.cam, t0.Add(time.Duration(e.sec)*time.Second), e.synced)); err != nil {
			t.Fatal(err)
		}
	}
	// A duplicate of the camera_online changes nothing.
	if r, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, 6, wire.KindCameraOnline, "gate-cam", t0.Add(time.Minute), true)); err != nil || r.Status != Duplicate {
		t.Fatalf("duplicate: %+v %v", r, err)
	}
	wantOutages(t, s, t0, gw, "gate-cam 10:00:05-10:00:20 yard-cam 10:00:06-?")
}

// A gateway keeps at most MaxOutages outages and none that ended more
// than OutageMaxAge ago; an open one stays.
func TestOutagesBounded(t *testing.T) {
	s := openLog(t, filepath.Join(t.TempDir(), "events.db"))
	now := s.now()
	const gw = "cong-khu-3"
	old := now.Add(-OutageMaxAge - time.Hour)
	s.SetStatus(gw, wire.Status{Online: false, Boot: "b0"}, old)
	s.SetStatus(gw, wire.Status{Online: true, Boot: "b0"}, old.Add(time.Minute))
	if _, err := s.Add(gw, wire.TopicEvent, cameraEv(gw, 1, wire.KindCameraOffline, "gate-cam", old.Add(2*time.Minute), true)); err != nil {
		t.Fatal(err)
	}
	start := now.Add(-time.Duration(MaxOutages+10) * time.Minute)
	for i := range MaxOutages + 10 {
		at := start.Add(time.Duration(i) * time.Minute)
		s.SetStatus(gw, wire.Status{Online: false, Boot: "b1"}, at)
		s.SetStatus(gw, wire.Status{Online: true, Boot: "b1"}, at.Add(time.Second))
	}
	all, err := s.Outages(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	os := all[gw]
	if len(os) != MaxOutages {
		t.Fatalf("%d outages kept, want %d", len(os), MaxOutages)
	}
	if os[0].Camera != "gate-cam" || !os[0].Open() {
		t.Errorf("the open camera outage was not kept: first %+v", os[0])
	}
	if want := start.Add(11 * time.Minute); !os[1].Start.Equal(want) {
		t.Errorf("oldest closed outage kept starts %v, want %v", os[1].Start, want)
	}
	for _, o := range os {
		if !o.Open() && o.End.Before(now.Add(-OutageMaxAge)) {
			t.Errorf("outage ended %v kept beyond the age bound", o.End)
		}
	}
}

// ParseReason reads back exactly what the writer writes as a gap's
// reason, and nothing else.
func TestParseReason(t *testing.T) {
	over := wire.Event{Seq: 131, Attrs: map[string]any{"dropped": float64(3)}}
	cases := []struct {
		reason string
		want   Cause
	}{
		{overflowReason(over), Cause{Kind: CauseOverflow, Seq: 131, Dropped: 3, HasDropped: true}},
		{overflowReason(wire.Event{Seq: 9}), Cause{Kind: CauseOverflow, Seq: 9}},
		{resetReason(wire.Event{Seq: 40, Attrs: map[string]any{"resumed_seq": float64(41)}}), Cause{Kind: CauseReset, Seq: 40, ResumedSeq: 41}},
		{resetReason(wire.Event{Seq: 40}), Cause{Kind: CauseReset, Seq: 40}},
		{droppedResetReason(120, over), Cause{Kind: CauseDroppedReset, Seq: 131, ResetSeq: 120}},
	}
	for _, c := range cases {
		got, ok := ParseReason(c.reason)
		if !ok || got != c.want {
			t.Errorf("ParseReason(%q) = %+v %v, want %+v", c.reason, got, ok, c.want)
		}
	}
	for _, bad := range []string{"", "power cut", "outbox_overflow (event x)", "outbox_overflow (event 5) and more",
		"storage_reset (event 4, resumed at seq 5) extra", "storage_reset 7", fmt.Sprintf("outbox_overflow (event %d, -1 dropped)", 5)} {
		if c, ok := ParseReason(bad); ok {
			t.Errorf("ParseReason(%q) = %+v, want not ok", bad, c)
		}
	}
}

// RefusedSince counts each gateway's refused payloads in the span, with
// the newest's time and error.
func TestRefusedSince(t *testing.T) {
	s := openLog(t, filepath.Join(t.TempDir(), "events.db"))
	for _, p := range []struct{ gw, payload string }{{"cong-khu-3", "{"}, {"cong-khu-3", `{"seq":2,"id":"b/2"}`}, {"truong-thcs", "{"}} {
		if _, err := s.Add(p.gw, wire.TopicEvent, []byte(p.payload)); err == nil {
			t.Fatalf("%s accepted", p.payload)
		}
	}
	now := s.now()
	got, err := s.RefusedSince(now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r := got["cong-khu-3"]; r.Count != 2 || !r.Last.Equal(now) || !strings.Contains(r.Error, `want "cong-khu-3/2"`) {
		t.Errorf("cong-khu-3: %+v", r)
	}
	if r := got["truong-thcs"]; r.Count != 1 {
		t.Errorf("truong-thcs: %+v", r)
	}
	if got, _ := s.RefusedSince(now.Add(time.Second)); len(got) != 0 {
		t.Errorf("refused after now: %+v", got)
	}
}
