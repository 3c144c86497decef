package web

import (
	"encoding/json"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// GapCause is a gap's reason as the events page words it: the parts of
// the store's Gap.Reason (store.ParseReason) and the explaining event's
// own time, when the store still has that event.
type GapCause struct {
	store.Cause
	// Time is the explaining event's (the gateway's clock); zero when the
	// event was not found. ClockSynced is its clock flag.
	Time        time.Time `json:"time,omitzero"`
	ClockSynced bool      `json:"clock_synced"`
}

// causeOf reads the cause of an explained gap record; nil for any other
// record, and for a reason the store's parser does not know.
func (d *StoreData) causeOf(r store.Record) *GapCause {
	if r.Gap == nil || !r.Gap.Explained {
		return nil
	}
	c, ok := store.ParseReason(r.Gap.Reason)
	if !ok {
		return nil
	}
	gc := &GapCause{Cause: c}
	raw, found, err := d.Store.Event(r.Gateway, r.Gap.Epoch, c.Seq)
	if err != nil || !found {
		return gc
	}
	var ev struct {
		Time        time.Time `json:"time"`
		ClockSynced bool      `json:"clock_synced"`
	}
	if json.Unmarshal(raw, &ev) == nil {
		gc.Time, gc.ClockSynced = ev.Time, ev.ClockSynced
	}
	return gc
}

// day is a notice's date in Asia/Ho_Chi_Minh: "01/12/2026 14:03" in
// Vietnamese, "1 Dec 2026 14:03" in English.
func day(lang string, t time.Time) string {
	if lang == LangEN {
		return t.In(audit.Vietnam).Format("2 Jan 2006 15:04")
	}
	return t.In(audit.Vietnam).Format("02/01/2006 15:04")
}

// countEvents is "3 sự kiện" / "3 events" ("1 event").
func countEvents(lang string, n uint64) string {
	if n == 1 {
		return tr(lang, "notice.eventone")
	}
	return tr(lang, "notice.events", n)
}

// gapText is a gap's row in plain words, one sentence per cause the store
// records, with its date in Vietnam time: "3 sự kiện bị mất tại Cổng khu
// dân cư 3 khi bộ nhớ đầy, ngày 01/12/2026 14:03 (số 5–7)."
func (v *view) gapText(it Item, name string) string {
	g := it.Gap
	n := countEvents(v.lang, g.Len())
	var s string
	c := it.Cause
	when := it.Stored
	if c != nil && !c.Time.IsZero() {
		when = c.Time
	}
	date := day(v.lang, when)
	if c != nil && !c.Time.IsZero() && !c.ClockSynced {
		date += " (" + tr(v.lang, "events.unsynced") + ")"
	}
	switch {
	case !g.Explained:
		seen := g.Opened
		if seen.IsZero() {
			seen = it.Stored
		}
		s = tr(v.lang, "notice.gapopen", n, name, g.First, g.Last, day(v.lang, seen))
	case c == nil:
		s = tr(v.lang, "notice.gapother", n, name, g.First, g.Last, g.Reason)
	case c.Kind == store.CauseOverflow:
		s = tr(v.lang, "notice.overflow", n, name, date, g.First, g.Last)
	case c.Kind == store.CauseReset:
		s = tr(v.lang, "notice.reset", n, name, date, g.First, g.Last)
	case c.Kind == store.CauseDroppedReset:
		s = tr(v.lang, "notice.droppedreset", n, name, c.ResetSeq, date, g.First, g.Last)
	}
	if it.Later {
		s = tr(v.lang, "notice.later") + " " + s
	}
	return s
}

// noticeText is a storage notice in plain words, with its date.
func (v *view) noticeText(n *store.Notice, name string, stored time.Time) string {
	at := n.Time
	if at.IsZero() {
		at = stored
	}
	switch n.Kind {
	case store.NoticeEpochStarted:
		return tr(v.lang, "notice.epoch", name, day(v.lang, at), n.OldLastSeq)
	case store.NoticeStorageReplaced:
		return tr(v.lang, "notice.replaced", name, day(v.lang, at), n.OldLastSeq)
	}
	return tr(v.lang, "notice.other", name, day(v.lang, at), n.Kind)
}

// eventSentence words the events that report lost or reset storage
// (outbox_overflow with its dropped range, storage_reset), shown before
// their raw attrs; "" for other events.
func (v *view) eventSentence(ev *wire.Event, name string) string {
	date := day(v.lang, ev.Time)
	if !ev.ClockSynced {
		date += " (" + tr(v.lang, "events.unsynced") + ")"
	}
	switch ev.Kind {
	case wire.KindOutboxOverflow:
		first, okF := store.AttrUint(ev.Attrs, "first_seq")
		last, okL := store.AttrUint(ev.Attrs, "last_seq")
		if !okF || !okL || last < first {
			if n, ok := store.AttrUint(ev.Attrs, "dropped"); ok {
				return tr(v.lang, "notice.dropped", countEvents(v.lang, n), name, date)
			}
			return ""
		}
		return tr(v.lang, "notice.droppedrange", countEvents(v.lang, last-first+1), name, date, first, last)
	case wire.KindStorageReset:
		return tr(v.lang, "notice.storagereset", name, date)
	}
	return ""
}

// refusedStore is what StoreData needs of a store that quarantines the
// payloads it refuses (*store.Store does).
type refusedStore interface {
	RefusedSince(since time.Time) (map[string]store.Refused, error)
}

// RefusedSince sums up, per gateway, the payloads the store refused as
// invalid since since; none for a store that keeps no quarantine.
func (d *StoreData) RefusedSince(since time.Time) (map[string]store.Refused, error) {
	if rs, ok := d.Store.(refusedStore); ok {
		return rs.RefusedSince(since)
	}
	return map[string]store.Refused{}, nil
}

// refused reads the refused payloads of every gateway since since (none
// when the console's data does not keep them).
func (s *Server) refused(since time.Time) (map[string]store.Refused, error) {
	if rs, ok := s.o.Gateways.(refusedStore); ok {
		return rs.RefusedSince(since)
	}
	return map[string]store.Refused{}, nil
}

// refusedText is a gateway's refused payloads in plain words: "Trạm đã
// từ chối 2 tin nhắn không hợp lệ từ …, lần cuối ngày …: <the error>."
func (v *view) refusedText(r store.Refused, name string) string {
	if r.Count == 0 {
		return ""
	}
	return tr(v.lang, "notice.refused", r.Count, name, day(v.lang, r.Last), r.Error)
}
