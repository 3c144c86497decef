package web

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Live view through the station (docs/live.md "From the console"): the
// browser speaks a WHEP-like API over the page's own connection and the
// station relays offer, answer and candidates to the gateway over MQTT
// (live.offer, live.candidate, live.renew, live.stats, live.close through
// the Commander), and the gateway's trickled candidates back to the
// browser over Server-Sent Events on the session's own URL.

// ICEServer is one STUN or TURN server as RTCIceServer and live.offer's
// ice_servers write it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// LiveBackend is what live view needs besides commands: the station's
// TURN credentials and the gateways' candidates from the broker.
type LiveBackend interface {
	// ICEServers returns servers with credentials for user valid for
	// ttl (nil when the station has no TURN server).
	ICEServers(user string, ttl time.Duration) []ICEServer
	// WatchCandidates calls fn with each candidate gateway publishes for
	// session until cancel is called. fn must not block.
	WatchCandidates(gateway, session string, fn func(wire.LiveCandidateMsg)) (cancel func())
}

// LiveLifetime is optional for a LiveBackend: the station's
// -live-session, the life of a relayed view the browser does not renew.
// The page is told to renew well within it (liveRenewEvery), so a
// shorter one (a test's) is a shorter renewal with no other code path.
type LiveLifetime interface {
	// LiveSessionLifetime is the lifetime; 0 is the default
	// (liveNotRenewed).
	LiveSessionLifetime() time.Duration
}

// Live view bounds.
const (
	liveMaxPerUser    = 9 // a 3×3 grid
	liveMaxSessions   = 64
	liveMaxCandidates = 64 // gateway candidates kept per session
	liveFragMax       = 32 // candidates in one PATCH
	// liveMaxStreams bounds a session's candidate streams: an officer
	// must not fill the console's connections (maxConns) with them.
	liveMaxStreams = 2
	// liveTTL is the life of the TURN credentials handed out: at most a
	// session's length (the gateway's max_session default, 10 min).
	liveTTL = 10 * time.Minute
	// liveAbandoned closes a session whose browser has had no candidate
	// stream open and sent no request for this long (a closed tab; the
	// page reads the session's stats every 15 s while it plays).
	liveAbandoned = 45 * time.Second
	// liveNotRenewed closes a session the browser has not renewed for
	// this long, by the station's clock (the gateway's own end is by its
	// clock, which may be off; the page renews every minute).
	liveNotRenewed = 15 * time.Minute
	liveReap       = 5 * time.Second
	liveHeartbeat  = 15 * time.Second
)

// liveRenewMax and liveRenewMin bound how often the page renews
// (liveRenewEvery).
const (
	liveRenewMax = time.Minute
	liveRenewMin = 5 * time.Second
)

// liveSession is one view the station relays.
type liveSession struct {
	id, gateway, camera, quality, user string
	started                            time.Time
	play                               *playRange // a playback (live_play.go); nil for live video

	mu       sync.Mutex
	expires  time.Time // the gateway's word, by its clock
	renewed  time.Time // opened or last renewed, by the station's clock
	bytes    uint64
	cands    []wire.LiveCandidateMsg
	ended    bool
	streams  int
	lastSeen time.Time
	wake     chan struct{} // closed and replaced when cands grow or the session ends
	unwatch  func()
	// gatewayReason is the gateway's end notice of a playback: set, the
	// session is closed there already.
	gatewayReason string
	endReason     string // why it ended, for the event stream
}

func (ls *liveSession) notifyLocked() {
	close(ls.wake)
	ls.wake = make(chan struct{})
}

// liveHub holds the relayed sessions of one Server.
type liveHub struct {
	s       *Server
	backend LiveBackend

	// notRenewed is the life of a session not renewed, by the station's
	// clock (-live-session; liveNotRenewed by default).
	notRenewed time.Duration

	mu       sync.Mutex
	sessions map[string]*liveSession
	reaping  bool
}

// liveRenewEvery is how often the page renews a session: a third of
// the shorter of the station's lifetime and the gateway's (its answer's
// expires, less the time the offer was sent, by the station's clock),
// at most a minute, at least 5 s. The gateway's is left out when the two
// clocks disagree so much that it is not a length (not after sent, or
// longer than the station's own).
func liveRenewEvery(notRenewed time.Duration, sent, expires time.Time) time.Duration {
	life := notRenewed
	if gw := expires.Sub(sent); gw > 0 && gw < life {
		life = gw
	}
	return min(max(life/3, liveRenewMin), liveRenewMax)
}

func init() { pageNames = append(pageNames, "live") }

// registerLive adds the live page and API (called by registerRoutes).
func (s *Server) registerLive() {
	h := &liveHub{s: s, backend: s.o.Live, sessions: map[string]*liveSession{}, notRenewed: liveNotRenewed}
	if h.backend == nil {
		h.backend, _ = s.o.Commands.(LiveBackend)
	}
	if ll, ok := h.backend.(LiveLifetime); ok && ll.LiveSessionLifetime() > 0 {
		h.notRenewed = ll.LiveSessionLifetime()
	}
	const base = "/api/gateways/{gateway}/cameras/{camera}/live"
	s.handle("GET /live", accounts.Officer, h.page)
	s.handle("GET /api/live/ice-servers", accounts.Officer, h.iceServers)
	s.handle("POST "+base, accounts.Officer, h.open)
	s.handle("PATCH "+base+"/{session}", accounts.Officer, h.trickle)
	s.handle("GET "+base+"/{session}", accounts.Officer, h.stats)
	s.handle("GET "+base+"/{session}/candidates", accounts.Officer, h.candidates)
	s.handle("POST "+base+"/{session}/renew", accounts.Officer, h.renew)
	s.handle("POST "+base+"/{session}/seek", accounts.Officer, h.seek)
	s.handle("DELETE "+base+"/{session}", accounts.Officer, h.close)
}

// liveTile is one camera of the live page.
type liveTile struct {
	Gateway, Name, Camera, State string
}

func (h *liveHub) page(w http.ResponseWriter, r *http.Request, v *view) {
	gws, err := v.gateways()
	if err != nil {
		h.s.internal(w, r, "list gateways", err)
		return
	}
	q := r.URL.Query()
	onlyGW, onlyCam := q.Get("gateway"), q.Get("camera")
	var tiles []liveTile
	for _, g := range gws {
		if onlyGW != "" && g.ID != onlyGW {
			continue
		}
		cams := make([]string, 0, len(g.Cameras))
		for c := range g.Cameras {
			cams = append(cams, c)
		}
		if onlyCam != "" && wire.ValidID(onlyCam) && g.Cameras[onlyCam] == "" {
			cams = append(cams, onlyCam) // named by an event; telemetry not in yet
		}
		slices.Sort(cams)
		for _, c := range cams {
			if onlyCam != "" && c != onlyCam {
				continue
			}
			tiles = append(tiles, liveTile{Gateway: g.ID, Name: g.Name, Camera: c, State: g.Cameras[c]})
		}
	}
	quality := "low"
	if q.Get("quality") == "high" {
		quality = "high"
	}
	from, to := playPrefill(q.Get("at"))
	h.s.render(w, r, v, http.StatusOK, "live", map[string]any{"Tiles": tiles, "Quality": quality, "Ready": h.ready(),
		"PlayFrom": from, "PlayTo": to})
}

// fail answers a live view request with an error: for the API, JSON with
// the English "error" machine clients read and the "message" the tile
// shows, in the request's language (liveerr_i18n.go).
func (h *liveHub) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		h.s.fail(w, r, code, msg)
		return
	}
	writeJSON(w, code, map[string]string{"error": msg, "message": liveErrMessage(langOf(r), msg)})
}

func (h *liveHub) ready() bool { return h.s.o.Commands != nil && h.backend != nil }

func (h *liveHub) ice(user string) []ICEServer {
	if h.backend == nil {
		return nil
	}
	return h.backend.ICEServers(user, liveTTL)
}

func (h *liveHub) iceServers(w http.ResponseWriter, _ *http.Request, v *view) {
	ss := h.ice("viewer:" + v.p.name)
	if ss == nil {
		ss = []ICEServer{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ice_servers": ss, "ttl_seconds": int(liveTTL / time.Second)})
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// gatewayReply decodes a reply, turning ok:false into an error.
func gatewayReply(reply json.RawMessage, into any) error {
	var head struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(reply, &head); err != nil {
		return fmt.Errorf("the gateway's reply: %v", err)
	}
	if !head.OK {
		return &refusedError{cmpOr(head.Error, "refused without a reason")}
	}
	if into != nil {
		if err := json.Unmarshal(reply, into); err != nil {
			return fmt.Errorf("the gateway's reply: %v", err)
		}
	}
	return nil
}

// refusedError is the gateway's own ok:false.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return "the gateway refused: " + e.msg }

// liveCommand sends one live.* command and decodes its reply.
func (h *liveHub) liveCommand(ctx context.Context, gw, name string, args map[string]any, into any) error {
	ctx, cancel := context.WithTimeout(ctx, h.s.o.CommandTimeout)
	defer cancel()
	reply, err := h.s.o.Commands.Command(ctx, gw, name, args)
	if err != nil {
		return err
	}
	return gatewayReply(reply, into)
}

func liveErrCode(err error) int {
	var re *refusedError
	switch {
	case errors.As(err, &re):
		if strings.Contains(re.msg, "viewers") || strings.Contains(re.msg, "no picture") {
			return http.StatusServiceUnavailable
		}
		if strings.Contains(re.msg, "unknown camera") || strings.Contains(re.msg, "no camera") || strings.Contains(re.msg, "no recording") {
			return http.StatusNotFound
		}
		return http.StatusBadRequest
	case errors.Is(err, ErrNoReply), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

func (h *liveHub) sessionURL(ls *liveSession) string {
	return "/api/gateways/" + ls.gateway + "/cameras/" + ls.camera + "/live/" + ls.id
}

// open: POST …/live with the browser's offer (application/sdp) → 201,
// the answer, Location, and the ICE servers in Link headers.
func (h *liveHub) open(w http.ResponseWriter, r *http.Request, v *view) {
	gw, cam := r.PathValue("gateway"), r.PathValue("camera")
	if !wire.ValidID(cam) {
		h.fail(w, r, http.StatusBadRequest, "camera: not a camera name")
		return
	}
	quality := r.URL.Query().Get("quality")
	if quality == "" {
		quality = "low"
	}
	if quality != "low" && quality != "high" {
		h.fail(w, r, http.StatusBadRequest, "quality: want low or high")
		return
	}
	pr, isPlay, err := parsePlayRange(r.URL.Query())
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/sdp") {
		h.fail(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %.60q: want application/sdp", ct))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, http.StatusRequestEntityTooLarge, "offer: "+err.Error())
		return
	}
	if err := checkOffer(string(body)); err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !h.ready() {
		h.fail(w, r, http.StatusServiceUnavailable, "this console cannot open live views (no broker connection)")
		return
	}
	gws, err := v.gateways()
	if err != nil {
		h.s.internal(w, r, "list gateways", err)
		return
	}
	known := false
	for _, g := range gws {
		if g.ID == gw {
			known = true
			if len(g.Cameras) > 0 && g.Cameras[cam] == "" {
				h.fail(w, r, http.StatusNotFound, "no such camera")
				return
			}
		}
	}
	if !known {
		h.s.failNoGateway(w, r)
		return
	}
	now := h.s.now()
	ls := &liveSession{id: newSessionID(), gateway: gw, camera: cam, quality: quality, user: v.p.name,
		started: now, lastSeen: now, renewed: now, wake: make(chan struct{})}
	if isPlay {
		ls.play, ls.quality = &pr, "recording" // a recording has one stream
	}
	if err := h.add(ls); err != nil {
		h.fail(w, r, http.StatusTooManyRequests, err.Error())
		return
	}
	// Subscribe first: the gateway's candidates may come before its reply.
	unwatchCands := h.backend.WatchCandidates(gw, ls.id, func(c wire.LiveCandidateMsg) { ls.addCandidate(c) })
	unwatchEnd := h.watchEnd(ls)
	unwatch := func() { unwatchCands(); unwatchEnd() }
	ls.mu.Lock()
	ended := ls.ended
	if !ended {
		ls.unwatch = unwatch
	}
	ls.mu.Unlock()
	if ended {
		unwatch()
	}
	args := map[string]any{"camera": cam, "sdp": string(body), "quality": quality, "session": ls.id, "trickle": true}
	if ice := h.ice("gateway:" + gw); len(ice) > 0 {
		args["ice_servers"] = ice
	}
	if ls.play != nil {
		args["from"], args["to"], args["speed"] = iso(pr.From), iso(pr.To), pr.Speed
		delete(args, "quality")
	}
	var ans struct {
		Session  string    `json:"session"`
		SDP      string    `json:"sdp"`
		Expires  time.Time `json:"expires"`
		Video    string    `json:"video"`
		Audio    string    `json:"audio"`
		Warnings []string  `json:"warnings"`
		Position time.Time `json:"position"`
	}
	sent := h.s.now()
	err = h.liveCommand(r.Context(), gw, "live.offer", args, &ans)
	if err == nil && (ans.Session != ls.id || ans.SDP == "") {
		err = fmt.Errorf("the gateway's reply: session %.40q, %d bytes of answer", ans.Session, len(ans.SDP))
	}
	detail := map[string]string{"session": ls.id, "quality": ls.quality}
	ls.rangeDetail(detail)
	if err != nil {
		h.remove(ls)
		detail["error"] = cut(err.Error(), 300)
		if aerr := h.s.record(r, audit.Entry{Actor: v.p.name, Action: audit.LiveOpen, Target: cam, Gateway: gw, Detail: detail}); aerr != nil {
			h.s.internal(w, r, "audit live view", aerr)
			return
		}
		h.fail(w, r, liveErrCode(err), err.Error())
		return
	}
	ls.mu.Lock()
	ls.expires = ans.Expires
	ls.mu.Unlock()
	if err := h.s.record(r, audit.Entry{Actor: v.p.name, Action: audit.LiveOpen, Target: cam, Gateway: gw, OK: true, Detail: detail}); err != nil {
		// Not recorded: not watched.
		h.end(context.WithoutCancel(r.Context()), ls, "audit log not written", nil)
		h.s.internal(w, r, "audit live view", err)
		return
	}
	h.s.log.Info("live view opened", "user", v.p.name, "gateway", gw, "camera", cam, "session", ls.id, "quality", ls.quality, "playback", isPlay)
	hd := w.Header()
	for _, s := range h.ice("viewer:" + v.p.name) {
		for _, u := range s.URLs {
			link := "<" + u + `>; rel="ice-server"`
			if s.Username != "" {
				link += `; username="` + s.Username + `"; credential="` + s.Credential + `"; credential-type="password"`
			}
			hd.Add("Link", link)
		}
	}
	hd.Set("Location", h.sessionURL(ls))
	hd.Set("Content-Type", "application/sdp")
	hd.Set("X-Live-Expires", ans.Expires.UTC().Format(time.RFC3339))
	hd.Set("X-Live-Renew", strconv.Itoa(int(liveRenewEvery(h.notRenewed, sent, ans.Expires)/time.Second)))
	if !ans.Position.IsZero() {
		hd.Set("X-Live-Position", ans.Position.UTC().Format(time.RFC3339Nano))
	}
	if len(ans.Warnings) > 0 {
		hd.Set("X-Live-Warnings", cut(strings.Join(ans.Warnings, "; "), 500))
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, ans.SDP)
}

// checkOffer is the station's own look at an offer before it goes out:
// an SDP offer of reasonable size with a media section.
func checkOffer(sdp string) error {
	switch {
	case strings.TrimSpace(sdp) == "":
		return errors.New("offer: empty body (want the browser's SDP offer)")
	case !strings.HasPrefix(sdp, "v=0"):
		return errors.New(`offer: not SDP (it does not start with "v=0")`)
	case !strings.Contains(sdp, "\nm="):
		return errors.New("offer: no media section (m=)")
	}
	return nil
}

func (h *liveHub) add(ls *liveSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sessions) >= liveMaxSessions {
		return fmt.Errorf("the station relays %d live views already (its limit)", liveMaxSessions)
	}
	n := 0
	for _, o := range h.sessions {
		if o.user == ls.user {
			n++
		}
	}
	if n >= liveMaxPerUser {
		return fmt.Errorf("your account has %d live views open already (the limit): close one first", liveMaxPerUser)
	}
	h.sessions[ls.id] = ls
	if !h.reaping {
		h.reaping = true
		go h.reaper()
	}
	return nil
}

// remove forgets ls and stops its candidates; it reports whether ls was
// still there (so one caller ends it).
func (h *liveHub) remove(ls *liveSession) bool {
	h.mu.Lock()
	_, ok := h.sessions[ls.id]
	delete(h.sessions, ls.id)
	h.mu.Unlock()
	ls.mu.Lock()
	if !ls.ended {
		ls.ended = true
		ls.notifyLocked()
	}
	unwatch := ls.unwatch
	ls.unwatch = nil
	ls.mu.Unlock()
	if unwatch != nil {
		unwatch()
	}
	return ok
}

func (ls *liveSession) addCandidate(c wire.LiveCandidateMsg) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.ended || len(ls.cands) >= liveMaxCandidates {
		return
	}
	ls.cands = append(ls.cands, c)
	ls.notifyLocked()
}

// lookup finds the session of the request for its owner; anyone else
// gets the same 404 as for no session.
func (h *liveHub) lookup(w http.ResponseWriter, r *http.Request, v *view) *liveSession {
	h.mu.Lock()
	ls := h.sessions[r.PathValue("session")]
	h.mu.Unlock()
	if ls == nil || ls.user != v.p.name || ls.gateway != r.PathValue("gateway") || ls.camera != r.PathValue("camera") {
		h.fail(w, r, http.StatusNotFound, "no such live view (closed, expired, or not yours)")
		return nil
	}
	ls.mu.Lock()
	ls.lastSeen = h.s.now()
	ls.mu.Unlock()
	return ls
}

// end closes ls at the gateway (its bytes read first), audits it, and
// forgets it. r is nil when the station ends it on its own.
func (h *liveHub) end(ctx context.Context, ls *liveSession, reason string, r *http.Request) (uint64, error) {
	ls.mu.Lock()
	if ls.endReason == "" && !ls.ended {
		ls.endReason = cmpOr(ls.gatewayReason, reason)
	}
	gwReason := ls.gatewayReason
	ls.mu.Unlock()
	if !h.remove(ls) {
		return 0, nil
	}
	var st struct {
		Bytes uint64 `json:"bytes"`
	}
	statsErr := h.liveCommand(ctx, ls.gateway, "live.stats", map[string]any{"session": ls.id}, &st)
	if statsErr == nil {
		ls.mu.Lock()
		ls.bytes = max(ls.bytes, st.Bytes)
		ls.mu.Unlock()
	}
	var closeErr error
	if gwReason == "" { // else closed there already
		closeErr = h.liveCommand(ctx, ls.gateway, "live.close", map[string]any{"session": ls.id}, nil)
	}
	ls.mu.Lock()
	bytes := ls.bytes
	ls.mu.Unlock()
	secs := h.s.now().Sub(ls.started).Round(time.Second)
	detail := map[string]string{"session": ls.id, "quality": ls.quality, "bytes": strconv.FormatUint(bytes, 10),
		"seconds": strconv.Itoa(int(secs / time.Second)), "reason": reason}
	ls.rangeDetail(detail)
	if gwReason != "" {
		detail["gateway_reason"] = gwReason
	}
	if closeErr != nil {
		detail["close_error"] = cut(closeErr.Error(), 200)
	}
	if statsErr != nil {
		// The bytes are the last figure read (renew, stats) instead.
		detail["stats_error"] = cut(statsErr.Error(), 200)
	}
	e := audit.Entry{Actor: ls.user, Action: audit.LiveClose, Target: ls.camera, Gateway: ls.gateway, OK: true, Detail: detail}
	var err error
	if r != nil {
		err = h.s.record(r, e)
	} else if _, err = h.s.o.Audit.Append(e); err != nil {
		h.s.log.Error("audit log", "err", err, "action", e.Action)
	}
	h.s.log.Info("live view closed", "user", ls.user, "gateway", ls.gateway, "camera", ls.camera, "session", ls.id,
		"reason", reason, "bytes", bytes, "seconds", secs.Seconds(), "stats_error", statsErr, "close_error", closeErr)
	return bytes, err
}

// reaper ends sessions not renewed and those whose browser went away;
// one runs while there are sessions.
func (h *liveHub) reaper() {
	t := time.NewTicker(liveReap)
	defer t.Stop()
	for range t.C {
		now := h.s.now()
		h.mu.Lock()
		var due []*liveSession
		var why []string
		for _, ls := range h.sessions {
			ls.mu.Lock()
			switch {
			case now.Sub(ls.renewed) > h.notRenewed:
				due, why = append(due, ls), append(why, "not renewed")
			case ls.streams == 0 && now.Sub(ls.lastSeen) > liveAbandoned:
				due, why = append(due, ls), append(why, "abandoned")
			}
			ls.mu.Unlock()
		}
		h.mu.Unlock()
		for i, ls := range due {
			_, _ = h.end(context.Background(), ls, why[i], nil)
		}
		h.mu.Lock()
		stop := len(h.sessions) == 0 // add starts another reaper after this
		if stop {
			h.reaping = false
		}
		h.mu.Unlock()
		if stop {
			return
		}
	}
}

// fragCandidate is one candidate of a trickle-ice-sdpfrag body.
type fragCandidate struct {
	Candidate string // "candidate:…", "" for end-of-candidates
	Mid       string
	MLine     int
}

// parseFrag reads an RFC 8840 fragment (application/trickle-ice-sdpfrag):
// its a=candidate and a=end-of-candidates lines with the a=mid (and
// m-line index) they follow; a=ice-ufrag/ice-pwd and other lines are
// skipped. The error names the bad line.
func parseFrag(body string) ([]fragCandidate, error) {
	var out []fragCandidate
	mid, mline := "", -1
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
		case strings.HasPrefix(line, "m="):
			mline++
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
			if mid == "" || len(mid) > 32 || strings.ContainsAny(mid, " \t") {
				return nil, fmt.Errorf("line %d: a=mid %.40q is not a media id", n+1, mid)
			}
		case strings.HasPrefix(line, "a=candidate:"):
			c := strings.TrimPrefix(line, "a=")
			if len(c) > 512 {
				return nil, fmt.Errorf("line %d: candidate longer than 512 bytes", n+1)
			}
			if len(strings.Fields(c)) < 8 {
				return nil, fmt.Errorf("line %d: %.60q is not an ICE candidate (too few fields)", n+1, c)
			}
			out = append(out, fragCandidate{Candidate: c, Mid: mid, MLine: max(mline, 0)})
		case line == "a=end-of-candidates":
			out = append(out, fragCandidate{Mid: mid, MLine: max(mline, 0)})
		case strings.HasPrefix(line, "a="):
		default:
			return nil, fmt.Errorf("line %d: %.40q is not an SDP fragment line", n+1, line)
		}
		if len(out) > liveFragMax {
			return nil, fmt.Errorf("more than %d candidates in one fragment", liveFragMax)
		}
	}
	return out, nil
}

// trickle: PATCH …/live/{session} with the browser's candidates.
func (h *liveHub) trickle(w http.ResponseWriter, r *http.Request, v *view) {
	ls := h.lookup(w, r, v)
	if ls == nil {
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/trickle-ice-sdpfrag") {
		h.fail(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %.60q: want application/trickle-ice-sdpfrag", ct))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		h.fail(w, r, http.StatusRequestEntityTooLarge, "fragment: "+err.Error())
		return
	}
	cands, err := parseFrag(string(body))
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "fragment: "+err.Error())
		return
	}
	for _, c := range cands {
		args := map[string]any{"session": ls.id, "candidate": c.Candidate, "sdp_mline_index": c.MLine}
		if c.Mid != "" {
			args["sdp_mid"] = c.Mid
		}
		if err := h.liveCommand(r.Context(), ls.gateway, "live.candidate", args, nil); err != nil {
			h.fail(w, r, liveErrCode(err), err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// candidates: GET …/live/{session}/candidates, Server-Sent Events: one
// "candidate" event per gateway candidate ({"candidate","sdp_mid",
// "sdp_mline_index"}; an empty candidate is the end of them), then "end"
// when the session ends. While it is open the session is not abandoned.
func (h *liveHub) candidates(w http.ResponseWriter, r *http.Request, v *view) {
	ls := h.lookup(w, r, v)
	if ls == nil {
		return
	}
	ls.mu.Lock()
	full := ls.streams >= liveMaxStreams
	if !full {
		ls.streams++
	}
	ls.mu.Unlock()
	if full {
		h.fail(w, r, http.StatusTooManyRequests, fmt.Sprintf("this live view has %d candidate streams open already (the limit)", liveMaxStreams))
		return
	}
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	flush := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	defer func() {
		ls.mu.Lock()
		ls.streams--
		ls.lastSeen = h.s.now()
		ls.mu.Unlock()
	}()
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	sent := 0
	if _, err := io.WriteString(bw, ": live "+ls.id+"\n\n"); err != nil || flush() != nil {
		return
	}
	for {
		ls.mu.Lock()
		todo := append([]wire.LiveCandidateMsg(nil), ls.cands[sent:]...)
		ended, wake, why := ls.ended, ls.wake, ls.endReason
		ls.mu.Unlock()
		for _, c := range todo {
			b, _ := json.Marshal(map[string]any{"candidate": c.Candidate, "sdp_mid": c.SDPMid, "sdp_mline_index": c.SDPMLineIndex})
			fmt.Fprintf(bw, "event: candidate\ndata: %s\n\n", b)
		}
		sent += len(todo)
		if ended {
			b, _ := json.Marshal(map[string]string{"reason": why})
			fmt.Fprintf(bw, "event: end\ndata: %s\n\n", b)
			_ = flush()
			return
		}
		if len(todo) > 0 && flush() != nil {
			return
		}
		select {
		case <-wake:
		case <-beat.C:
			if _, err := io.WriteString(bw, ": beat\n\n"); err != nil || flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

type liveStats struct {
	Session string    `json:"session"`
	State   string    `json:"state,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	Bytes   uint64    `json:"bytes"`
	Frames  uint64    `json:"frames,omitempty"`
	// Position is a playback's recording time of the last frame sent.
	Position time.Time `json:"position,omitzero"`
	Reason   string    `json:"reason,omitempty"`
}

func (h *liveHub) readStats(ctx context.Context, ls *liveSession) (liveStats, error) {
	var st liveStats
	err := h.liveCommand(ctx, ls.gateway, "live.stats", map[string]any{"session": ls.id}, &st)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if err == nil {
		ls.bytes = max(ls.bytes, st.Bytes)
	}
	st.Session, st.Bytes = ls.id, ls.bytes
	if st.Expires.IsZero() {
		st.Expires = ls.expires
	}
	return st, err
}

// stats: GET …/live/{session}: the session's figures from the gateway.
func (h *liveHub) stats(w http.ResponseWriter, r *http.Request, v *view) {
	ls := h.lookup(w, r, v)
	if ls == nil {
		return
	}
	st, err := h.readStats(r.Context(), ls)
	if err != nil {
		var re *refusedError
		if errors.As(err, &re) { // the gateway has ended it (its end, the camera gone)
			_, _ = h.end(context.WithoutCancel(r.Context()), ls, "ended at the gateway", r)
			h.fail(w, r, http.StatusNotFound, err.Error())
			return
		}
		h.fail(w, r, liveErrCode(err), err.Error())
		return
	}
	if st.State == "closed" { // its last figures, kept a while by the gateway
		ls.mu.Lock()
		ls.gatewayReason = cmpOr(ls.gatewayReason, cmpOr(cut(st.Reason, playReasonMax), "ended at the gateway"))
		ls.mu.Unlock()
		_, _ = h.end(context.WithoutCancel(r.Context()), ls, "ended at the gateway", r)
		h.fail(w, r, http.StatusNotFound, "the live view has ended at the gateway: "+cut(st.Reason, playReasonMax))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// renew: POST …/live/{session}/renew while the tile is watched: the
// session's new end, and its bytes.
func (h *liveHub) renew(w http.ResponseWriter, r *http.Request, v *view) {
	ls := h.lookup(w, r, v)
	if ls == nil {
		return
	}
	var rn struct {
		Expires time.Time `json:"expires"`
	}
	if err := h.liveCommand(r.Context(), ls.gateway, "live.renew", map[string]any{"session": ls.id}, &rn); err != nil {
		var re *refusedError
		if errors.As(err, &re) { // the gateway has closed it
			_, _ = h.end(context.WithoutCancel(r.Context()), ls, "ended at the gateway", r)
			h.fail(w, r, http.StatusNotFound, err.Error())
			return
		}
		h.fail(w, r, liveErrCode(err), err.Error())
		return
	}
	ls.mu.Lock()
	ls.expires, ls.renewed = rn.Expires, h.s.now()
	ls.mu.Unlock()
	st, _ := h.readStats(r.Context(), ls) // bytes are a nicety here
	st.Expires = rn.Expires
	writeJSON(w, http.StatusOK, st)
}

// close: DELETE …/live/{session} when the tile is hidden or closed.
func (h *liveHub) close(w http.ResponseWriter, r *http.Request, v *view) {
	ls := h.lookup(w, r, v)
	if ls == nil {
		return
	}
	bytes, err := h.end(context.WithoutCancel(r.Context()), ls, "closed by the viewer", r)
	if err != nil {
		h.s.internal(w, r, "audit live close", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": ls.id, "bytes": bytes, "closed": true})
}
