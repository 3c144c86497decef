package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// DefaultOfflineGrace is how long a gateway may be offline before that is
// an alarm (-offline-grace).
const DefaultOfflineGrace = 2 * time.Minute

// Reviews keeps acknowledgements (*store.Store implements it durably).
type Reviews interface {
	Acknowledge(acks []store.Ack) error
	Acks() (map[string]store.Ack, error)
}

var _ Reviews = (*store.Store)(nil)

// alarmKinds are the event kinds that are alarms whatever their attrs
// (docs/decisions.md "Console alarms"): until the gateway's alarm logic
// reports armed-state events everywhere, these and any event with
// attrs.alarm true are what an officer must review.
var alarmKinds = map[string]bool{
	wire.KindTamper: true, wire.KindPanic: true, wire.KindCameraOffline: true,
	wire.KindCaptureFailed: true, wire.KindOutboxOverflow: true, wire.KindStorageReset: true,
	"alarm": true,
}

// IsAlarm reports whether it is an alarm to review: a gap (events lost), a
// storage notice, an event of an alarm kind, or one marked attrs.alarm.
// Installer tests and an alarm "restored" are not.
func IsAlarm(it Item) bool {
	switch it.Type {
	case ItemGap:
		return !it.Later // the first report of a gap is the alarm; its explanation is not another
	case ItemNotice:
		return it.Notice != nil && it.Notice.Kind != store.NoticeEpochStarted
	case ItemEvent:
		ev := it.Event
		if ev == nil || ev.Test {
			return false
		}
		if ev.Kind == "alarm" && ev.State == "restored" {
			return false
		}
		if b, _ := ev.Attrs["alarm"].(bool); b {
			return true
		}
		return alarmKinds[ev.Kind]
	}
	return false
}

// Alarm is one alarm to review.
type Alarm struct {
	// Key names it for acknowledging: "a<arrival>" or
	// "offline/<gateway>/<unix nanoseconds of the offline start>".
	Key     string    `json:"key"`
	Gateway string    `json:"gateway"`
	Name    string    `json:"name"`
	Raised  time.Time `json:"raised"`
	// Item is the stored record (nil for a gateway offline).
	Item *Item `json:"item,omitempty"`
	// OfflineSince is set for a gateway offline longer than the grace.
	OfflineSince time.Time `json:"offline_since,omitzero"`
	// Text describes it in the request's language.
	Text string `json:"text"`
	// When is Raised as the page prints it (Asia/Ho_Chi_Minh, the
	// request's language): the page adds alarms it polls with it.
	When string `json:"when"`
}

// alarmText is how the alarm list describes a stored alarm: the row's
// text, or an event's kind, source and state.
func (rw row) alarmText() string {
	if rw.Type == ItemEvent {
		return strings.TrimSpace(rw.Kind + " " + rw.Event.Source + " " + rw.State)
	}
	return rw.Text
}

func arrivalKey(n uint64) string { return "a" + strconv.FormatUint(n, 10) }

func offlineKey(gw string, since time.Time) string {
	return "offline/" + gw + "/" + strconv.FormatInt(since.UnixNano(), 10)
}

// maxAlarmScan bounds how far back the alarm list looks (records of the
// principal's gateways): older unacknowledged alarms are still in the
// events pages.
const maxAlarmScan = 2000

// alarms returns the principal's unacknowledged alarms, newest first, and
// the acknowledgements of its gateways.
func (v *view) alarms() ([]Alarm, map[string]store.Ack, error) {
	acks := map[string]store.Ack{}
	if v.s.o.Reviews != nil {
		all, err := v.s.o.Reviews.Acks()
		if err != nil {
			return nil, nil, err
		}
		for k, a := range all {
			if a.Gateway == "" || v.allows(a.Gateway) {
				acks[k] = a
			}
		}
	}
	gws, err := v.gateways()
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	var out []Alarm
	now := v.s.now()
	for _, g := range gws {
		names[g.ID] = v.gwName(g)
		if offlineAlarmed(g, now, v.s.o.OfflineGrace) {
			k := offlineKey(g.ID, g.OfflineSince)
			if _, done := acks[k]; !done {
				out = append(out, Alarm{Key: k, Gateway: g.ID, Name: g.Name, Raised: g.OfflineSince, OfflineSince: g.OfflineSince,
					Text: tr(v.lang, "alarm.offline")}) // the list shows the name beside it
			}
		}
	}
	items, _, err := v.events(0, maxAlarmScan, "")
	if err != nil {
		return nil, nil, err
	}
	for _, it := range items {
		if !IsAlarm(it) {
			continue
		}
		k := arrivalKey(it.Arrival)
		if _, done := acks[k]; done {
			continue
		}
		rw := v.row(it, names)
		it := it
		out = append(out, Alarm{Key: k, Gateway: it.Gateway, Name: rw.Name, Raised: it.Stored, Item: &it, Text: rw.alarmText()})
	}
	for i := range out {
		out[i].When = when(v.lang, out[i].Raised)
	}
	slices.SortStableFunc(out, func(a, b Alarm) int { return b.Raised.Compare(a.Raised) })
	return out, acks, nil
}

func (s *Server) apiAlarms(w http.ResponseWriter, r *http.Request, v *view) {
	al, _, err := v.alarms()
	if err != nil {
		s.internal(w, r, "list alarms", err)
		return
	}
	if al == nil {
		al = []Alarm{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alarms": al})
}

// ackRequest is the body of POST /api/alarms/ack.
type ackRequest struct {
	Keys    []string `json:"keys"`
	Outcome string   `json:"outcome"`
	Note    string   `json:"note"`
}

// maxBulkAck bounds one bulk acknowledgement.
const maxBulkAck = 200

// acknowledge stores the principal's acknowledgement of keys, after
// checking that each is an alarm of a gateway it may see, and audits each.
func (s *Server) acknowledge(r *http.Request, v *view, q ackRequest) (int, error) {
	if s.o.Reviews == nil {
		return http.StatusServiceUnavailable, errors.New("acknowledgements are not kept by this console")
	}
	if len(q.Keys) == 0 || len(q.Keys) > maxBulkAck {
		return http.StatusBadRequest, fmt.Errorf("keys: want 1 to %d alarms", maxBulkAck)
	}
	now := s.now()
	acks := make([]store.Ack, 0, len(q.Keys))
	seen := map[string]bool{}
	for _, k := range q.Keys {
		if seen[k] {
			return http.StatusBadRequest, fmt.Errorf("key %.60q listed twice", k)
		}
		seen[k] = true
		gw, raised, err := s.alarmOf(k)
		if err != nil || !v.allows(gw) {
			return http.StatusNotFound, fmt.Errorf("key %.60q: no such alarm", k)
		}
		acks = append(acks, store.Ack{Key: k, User: v.p.name, Outcome: q.Outcome, Note: q.Note, At: now, Raised: raised, Gateway: gw})
	}
	err := s.o.Reviews.Acknowledge(acks)
	for _, a := range acks {
		detail := map[string]string{"outcome": q.Outcome}
		if q.Note != "" {
			detail["note"] = q.Note
		}
		if err != nil {
			detail["error"] = err.Error()
		}
		if aerr := s.record(r, audit.Entry{Actor: v.p.name, Action: "ack", Target: a.Key, Gateway: a.Gateway, OK: err == nil, Detail: detail}); aerr != nil && err == nil {
			return http.StatusInternalServerError, errors.New("audit log not written")
		}
	}
	if errors.Is(err, store.ErrAcknowledged) {
		return http.StatusConflict, err
	}
	if err != nil {
		return http.StatusBadRequest, err
	}
	return http.StatusOK, nil
}

// alarmOf finds the gateway and raising time of alarm key; an error when
// key names no alarm.
func (s *Server) alarmOf(k string) (string, time.Time, error) {
	if rest, ok := strings.CutPrefix(k, "offline/"); ok {
		gw, ns, ok := strings.Cut(rest, "/")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil || !wire.ValidID(gw) {
			return "", time.Time{}, errors.New("bad offline key")
		}
		return gw, time.Unix(0, n), nil
	}
	ns, ok := strings.CutPrefix(k, "a")
	n, err := strconv.ParseUint(ns, 10, 64)
	if !ok || err != nil || n == 0 || s.o.Feed == nil {
		return "", time.Time{}, errors.New("bad key")
	}
	items, _, err := s.o.Feed.After(n-1, 1)
	if err != nil || len(items) != 1 || items[0].Arrival != n || !IsAlarm(items[0]) {
		return "", time.Time{}, errors.New("not an alarm")
	}
	return items[0].Gateway, items[0].Stored, nil
}

func (s *Server) apiAck(w http.ResponseWriter, r *http.Request, v *view) {
	var q ackRequest
	if err := decodeJSON(r, &q); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if code, err := s.acknowledge(r, v, q); err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": len(q.Keys)})
}

// ackForm is the events page's acknowledgement form (works without
// script): key (repeated), outcome, note.
func (s *Server) ackForm(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	q := ackRequest{Keys: r.PostForm["key"], Outcome: r.PostForm.Get("outcome"), Note: r.PostForm.Get("note")}
	if code, err := s.acknowledge(r, v, q); err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	http.Redirect(w, r, "/events", http.StatusSeeOther)
}
