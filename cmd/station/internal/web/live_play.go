package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Playback through the relay (docs/live.md "Playback: a recording through
// live view", "From the console"): an offer with ?from=&to=&speed= asks
// the gateway to play the camera's recordings of that range instead of
// its live stream; POST …/{session}/seek jumps within the range; the
// gateway's end notice (live/{session}/end) reaches the browser on the
// session's event stream. The range is in the audit log with the view.

// LiveEndWatcher is optional for a LiveBackend: the gateways' end notices
// of playback sessions from the broker.
type LiveEndWatcher interface {
	// WatchEnd calls fn with session's end notice until cancel is called.
	// fn must not block.
	WatchEnd(gateway, session string, fn func(wire.LiveEndMsg)) (cancel func())
}

// Playback bounds.
const (
	// playMaxRange bounds one playback's range: a day of recordings.
	playMaxRange = 24 * time.Hour
	// playSeekMax bounds a seek's JSON body.
	playSeekMax = 256
	// playReasonMax bounds the gateway's end reason kept and shown.
	playReasonMax = 200
)

// playRange is a playback's asked range of recordings and its speed.
type playRange struct {
	From, To time.Time
	Speed    int
}

// parsePlayRange reads from, to and speed of an offer's query string: ok
// false when none of them is there (a live view). Strict: RFC 3339 times,
// from before to, at most playMaxRange, speed 1, 2 or 4; the error names
// the field.
func parsePlayRange(q url.Values) (pr playRange, ok bool, err error) {
	for _, k := range []string{"from", "to", "speed"} {
		if len(q[k]) > 1 {
			return pr, false, fmt.Errorf("%s: given %d times", k, len(q[k]))
		}
	}
	from, to, speed := q.Get("from"), q.Get("to"), q.Get("speed")
	if from == "" {
		switch {
		case to != "":
			return pr, false, errors.New("from: required with to (a playback's start)")
		case speed != "":
			return pr, false, errors.New("speed: only for a playback (give from and to)")
		}
		return pr, false, nil
	}
	if pr.From, err = parseRFC3339("from", from); err != nil {
		return pr, false, err
	}
	if to == "" {
		return pr, false, errors.New("to: required with from (the end of the range to play)")
	}
	if pr.To, err = parseRFC3339("to", to); err != nil {
		return pr, false, err
	}
	if !pr.From.Before(pr.To) {
		return pr, false, fmt.Errorf("to: %s is not after from %s", iso(pr.To), iso(pr.From))
	}
	if d := pr.To.Sub(pr.From); d > playMaxRange {
		return pr, false, fmt.Errorf("to: the range from–to is %s, over %s", d.Round(time.Minute), playMaxRange)
	}
	switch speed {
	case "", "1":
		pr.Speed = 1
	case "2", "4":
		pr.Speed, _ = strconv.Atoi(speed)
	default:
		return pr, false, fmt.Errorf("speed: %.20q: want 1, 2 or 4", speed)
	}
	return pr, true, nil
}

// Playback from an event row ("Xem lại bản ghi", /live?…&at=T): the
// tile's range starts playPreEvent before the event, for playPrefillSpan.
const (
	playPreEvent    = 10 * time.Second
	playPrefillSpan = 10 * time.Minute
	localInput      = "2006-01-02T15:04:05" // <input type=datetime-local>, in Asia/Ho_Chi_Minh
)

// playPrefill turns an event's time into the tile's from and to as a
// datetime-local input holds them; empty for no (or a bad) at.
func playPrefill(at string) (from, to string) {
	t, err := time.Parse(time.RFC3339, at)
	if err != nil || at == "" {
		return "", ""
	}
	start := t.Add(-playPreEvent).In(audit.Vietnam)
	return start.Format(localInput), start.Add(playPrefillSpan).Format(localInput)
}

// parseRFC3339 reads one time; the error names field and shows the form.
func parseRFC3339(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || len(v) > 40 {
		return time.Time{}, fmt.Errorf("%s: %.40q is not an RFC 3339 time (e.g. 2026-12-02T10:00:00+07:00; in a query string the + is %%2B)", field, v)
	}
	return t, nil
}

// decodeSeek reads a seek's body {"time": RFC 3339} strictly and checks
// the time is inside pr.
func decodeSeek(body []byte, pr playRange) (time.Time, error) {
	if len(body) > playSeekMax {
		return time.Time{}, fmt.Errorf("body: %d bytes, over %d", len(body), playSeekMax)
	}
	var a struct {
		Time *string `json:"time"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return time.Time{}, fmt.Errorf(`body: want {"time": "RFC 3339"}: %v`, err)
	}
	if dec.More() {
		return time.Time{}, errors.New("body: more than one JSON value")
	}
	if a.Time == nil {
		return time.Time{}, errors.New("time: missing")
	}
	t, err := parseRFC3339("time", *a.Time)
	if err != nil {
		return time.Time{}, err
	}
	if t.Before(pr.From) || t.After(pr.To) {
		return time.Time{}, fmt.Errorf("time: %s is outside the playback's range %s – %s", iso(t), iso(pr.From), iso(pr.To))
	}
	return t, nil
}

// rangeDetail adds a playback's range to an audit entry's detail.
func (ls *liveSession) rangeDetail(d map[string]string) {
	if ls.play == nil {
		return
	}
	d["from"], d["to"], d["speed"] = iso(ls.play.From), iso(ls.play.To), strconv.Itoa(ls.play.Speed)
}

// watchEnd subscribes to the gateway's end notice of a playback: the
// session is then ended at the station (its bytes read, audited) without
// a live.close, and the browser is told why on the event stream.
func (h *liveHub) watchEnd(ls *liveSession) func() {
	ew, ok := h.backend.(LiveEndWatcher)
	if !ok || ls.play == nil {
		return func() {}
	}
	return ew.WatchEnd(ls.gateway, ls.id, func(m wire.LiveEndMsg) {
		ls.mu.Lock()
		if ls.ended || ls.gatewayReason != "" {
			ls.mu.Unlock()
			return
		}
		ls.gatewayReason = cmpOr(cut(m.Reason, playReasonMax), "ended at the gateway")
		ls.mu.Unlock()
		go func() { _, _ = h.end(context.Background(), ls, "ended at the gateway", nil) }()
	})
}

// seek: POST …/live/{session}/seek {"time"} → {"session","time"}: the
// key frame the playback goes on from.
func (h *liveHub) seek(w http.ResponseWriter, r *http.Request, v *view) {
	ls := h.lookup(w, r, v)
	if ls == nil {
		return
	}
	if ls.play == nil {
		h.s.fail(w, r, http.StatusConflict, "session: a live view, not a playback: it has no seek")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		h.s.fail(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %.60q: want application/json", ct))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, playSeekMax+1))
	if err != nil {
		h.s.fail(w, r, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	t, err := decodeSeek(body, *ls.play)
	if err != nil {
		h.s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	var ans struct {
		Time time.Time `json:"time"`
	}
	if err := h.liveCommand(r.Context(), ls.gateway, "live.seek", map[string]any{"session": ls.id, "time": t.UTC().Format(time.RFC3339Nano)}, &ans); err != nil {
		h.s.fail(w, r, liveErrCode(err), err.Error()) // 404 for "no recording of camera …"
		return
	}
	h.s.log.Info("playback seek", "user", v.p.name, "gateway", ls.gateway, "camera", ls.camera, "session", ls.id, "time", t, "at", ans.Time)
	writeJSON(w, http.StatusOK, map[string]any{"session": ls.id, "time": ans.Time})
}
