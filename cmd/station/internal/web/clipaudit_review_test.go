package web

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// TestClipViewAuditedWhateverTheHeaders: who watched which evidence is on
// the record. The audit must not depend on headers the viewer chooses: a
// made-up If-None-Match, a Range written "bytes=00-" or " 0-", a suffix
// range or one from byte 1 each gets the clip's bytes (all of them, or all
// but one) and must be audited like a plain request. A player's later
// range requests of the same viewing are still one entry.
func TestClipViewAuditedWhateverTheHeaders(t *testing.T) {
	f, _, data := clipFixture(t)
	viewer := f.login("binh")
	path := "/api/clips/" + gwGate + "/c1"
	for i, h := range []map[string]string{
		{"If-None-Match": `"not-the-etag"`},
		{"Range": "bytes=00-"},
		{"Range": "bytes= 0-"},
		{"Range": "bytes=-1000000"},
		{"Range": "bytes=1-"},
	} {
		f.advance(time.Hour) // a new viewing
		r := f.do(req{path: path, cookie: viewer, header: h})
		if r.code != 200 && r.code != 206 || len(r.body) < len(data)-1 {
			t.Fatalf("%v: %d, %d bytes", h, r.code, len(r.body))
		}
		if es := f.entries(audit.ClipView); len(es) != i+1 {
			t.Errorf("%v: %d bytes of the clip served, %d audit entries, want %d", h, len(r.body), len(es), i+1)
		}
	}
	// The same viewing goes on: a seek's range request adds no entry.
	n := len(f.entries(audit.ClipView))
	f.advance(time.Second)
	must(t, f.do(req{path: path, cookie: viewer, header: map[string]string{"Range": "bytes=100-199"}}), 206, "seek")
	if es := f.entries(audit.ClipView); len(es) != n {
		t.Errorf("a seek within a viewing: %d entries, want %d", len(es), n)
	}
}

// TestClipFetchOfUnannouncedClip: the station stores only the chunks of a
// clip its clip event announced (one deleted by retention, or whose event
// has not arrived, is refused chunk by chunk). Asking the gateway for such
// a clip would send the whole file over its prepaid link for nothing: the
// station says why instead, and sends no clip.get.
func TestClipFetchOfUnannouncedClip(t *testing.T) {
	f, cmd, _ := clipFixture(t)
	r := f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/gone/fetch", cookie: f.login("tuan")})
	if r.code != 404 || !strings.Contains(r.body, "announce") {
		t.Errorf("fetch of a clip the station has no announcement of: %d %s", r.code, r.body)
	}
	if len(cmd.got) != 0 {
		t.Errorf("clip.get sent for a clip whose chunks would all be refused: %q", cmd.got)
	}
}

// TestExportAuditNamesWhatLeft: the station keeps no copy of an export;
// its audit entry is what says which evidence left it. Counts and the
// zip's SHA-256 do not say which events and clips went: the entry names
// the files of the export.
func TestExportAuditNamesWhatLeft(t *testing.T) {
	f, _, _ := clipFixture(t)
	seq := f.event(gwGate, "door", "cong", map[string]any{"clip": "c1"})
	body := `{"case":"VV-7","events":[{"gateway":"` + gwGate + `","epoch":"e1","seq":` + strconv.FormatUint(seq, 10) + `}]}`
	must(t, f.do(req{method: "POST", path: "/api/exports", json: body, cookie: f.login("tuan")}), 200, "export")
	es := f.entries("export")
	if len(es) != 1 {
		t.Fatalf("audit %+v", es)
	}
	names := es[0].Detail["names"]
	for _, want := range []string{"events/" + gwGate + "-e1-" + strconv.FormatUint(seq, 10) + ".json", "clips/" + gwGate + "-c1.mp4"} {
		if !strings.Contains(names, want) {
			t.Errorf("the export's audit entry does not name %s: %v", want, es[0].Detail)
		}
	}
}
