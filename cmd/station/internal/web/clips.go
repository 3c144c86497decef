package web

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/clips"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Clips is the console's access to the station's clip store and the key
// that signs case exports (Options.Clips). Without it the clip routes
// answer 503.
type Clips struct {
	Store *clips.Store
	Key   ed25519.PrivateKey

	views   clipViews
	fetches fetchLimit
}

// clipViewWindow: an account's requests for one clip within this of its
// audited viewing are that viewing (a player's range requests, a seek, a
// revalidation); the first after it is a new viewing, audited again.
const clipViewWindow = 10 * time.Minute

// clipViews remembers when each account's viewing of each clip was
// audited, so that a viewing is audited once whatever headers its
// requests carry (Range, If-None-Match are the viewer's to choose).
type clipViews struct {
	mu sync.Mutex
	at map[string]time.Time // account NUL gateway/clip
}

// seen reports whether k's viewing was audited within clipViewWindow.
func (c *clipViews) seen(k string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.at[k]
	return ok && now.Sub(at) < clipViewWindow && !now.Before(at)
}

// mark records k's viewing as audited at now, forgetting those past the
// window once many are kept.
func (c *clipViews) mark(k string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = map[string]time.Time{}
	}
	if len(c.at) >= 4096 {
		for old, at := range c.at {
			if now.Sub(at) >= clipViewWindow {
				delete(c.at, old)
			}
		}
	}
	c.at[k] = now
}

// maxExports bounds the exports built at once, each in a temporary file
// of up to MaxExportBytes: more asked for at the same moment would fill
// the station's disk (or RAM, for a tmpfs /tmp).
const maxExports = 2

// exportAuditNames bounds the file names an export's audit entry lists
// (an audit line holds 64 KiB; 500 events with snapshots and clips come
// to some 60 KiB of names).
const exportAuditNames = 16 << 10

// MaxExportBytes bounds one case export (its clips mostly): the zip is
// built in a temporary file before it is audited and sent.
const MaxExportBytes = 4 << 30

// registerClips adds the clip and export routes (docs/api.md, "Clips and
// export").
func (s *Server) registerClips() {
	s.exports = make(chan struct{}, maxExports)
	s.handle("GET /api/clips/{gateway}", accounts.Viewer, s.apiClipList)
	s.handle("GET /api/clips/{gateway}/{clip}", accounts.Viewer, s.apiClip)
	s.handle("GET /api/clips/{gateway}/{clip}/status", accounts.Viewer, s.apiClipStatus)
	s.handle("POST /api/clips/{gateway}/{clip}/fetch", accounts.Officer, s.apiClipFetch)
	s.handle("POST /api/clips/{gateway}/fetch", accounts.Officer, s.apiClipFetchRange)
	s.handle("POST /api/exports", accounts.Officer, s.apiExport)
}

func (s *Server) clipStore(w http.ResponseWriter, r *http.Request) (*clips.Store, bool) {
	if s.o.Clips == nil || s.o.Clips.Store == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "this console has no clip store")
		return nil, false
	}
	return s.o.Clips.Store, true
}

// clipOf is the clip store and the {gateway}/{clip} a clip route names,
// or false with the answer written.
func (s *Server) clipOf(w http.ResponseWriter, r *http.Request) (cs *clips.Store, gw, id string, ok bool) {
	if cs, ok = s.clipStore(w, r); !ok {
		return nil, "", "", false
	}
	id = r.PathValue("clip")
	if !wire.ValidClipID(id) {
		s.fail(w, r, http.StatusBadRequest, "clip: not a clip id")
		return nil, "", "", false
	}
	return cs, r.PathValue("gateway"), id, true
}

// ClipStatus is a clip's state as the API gives it.
type ClipStatus struct {
	Gateway  string      `json:"gateway"`
	Clip     string      `json:"clip"`
	Camera   string      `json:"camera,omitempty"`
	Start    string      `json:"start,omitempty"`
	Duration int64       `json:"duration_ms,omitempty"`
	Bytes    int64       `json:"bytes"`
	SHA256   string      `json:"sha256,omitempty"`
	State    clips.State `json:"state"`
	Have     int64       `json:"have"`
	Upload   string      `json:"upload,omitempty"`
	Seq      uint64      `json:"seq,omitempty"`
	Epoch    string      `json:"epoch,omitempty"`
	URL      string      `json:"url,omitempty"` // where it plays, once complete
}

func clipStatus(st clips.Status) ClipStatus {
	c := ClipStatus{Gateway: st.Gateway, Clip: st.ID, Camera: st.Camera, Start: st.Start, Duration: st.Duration,
		Bytes: st.Bytes, SHA256: st.SHA256, State: st.State, Have: st.Have, Upload: st.Upload, Seq: st.Seq, Epoch: st.Epoch}
	if st.State == clips.Complete {
		c.URL = "/api/clips/" + st.Gateway + "/" + st.ID
	}
	return c
}

func (s *Server) apiClipList(w http.ResponseWriter, r *http.Request, _ *view) {
	cs, ok := s.clipStore(w, r)
	if !ok {
		return
	}
	l, err := cs.List(r.PathValue("gateway"))
	if err != nil {
		s.internal(w, r, "list clips", err)
		return
	}
	out := make([]ClipStatus, 0, len(l))
	for _, st := range l {
		out = append(out, clipStatus(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"clips": out})
}

func (s *Server) apiClipStatus(w http.ResponseWriter, r *http.Request, _ *view) {
	cs, gw, id, ok := s.clipOf(w, r)
	if !ok {
		return
	}
	st, found, err := cs.Status(gw, id)
	if err != nil {
		s.internal(w, r, "read clip status", err)
		return
	}
	if !found {
		writeJSON(w, http.StatusOK, ClipStatus{Gateway: gw, Clip: id, State: clips.Missing})
		return
	}
	writeJSON(w, http.StatusOK, clipStatus(st))
}

// apiClip serves a complete clip as video/mp4, with Range (a <video>
// seeks with it).
func (s *Server) apiClip(w http.ResponseWriter, r *http.Request, v *view) {
	cs, gw, id, ok := s.clipOf(w, r)
	if !ok {
		return
	}
	f, st, err := cs.Open(gw, id)
	if errors.Is(err, clips.ErrNotFound) {
		state := st.State
		if state == "" {
			state = clips.Missing
		}
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("clip not complete at the station (%s, %d of %d bytes)", state, st.Have, st.Bytes))
		return
	}
	if err != nil {
		s.internal(w, r, "open clip", err)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "video/mp4")
	// Evidence is not played from the browser's cache without the station
	// checking who asks (the station PC is shared): revalidated each time,
	// a 304 by the ETag for an account still allowed.
	w.Header().Set("Cache-Control", "private, no-cache")
	w.Header().Set("ETag", `"`+st.SHA256+`"`)
	// Who watched which evidence is on the record, like live views: once
	// per viewing, an account's requests for the clip within
	// clipViewWindow (a player's range requests, a revalidation), whatever
	// their Range or If-None-Match, which the viewer chooses.
	now, vk := s.now(), v.p.name+"\x00"+gw+"/"+id
	if !s.o.Clips.views.seen(vk, now) {
		if err := s.record(r, audit.Entry{Actor: v.p.name, Action: audit.ClipView, Target: id, Gateway: gw, Site: s.siteOf(gw), OK: true}); err != nil {
			s.internal(w, r, "audit the clip viewing", err)
			return
		}
		s.o.Clips.views.mark(vk, now)
	}
	http.ServeContent(w, r, id+".mp4", st.Done, f)
}

// apiClipFetch asks the gateway (clip.get) for the bytes the station
// lacks, from the end of what it holds from the start.
func (s *Server) apiClipFetch(w http.ResponseWriter, r *http.Request, v *view) {
	cs, gw, id, ok := s.clipOf(w, r)
	if !ok {
		return
	}
	st, found, err := cs.Status(gw, id)
	if err != nil {
		s.internal(w, r, "read clip status", err)
		return
	}
	if found && st.State == clips.Complete {
		res := CommandResult{Command: wire.CmdClipGet, Gateway: gw, OK: true}
		writeJSON(w, http.StatusOK, map[string]any{"result": res, "clip": clipStatus(st)})
		return
	}
	if !found {
		// Its chunks would all be refused (clips.Store.Put): the gateway
		// would send the whole file over its prepaid link for nothing.
		msg := "the station has no announcement of clip " + id + " (its clip event has not arrived, or retention deleted it): its bytes would be refused, so it is not asked for"
		res := CommandResult{Command: wire.CmdClipGet, Gateway: gw, Error: msg}
		writeJSON(w, http.StatusNotFound, map[string]any{"result": res, "clip": ClipStatus{Gateway: gw, Clip: id, State: clips.Missing}, "error": msg})
		return
	}
	args := map[string]any{"clip": id}
	if found && st.Next > 0 {
		args["offset"] = st.Next
	}
	res, code, ok := s.clipGet(w, r, v, gw, id, args)
	if ok {
		writeJSON(w, code, map[string]any{"result": res, "clip": clipStatus(st)})
	}
}

// clipGet sends clip.get with args to gw, waits for the reply and audits
// it (clip.fetch, target what was asked). ok is false when it has
// answered the request itself.
func (s *Server) clipGet(w http.ResponseWriter, r *http.Request, v *view, gw, target string, args map[string]any) (res CommandResult, code int, ok bool) {
	res = CommandResult{Command: wire.CmdClipGet, Gateway: gw}
	if s.o.Commands == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "this console cannot send commands")
		return res, 0, false
	}
	if s.o.Clips != nil {
		if ok, wait := s.o.Clips.fetches.take(v.p.name, s.now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			lang := langOf(r)
			s.fail(w, r, http.StatusTooManyRequests, tr(lang, "clip.limit", FetchBurst, int((wait+time.Minute-1)/time.Minute)))
			return res, 0, false
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.CommandTimeout)
	defer cancel()
	reply, err := s.o.Commands.Command(ctx, gw, wire.CmdClipGet, args)
	code = http.StatusOK
	if err != nil {
		res.Error = err.Error()
		code = http.StatusBadGateway
		if errors.Is(err, ErrNoReply) || errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
	} else {
		var rp struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if jerr := json.Unmarshal(reply, &rp); jerr != nil {
			res.Error, code = "reply: "+jerr.Error(), http.StatusBadGateway
		} else {
			res.OK, res.Error, res.Reply = rp.OK, rp.Error, reply
		}
	}
	detail := map[string]string{}
	for k, a := range args {
		detail[k] = fmt.Sprint(a)
		if ids, ok := a.([]string); ok { // skip: how many, not which
			detail[k] = strconv.Itoa(len(ids))
		}
	}
	if res.Error != "" {
		detail["error"] = cut(res.Error, 300)
	}
	if aerr := s.record(r, audit.Entry{Actor: v.p.name, Action: "clip.fetch", Target: target, Gateway: gw, OK: res.OK, Detail: detail}); aerr != nil {
		s.fail(w, r, http.StatusInternalServerError, "audit log not written")
		return res, 0, false
	}
	return res, code, true
}

// apiClipFetchRange asks gw for the recordings of a camera over a time
// range (continuous recording): {"camera","from","to"}, RFC 3339, at most
// MaxFetchRange long.
func (s *Server) apiClipFetchRange(w http.ResponseWriter, r *http.Request, v *view) {
	var q struct {
		Camera string    `json:"camera"`
		From   time.Time `json:"from"`
		To     time.Time `json:"to"`
	}
	if err := decodeJSON(r, &q); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case q.Camera == "" || len(q.Camera) > 64:
		s.fail(w, r, http.StatusBadRequest, "camera: want the camera's name")
		return
	case q.From.IsZero() || q.To.IsZero() || q.To.Before(q.From):
		s.fail(w, r, http.StatusBadRequest, `from, to: want two RFC 3339 times, "to" not before "from"`)
		return
	case q.To.Sub(q.From) > MaxFetchRange:
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("the range is longer than %s: ask for a shorter one (each minute is about 4 MiB of data at 512 kbit/s)", MaxFetchRange))
		return
	}
	cs, ok := s.clipStore(w, r)
	if !ok {
		return
	}
	gw := r.PathValue("gateway")
	from, to := q.From.UTC().Truncate(time.Second), q.To.UTC().Truncate(time.Second) // as sent, to the second
	// What the station holds complete is not sent again (each 2-hour
	// range is some 480 MiB over the prepaid link); if it holds every
	// clip the announcements show over the whole range, the gateway is
	// not asked at all.
	h, err := cs.Held(gw, q.Camera, from, to)
	if err != nil {
		s.internal(w, r, "read the clips held", err)
		return
	}
	lang := langOf(r)
	args := map[string]any{"camera": q.Camera, "from": from.Format(time.RFC3339), "to": to.Format(time.RFC3339)}
	if h.All() {
		detail := map[string]string{"camera": q.Camera, "from": args["from"].(string), "to": args["to"].(string),
			"held": strconv.Itoa(len(h.Complete)), "sent": "no"}
		if err := s.record(r, audit.Entry{Actor: v.p.name, Action: "clip.fetch", Target: q.Camera, Gateway: gw, OK: true, Detail: detail}); err != nil {
			s.fail(w, r, http.StatusInternalServerError, "audit log not written")
			return
		}
		reply, _ := json.Marshal(map[string]any{"ok": true, "clips": []wire.ClipInfo{}, "skipped": len(h.Complete)})
		res := CommandResult{Command: wire.CmdClipGet, Gateway: gw, OK: true, Reply: reply}
		writeJSON(w, http.StatusOK, map[string]any{"result": res, "held": len(h.Complete), "sent": false,
			"note": tr(lang, "range.held", len(h.Complete))})
		return
	}
	if len(h.Complete) > 0 {
		args["skip"] = h.Complete[:min(len(h.Complete), wire.ClipGetMaxSkip)]
	}
	res, code, ok := s.clipGet(w, r, v, gw, q.Camera, args)
	if !ok {
		return
	}
	out := map[string]any{"result": res, "sent": true}
	var rp struct {
		Skipped int `json:"skipped"`
	}
	if res.OK && json.Unmarshal(res.Reply, &rp) == nil && rp.Skipped > 0 {
		out["note"] = tr(lang, "range.skipped", rp.Skipped)
	}
	writeJSON(w, code, out)
}

// MaxFetchRange bounds one time-range fetch: every minute of it is a
// segment sent over the gateway's (prepaid) link.
const MaxFetchRange = 2 * time.Hour

// exportRequest is POST /api/exports' body.
type exportRequest struct {
	Case   string           `json:"case"`
	Events []clips.EventRef `json:"events"`
}

var caseRE = regexp.MustCompile(`^[\p{L}\p{N} ._/-]{1,80}$`)

// apiExport builds a signed case export of chosen events (their
// snapshots, their clips), audits it and sends it as a zip.
func (s *Server) apiExport(w http.ResponseWriter, r *http.Request, v *view) {
	if s.o.Clips == nil || s.o.Clips.Key == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "this console cannot export cases (no signing key)")
		return
	}
	var q exportRequest
	if err := decodeJSON(r, &q); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !caseRE.MatchString(q.Case) {
		s.fail(w, r, http.StatusBadRequest, `case: want 1 to 80 letters, digits, spaces or "._/-"`)
		return
	}
	if len(q.Events) == 0 || len(q.Events) > clips.MaxExportEvents {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("events: want 1 to %d", clips.MaxExportEvents))
		return
	}
	for _, e := range q.Events {
		if !wire.ValidID(e.Gateway) || !v.allows(e.Gateway) {
			s.fail(w, r, http.StatusNotFound, "no such gateway: "+cut(e.Gateway, 70))
			return
		}
		if e.Epoch != "" && !wire.ValidEpoch(e.Epoch) {
			s.fail(w, r, http.StatusBadRequest, "epoch: not an epoch")
			return
		}
	}
	store, ok := s.o.Events.(clipEvents)
	if !ok {
		s.fail(w, r, http.StatusServiceUnavailable, "this console's store cannot be exported from")
		return
	}
	select {
	case s.exports <- struct{}{}:
		defer func() { <-s.exports }()
	default:
		w.Header().Set("Retry-After", "30")
		s.fail(w, r, http.StatusServiceUnavailable, fmt.Sprintf("%d exports are being built: try again once one is done", maxExports))
		return
	}
	tmp, err := os.CreateTemp("", "antt-export-*.zip")
	if err != nil {
		s.internal(w, r, "export: temporary file", err)
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	now := s.now()
	lw := &limitWriter{w: tmp, left: MaxExportBytes}
	m, err := clips.Exporter{Events: store, Clips: s.o.Clips.Store, Key: s.o.Clips.Key}.Write(lw, q.Case, q.Events, v.p.name, now)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	size, _ := tmp.Seek(0, io.SeekCurrent)
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(tmp, 0, size)); err != nil {
		s.internal(w, r, "export: hash", err)
		return
	}
	sum := hex.EncodeToString(h.Sum(nil))
	gws := map[string]bool{}
	for _, e := range q.Events {
		gws[e.Gateway] = true
	}
	gw := ""
	if len(gws) == 1 {
		gw = q.Events[0].Gateway
	}
	detail := map[string]string{"events": strconv.Itoa(len(q.Events)), "files": strconv.Itoa(len(m.Files)),
		"bytes": strconv.FormatInt(size, 10), "sha256": sum, "missing": strconv.Itoa(len(m.Missing))}
	// Which evidence left the station: the station keeps no copy of the
	// zip, so its entry names the files (events, snapshots, clips by
	// gateway, epoch, seq and clip id), within the audit line's bound.
	names := make([]string, 0, len(m.Files))
	for _, mf := range m.Files {
		names = append(names, mf.Name)
	}
	detail["names"] = strings.Join(names, " ")
	if len(detail["names"]) > exportAuditNames {
		detail["names"] = cut(detail["names"], exportAuditNames) + " … (cut: the export's manifest lists them all)"
	}
	if err := s.record(r, audit.Entry{Actor: v.p.name, Action: "export", Target: q.Case, Gateway: gw, OK: true, Detail: detail}); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "audit log not written: the export is not given out")
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="case-%s.zip"`, now.UTC().Format("20060102T150405Z")))
	w.Header().Set("X-Export-SHA256", sum)
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(tmp, 0, size))
}

// clipEvents is what an export reads of the store.
type clipEvents = clips.EventSource

type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, fmt.Errorf("export larger than %d bytes: choose fewer events", int64(MaxExportBytes))
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}

// Event returns one event's stored JSON (an export includes it).
func (d *StoreData) Event(gw, epoch string, seq uint64) ([]byte, bool, error) {
	return d.Store.Event(gw, epoch, seq)
}
