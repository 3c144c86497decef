package web

import (
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// put stores one event of gw with the given epoch, seq, kind and attrs,
// stamped at "at" by a clock synced or not.
func (f *fixture) put(gw, epoch string, seq uint64, kind string, attrs map[string]any, at time.Time, synced bool) {
	f.t.Helper()
	b, err := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(gw, seq), Epoch: epoch, Kind: kind, Source: "outbox",
		State: "active", Time: at, ClockSynced: synced, Boot: "b1", Attrs: attrs})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.Add(gw, wire.TopicEvent, b); err != nil {
		f.t.Fatal(err)
	}
}

// Each reason the store records for lost events, and each storage
// notice, is one plain sentence with its date in Vietnam time, in both
// languages, the same on the events page and in the feed's rows; the API
// keeps the store's own reason beside its parts.
func TestNoticesInPlainWords(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	filled := time.Date(2026, 12, 1, 7, 3, 0, 0, time.UTC) // 14:03 in Vietnam
	// Seqs 3-5 dropped by a full outbox, reported by its event 6.
	f.put(gwGate, "e1", 1, wire.KindMotion, nil, filled.Add(-time.Hour), true)
	f.put(gwGate, "e1", 2, wire.KindMotion, nil, filled.Add(-time.Hour), true)
	f.put(gwGate, "e1", 6, wire.KindOutboxOverflow, map[string]any{"dropped": 3, "first_seq": 3, "last_seq": 5}, filled, true)
	// Seq 7 lost when the outbox file was damaged: the storage_reset
	// event 8 explains it.
	f.put(gwGate, "e1", 8, wire.KindStorageReset, map[string]any{"resumed_seq": 8}, filled.Add(time.Hour), false)
	// The school: a gap left open, then its storage replaced.
	f.put(gwSchool, "s1", 1, wire.KindMotion, nil, filled, true)
	f.put(gwSchool, "s1", 4, wire.KindMotion, nil, filled, true)
	f.put(gwSchool, "s2", 1, wire.KindMotion, nil, filled.Add(2*time.Hour), true)

	want := map[string][2]string{ // Vietnamese, English
		"overflow": {"3 sự kiện bị mất tại Cổng khu dân cư 3 khi bộ nhớ đầy, ngày 01/12/2026 14:03 (số 3–5).",
			"3 events lost at Cổng khu dân cư 3 when its storage filled on 1 Dec 2026 14:03 (numbers 3–5)."},
		"reset": {"1 sự kiện bị mất tại Cổng khu dân cư 3 khi bộ nhớ bị hỏng và được làm mới, ngày 01/12/2026 15:03 (đồng hồ thiết bị chưa đồng bộ) (số 7–7).",
			"1 event lost at Cổng khu dân cư 3 when its damaged storage was started afresh on 1 Dec 2026 15:03 (gateway clock not synced) (numbers 7–7)."},
		"resetev": {"Bộ nhớ của Cổng khu dân cư 3 bị hỏng, đã được cất sang một bên và làm mới, ngày 01/12/2026 15:03 (đồng hồ thiết bị chưa đồng bộ).",
			"The storage of Cổng khu dân cư 3 was damaged, moved aside and started afresh on 1 Dec 2026 15:03 (gateway clock not synced)."},
		"open": {"2 sự kiện bị mất tại Trường THCS Chí Đám (số 2–3), chưa rõ lý do; phát hiện ngày ",
			"2 events missing from Trường THCS Chí Đám (numbers 2–3), reason not known yet; noticed on "},
		"replaced":     {"Bộ nhớ của Trường THCS Chí Đám đã được thay ngày ", "The storage of Trường THCS Chí Đám was replaced on "},
		"replacedlast": {"; bộ nhớ cũ dừng ở sự kiện số 4.", "; the old storage ended at event number 4."},
	}
	for i, lang := range []string{LangVI, LangEN} {
		page := must(t, f.do(req{path: "/events", cookie: an, header: map[string]string{"Cookie": langCookie + "=" + lang + "; " + sessionCookie + "=" + an}}), http.StatusOK, "events").body
		for k, w := range want {
			if !strings.Contains(page, html.EscapeString(w[i])) {
				t.Errorf("%s: the events page lacks the %s sentence %q", lang, k, w[i])
			}
		}
		if n := strings.Count(page, html.EscapeString(want["overflow"][i])); n != 3 {
			t.Errorf("%s: the overflow sentence is on %d lines, want 3 (the gap, its alarm to review and the outbox_overflow event)", lang, n)
		}
		// The feed's rows are the page's.
		v := &view{s: f.s, p: &principal{name: "an", role: accounts.Admin}, lang: lang}
		items, _, err := v.events(0, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{gwGate: "Cổng khu dân cư 3", gwSchool: "Trường THCS Chí Đám"}
		var texts []string
		for _, it := range items {
			s := v.show(it, names)
			texts = append(texts, s.Text+" "+strings.Join(s.Attrs, " "))
		}
		all := strings.Join(texts, "\n")
		for k, w := range want {
			if !strings.Contains(all, w[i]) {
				t.Errorf("%s: the feed rows lack the %s sentence %q:\n%s", lang, k, w[i], all)
			}
		}
	}

	// The API keeps the raw reason and gives its parts.
	type apiItems struct {
		Items []Item `json:"items"`
	}
	var overflow *Item
	for _, it := range decode[apiItems](t, must(t, f.do(req{path: "/api/events?gateway=" + gwGate, cookie: an}), http.StatusOK, "events")).Items {
		if it.Type == ItemGap && it.Gap.First == 3 {
			overflow = &it
		}
	}
	if overflow == nil || overflow.Gap.Reason != "outbox_overflow (event 6, 3 dropped)" || overflow.Cause == nil ||
		overflow.Cause.Kind != store.CauseOverflow || overflow.Cause.Seq != 6 || overflow.Cause.Dropped != 3 || !overflow.Cause.Time.Equal(filled) {
		t.Errorf("the API's gap 3-5: %+v (cause %+v)", overflow, overflow.Cause)
	}
}

// A gap explained later says so; a reason the console does not know is
// shown as the store wrote it.
func TestNoticeGapExplainedLaterAndUnknownReason(t *testing.T) {
	f := newFixture(t)
	v := &view{s: f.s, p: &principal{name: "an", role: accounts.Admin}, lang: LangVI}
	at := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	it := Item{Type: ItemGap, Gateway: gwGate, Stored: at, Later: true,
		Gap:   &store.Gap{Gateway: gwGate, First: 10, Last: 11, Explained: true, Reason: "outbox_overflow (event 20, 2 dropped)"},
		Cause: &GapCause{Cause: store.Cause{Kind: store.CauseOverflow, Seq: 20, Dropped: 2}}}
	if got, want := v.gapText(it, "Cổng khu dân cư 3"), "Đã rõ lý do: 2 sự kiện bị mất tại Cổng khu dân cư 3 khi bộ nhớ đầy, ngày 01/12/2026 08:00 (số 10–11)."; got != want {
		t.Errorf("later:\n got %q\nwant %q", got, want)
	}
	it = Item{Type: ItemGap, Gateway: gwGate, Stored: at, Gap: &store.Gap{First: 5, Last: 5, Explained: true, Reason: "power cut"}}
	v.lang = LangEN
	if got, want := v.gapText(it, "X"), "1 event lost at X (numbers 5–5). Reason: power cut."; got != want {
		t.Errorf("unknown reason:\n got %q\nwant %q", got, want)
	}
	if got, want := v.noticeText(&store.Notice{Kind: store.NoticeEpochStarted, OldLastSeq: 41, Time: at}, "X", at), "X started a new numbering on 1 Dec 2026 08:00, continuing from number 41."; got != want {
		t.Errorf("epoch started:\n got %q\nwant %q", got, want)
	}
}

// Payloads the store refused as invalid (its quarantine) are one sentence
// on the gateway's card, with the newest error, in both languages.
func TestNoticeRefusedPayloads(t *testing.T) {
	f := newFixture(t)
	an := f.login("an")
	for _, p := range []string{"{", `{"seq":2,"id":"khac/2"}`} {
		if _, err := f.st.Add(gwGate, wire.TopicEvent, []byte(p)); err == nil {
			t.Fatalf("%s accepted", p)
		}
	}
	page := must(t, f.do(req{path: "/sites", cookie: an}), http.StatusOK, "sites").body
	c := card(t, page, gwGate)
	if !strings.Contains(c, `<p class="refused warn">Trạm đã từ chối 2 tin nhắn không hợp lệ từ Cổng khu dân cư 3 trong khoảng này, lần cuối ngày `) ||
		!strings.Contains(c, html.EscapeString(`want "cong-khu-3/2"`)) {
		t.Errorf("the card lacks the refused payloads:\n%s", c)
	}
	if strings.Contains(card(t, page, gwSchool), `class="refused`) {
		t.Error("the school's card tells of refused payloads it never sent")
	}
	en := must(t, f.do(req{path: "/sites", cookie: an, header: map[string]string{"Cookie": langCookie + "=en; " + sessionCookie + "=" + an}}), http.StatusOK, "sites").body
	if !strings.Contains(card(t, en, gwGate), "The station refused 2 invalid messages from Cổng khu dân cư 3 in this span, the last on ") {
		t.Error("the English card lacks the refused payloads")
	}
}
