package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/uplink/wire"
)

type alarmsResp struct {
	Alarms []Alarm `json:"alarms"`
}

func keysOf(as []Alarm) map[string]Alarm {
	m := map[string]Alarm{}
	for _, a := range as {
		m[a.Key] = a
	}
	return m
}

// Alarms (tamper, attrs.alarm, a gateway offline beyond the grace) are
// listed until acknowledged; ordinary detections and walk tests are not;
// an officer acknowledges (one, then in bulk) with an outcome and a note,
// audited; a viewer cannot; a second acknowledgement is refused; limits
// hold; the events page pins them above the detections.
func TestAlarmsReview(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.OfflineGrace = 2 * time.Minute })
	tamper := f.event(gwGate, wire.KindTamper, "hop-dien", nil)
	f.event(gwGate, wire.KindMotion, "pir-cong", nil)
	f.event(gwGate, wire.KindContact, "cong-truong", map[string]any{"alarm": true})
	f.seq[gwGate]++
	ws := f.seq[gwGate]
	walk := wire.Event{Seq: ws, ID: wire.EventID(gwGate, ws), Epoch: "e1", Kind: "walk_test", Source: "pir", State: "active",
		Time: f.clock(), Test: true, Boot: "b1", Attrs: map[string]any{"alarm": true}}
	b, _ := json.Marshal(walk)
	if _, err := f.st.Add(gwGate, wire.TopicEvent, b); err != nil {
		t.Fatal(err)
	}
	f.event(gwSchool, wire.KindPanic, "nut-khan", nil)
	_ = tamper

	admin, officer, viewer := f.login("an"), f.login("tuan"), f.login("binh")
	all := keysOf(decode[alarmsResp](t, must(t, f.do(req{path: "/api/alarms", cookie: admin}), 200, "alarms")).Alarms)
	// tamper (a1), contact with alarm (a3), panic at the school (a5), the
	// school offline since an hour before the fixture's clock.
	offKey := ""
	for k := range all {
		if strings.HasPrefix(k, "offline/"+gwSchool+"/") {
			offKey = k
		}
	}
	if len(all) != 4 || offKey == "" || all["a1"].Item == nil || all["a2"].Key != "" || all["a4"].Key != "" {
		t.Fatalf("admin's alarms: %v", all)
	}
	mine := keysOf(decode[alarmsResp](t, f.do(req{path: "/api/alarms", cookie: officer})).Alarms)
	if len(mine) != 2 || mine["a1"].Key == "" || mine["a3"].Key == "" {
		t.Fatalf("officer limited to khu-3 sees %v", mine)
	}
	page := must(t, f.do(req{path: "/events", cookie: officer}), 200, "events page").body
	pin, rows := strings.Index(page, `id="al-a1"`), strings.Index(page, `id="ev-1"`)
	if pin < 0 || rows < 0 || pin > rows || strings.Contains(page, "offline/") {
		t.Fatalf("events page: alarm pinned at %d, rows at %d", pin, rows)
	}

	must(t, f.do(req{method: "POST", path: "/api/alarms/ack", cookie: viewer, json: `{"keys":["a1"],"outcome":"handled"}`}), 403, "viewer acks")
	must(t, f.do(req{method: "POST", path: "/api/alarms/ack", cookie: officer, json: `{"keys":["` + offKey + `"],"outcome":"handled"}`}), 404, "other site's alarm")
	must(t, f.do(req{method: "POST", path: "/api/alarms/ack", cookie: officer, json: `{"keys":["a2"],"outcome":"handled"}`}), 404, "not an alarm")
	r := must(t, f.do(req{method: "POST", path: "/api/alarms/ack", cookie: officer, json: `{"keys":["a1"],"outcome":"maybe"}`}), 400, "bad outcome")
	if !strings.Contains(r.body, "outcome") {
		t.Fatalf("bad outcome error: %s", r.body)
	}
	f.advance(90 * time.Second)
	must(t, f.do(req{method: "POST", path: "/alarms/ack", cookie: officer,
		form: url.Values{"key": {"a1"}, "outcome": {"false_alarm"}, "note": {"<b>mèo</b> chạy qua"}}}), http.StatusSeeOther, "ack by form")
	must(t, f.do(req{method: "POST", path: "/api/alarms/ack", cookie: officer, json: `{"keys":["a1"],"outcome":"handled"}`}), 409, "second ack")
	must(t, f.do(req{method: "POST", path: "/api/alarms/ack", cookie: admin, json: `{"keys":["a3","a5","` + offKey + `"],"outcome":"incident","note":"bulk"}`}), 200, "bulk ack")
	if left := decode[alarmsResp](t, f.do(req{path: "/api/alarms", cookie: admin})).Alarms; len(left) != 0 {
		t.Fatalf("after acknowledging all: %v", left)
	}
	es := f.entries("ack")
	if len(es) != 6 { // a1 refused (bad outcome), a1 ok, a1 refused (again), three in bulk
		t.Fatalf("audit: %d ack entries: %+v", len(es), es)
	}
	// Newest first: es[4] is the first that was stored.
	if e := es[4]; e.Actor != "tuan" || e.Target != "a1" || !e.OK || e.Detail["outcome"] != "false_alarm" || e.Detail["note"] != "<b>mèo</b> chạy qua" || e.Gateway != gwGate {
		t.Fatalf("audit entry: %+v", e)
	}
	if es[3].OK {
		t.Fatalf("refused second ack audited as ok: %+v", es[3])
	}
	// A new offline period of the school is a new alarm; a blip shorter
	// than the grace is not.
	f.st.SetStatus(gwSchool, wire.Status{Online: true, Boot: "b3"}, f.clock())
	f.st.SetStatus(gwSchool, wire.Status{Online: false, Boot: "b3"}, f.clock())
	f.advance(time.Minute)
	if al := decode[alarmsResp](t, f.do(req{path: "/api/alarms", cookie: admin})).Alarms; len(al) != 0 {
		t.Fatalf("a minute offline (grace 2 min) alarmed: %v", al)
	}
	f.advance(2 * time.Minute)
	if al := decode[alarmsResp](t, f.do(req{path: "/api/alarms", cookie: admin})).Alarms; len(al) != 1 || al[0].OfflineSince.IsZero() {
		t.Fatalf("3 minutes offline: %v", al)
	}
	st := decode[Stats](t, must(t, f.do(req{path: "/api/stats", cookie: admin}), 200, "stats"))
	if st.Ack.Count != 4 || st.Ack.Outcomes["incident"] != 3 || st.Ack.MaxS < 90 {
		t.Fatalf("stats ack: %+v", st.Ack)
	}
}

// commander stands in for the station's MQTT client (console.Command is
// tested against the embedded broker in its package): it records what
// the web server asks for and answers as the gateway's alarm does.
type commander struct {
	mu   sync.Mutex
	got  []map[string]any
	gws  []string
	wait bool
}

func (c *commander) Command(ctx context.Context, gw, name string, args map[string]any) (json.RawMessage, error) {
	c.mu.Lock()
	a := map[string]any{"name": name}
	for k, v := range args {
		a[k] = v
	}
	c.got = append(c.got, a)
	c.gws = append(c.gws, gw)
	wait := c.wait
	c.mu.Unlock()
	if wait {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if args["mode"] == "night" {
		return json.RawMessage(`{"id":"r1","ok":false,"error":"sensors open","open":["cong-truong","<img>"]}`), nil
	}
	return json.RawMessage(`{"id":"r1","ok":true}`), nil
}

// Commands carry the officer's name; a viewer cannot send them, an
// officer only to its sites; a refused arming names the open sensors on
// the page (as text); silence is its own command; a gateway that does not
// answer is a 504; each is audited with its result.
func TestCommands(t *testing.T) {
	cm := &commander{}
	f := newFixture(t, func(o *Options) { o.Commands = cm; o.CommandTimeout = 200 * time.Millisecond })
	officer, viewer := f.login("tuan"), f.login("binh")
	must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwGate + "/commands/arm", cookie: viewer, json: `{"mode":"away"}`}), 403, "viewer arms")
	must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwSchool + "/commands/arm", cookie: officer, json: `{"mode":"away"}`}), 404, "other site")
	must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwGate + "/commands/arm", cookie: officer, json: `{"mode":"Away!"}`}), 400, "bad mode")
	must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwGate + "/commands/reboot", cookie: officer, json: `{}`}), 400, "unknown command")
	r := must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwGate + "/commands/arm", cookie: officer, json: `{"mode":"away"}`}), 200, "arm")
	if res := decode[CommandResult](t, r); !res.OK {
		t.Fatalf("arm: %+v", res)
	}
	must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwGate + "/commands/silence", cookie: officer, json: `{}`}), 200, "silence")
	must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwGate + "/commands/output", cookie: officer, json: `{"output":"siren","on":false}`}), 200, "output off")
	page := must(t, f.do(req{method: "POST", path: "/gateways/" + gwGate + "/command", cookie: officer,
		form: url.Values{"command": {"arm"}, "mode": {"night"}}}), 200, "arm by form").body
	if !strings.Contains(page, `id="cmd-open"`) || !strings.Contains(page, "cong-truong") || strings.Contains(page, "<img>") {
		t.Fatalf("refused arming page does not name the open sensors as text:\n%.2000s", page)
	}
	cm.mu.Lock()
	if len(cm.got) != 4 || cm.got[0]["user"] != "tuan" || cm.got[0]["mode"] != "away" || cm.got[1]["name"] != "silence" || cm.got[1]["mode"] != nil ||
		cm.got[2]["on"] != false || cm.got[2]["name"] != "siren" || cm.gws[0] != gwGate {
		t.Fatalf("commands sent: %v to %v", cm.got, cm.gws)
	}
	cm.wait = true
	cm.mu.Unlock()
	must(t, f.do(req{method: "POST", path: "/api/gateways/" + gwGate + "/commands/arm", cookie: officer, json: `{"mode":"disarmed"}`}), 504, "no reply")
	es := f.entries("command")
	if len(es) != 5 || es[4].Actor != "tuan" || es[4].Target != "arm" || es[4].Detail["mode"] != "away" || !es[4].OK || es[1].OK || es[0].OK || es[0].Detail["error"] == "" {
		t.Fatalf("audit: %+v", es)
	}
}
