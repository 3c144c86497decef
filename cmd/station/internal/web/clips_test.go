package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/clips"
)

// clipCommander answers clip.get as a gateway does, and records it.
type clipCommander struct {
	mu    sync.Mutex
	got   []string
	reply string // the reply to give; {"ok":true,"clips":[]} when empty
}

func (c *clipCommander) Command(_ context.Context, gw, name string, args map[string]any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.Marshal(args)
	c.got = append(c.got, gw+" "+name+" "+string(b))
	if c.reply != "" {
		return json.RawMessage(c.reply), nil
	}
	return json.RawMessage(`{"id":"x","ok":true,"clips":[]}`), nil
}

func clipFixture(t *testing.T) (*fixture, *clipCommander, []byte) {
	t.Helper()
	cmd := &clipCommander{}
	dir := t.TempDir()
	cs, err := clips.Open(dir, clips.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	key, err := clips.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(o *Options) { o.Clips = &Clips{Store: cs, Key: key}; o.Commands = cmd })
	data := bytes.Repeat([]byte("fake mp4 "), 3000)
	sum := sha256.Sum256(data)
	for _, gw := range []string{gwGate, gwSchool} {
		if err := cs.Announce(clips.Info{Gateway: gw, ID: "c1", Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Camera: "cam"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.Put(gwGate, "c1", 0, data); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Put(gwSchool, "c1", 0, data[:1000]); err != nil {
		t.Fatal(err)
	}
	return f, cmd, data
}

func TestClipRoutes(t *testing.T) {
	f, cmd, data := clipFixture(t)
	viewer, officer, admin := f.login("binh"), f.login("tuan"), f.login("an")

	// Anyone logged in plays a complete clip, with Range.
	r := must(t, f.do(req{path: "/api/clips/" + gwGate + "/c1", cookie: viewer}), 200, "clip")
	if r.header.Get("Content-Type") != "video/mp4" || r.body != string(data) {
		t.Fatalf("clip: %s, %d bytes", r.header.Get("Content-Type"), len(r.body))
	}
	r = must(t, f.do(req{path: "/api/clips/" + gwGate + "/c1", cookie: viewer, header: map[string]string{"Range": "bytes=10-19"}}), 206, "range")
	if r.body != string(data[10:20]) {
		t.Fatalf("range: %q", r.body)
	}
	// One viewing, one audit entry: the range request is the same viewing.
	if es := f.entries(audit.ClipView); len(es) != 1 || es[0].Actor != "binh" || es[0].Target != "c1" || es[0].Gateway != gwGate {
		t.Errorf("audit of the viewing: %+v", es)
	}
	must(t, f.do(req{path: "/api/clips/" + gwGate + "/c1"}), 401, "no login")
	// A partial clip is not served; its status says how far it is.
	r = must(t, f.do(req{path: "/api/clips/" + gwSchool + "/c1", cookie: admin}), 404, "partial")
	if !strings.Contains(r.body, "partial, 1000 of 27000 bytes") {
		t.Fatalf("partial: %s", r.body)
	}
	st := decode[ClipStatus](t, must(t, f.do(req{path: "/api/clips/" + gwSchool + "/c1/status", cookie: viewer}), 200, "status"))
	if st.State != clips.Partial || st.Have != 1000 || st.URL != "" {
		t.Fatalf("status %+v", st)
	}
	st = decode[ClipStatus](t, must(t, f.do(req{path: "/api/clips/" + gwGate + "/nope/status", cookie: viewer}), 200, "unknown status"))
	if st.State != clips.Missing {
		t.Fatalf("unknown clip: %+v", st)
	}
	must(t, f.do(req{path: "/api/clips/" + gwGate + "/..%2fx", cookie: viewer}), 400, "bad id")

	// Site limits: tuan (khu-3 only) sees nothing of the school's clips.
	must(t, f.do(req{path: "/api/clips/" + gwSchool + "/c1", cookie: officer}), 404, "other site")
	must(t, f.do(req{path: "/api/clips/" + gwSchool + "/c1/status", cookie: officer}), 404, "other site status")
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwSchool + "/c1/fetch", cookie: officer}), 404, "other site fetch")
	if l := decode[map[string][]ClipStatus](t, must(t, f.do(req{path: "/api/clips/" + gwGate, cookie: officer}), 200, "list")); len(l["clips"]) != 1 {
		t.Fatalf("list %+v", l)
	}

	// Fetch is an officer's, sends clip.get from what the station holds, and is audited.
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwSchool + "/c1/fetch", cookie: viewer}), 403, "viewer fetch")
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwSchool + "/c1/fetch", cookie: admin}), 200, "fetch")
	if len(cmd.got) != 1 || cmd.got[0] != gwSchool+" clip.get "+`{"clip":"c1","offset":1000}` {
		t.Fatalf("commands %q", cmd.got)
	}
	if es := f.entries("clip.fetch"); len(es) != 1 || es[0].Actor != "an" || es[0].Gateway != gwSchool || !es[0].OK {
		t.Fatalf("audit %+v", es)
	}
	// A time range of a continuously recording camera.
	rng := `{"camera":"cam","from":"2026-12-01T08:00:00+07:00","to":"2026-12-01T08:10:00+07:00"}`
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/fetch", json: rng, cookie: officer}), 200, "fetch range")
	if len(cmd.got) != 2 || cmd.got[1] != gwGate+" clip.get "+`{"camera":"cam","from":"2026-12-01T01:00:00Z","to":"2026-12-01T01:10:00Z"}` {
		t.Fatalf("commands %q", cmd.got)
	}
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwSchool + "/fetch", json: rng, cookie: officer}), 404, "range of another site")
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/fetch", json: `{"camera":"cam","from":"2026-12-01T08:00:00Z","to":"2026-12-01T18:00:00Z"}`, cookie: officer}), 400, "range too long")
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/fetch", json: `{"camera":"cam","from":"x"}`, cookie: officer}), 400, "bad time")
	cmd.got = cmd.got[:1]
	// A complete clip needs no fetch.
	must(t, f.do(req{method: "POST", path: "/api/clips/" + gwGate + "/c1/fetch", cookie: officer}), 200, "fetch complete")
	if len(cmd.got) != 1 {
		t.Fatalf("a complete clip was fetched again: %q", cmd.got)
	}
}

func TestExportRoute(t *testing.T) {
	f, _, data := clipFixture(t)
	officer, viewer := f.login("tuan"), f.login("binh")
	seq := f.event(gwGate, "door", "cong", map[string]any{"clip": "c1"})
	body := fmt.Sprintf(`{"case":"VV-2026/12","events":[{"gateway":%q,"epoch":"e1","seq":%d}]}`, gwGate, seq)
	must(t, f.do(req{method: "POST", path: "/api/exports", json: body, cookie: viewer}), 403, "viewer export")
	other := fmt.Sprintf(`{"case":"x","events":[{"gateway":%q,"epoch":"e1","seq":1}]}`, gwSchool)
	must(t, f.do(req{method: "POST", path: "/api/exports", json: other, cookie: officer}), 404, "other site export")
	must(t, f.do(req{method: "POST", path: "/api/exports", json: `{"case":"","events":[]}`, cookie: officer}), 400, "empty export")
	must(t, f.do(req{method: "POST", path: "/api/exports", json: fmt.Sprintf(`{"case":"x","events":[{"gateway":%q,"epoch":"e1","seq":99}]}`, gwGate), cookie: officer}), 400, "unknown event")
	r := must(t, f.do(req{method: "POST", path: "/api/exports", json: body, cookie: officer}), 200, "export")
	if r.header.Get("Content-Type") != "application/zip" {
		t.Fatal(r.header)
	}
	zb := []byte(r.body)
	m, problems, err := clips.Verify(bytes.NewReader(zb), int64(len(zb)), f.s.o.Clips.Key.Public().(ed25519.PublicKey))
	if err != nil || len(problems) != 0 {
		t.Fatalf("verify: %v %v", problems, err)
	}
	if m.ExportedBy != "tuan" || m.Case != "VV-2026/12" || len(m.Files) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	zr, _ := zip.NewReader(bytes.NewReader(zb), int64(len(zb)))
	for _, zf := range zr.File {
		if strings.HasPrefix(zf.Name, "clips/") && zf.UncompressedSize64 != uint64(len(data)) {
			t.Fatalf("%s: %d bytes", zf.Name, zf.UncompressedSize64)
		}
	}
	es := f.entries("export")
	if len(es) != 1 || es[0].Actor != "tuan" || es[0].Target != "VV-2026/12" || es[0].Detail["sha256"] != r.header.Get("X-Export-SHA256") {
		t.Fatalf("audit %+v", es)
	}
}
