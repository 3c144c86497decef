package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/uplink/wire"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// registerRoutes is the whole route table: every route with the least
// role it needs. TestRouteTable walks it.
func (s *Server) registerRoutes() {
	const public accounts.Role = ""
	s.handle("GET /healthz", public, func(w http.ResponseWriter, _ *http.Request, _ *view) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
	s.handle("GET /static/", public, func(w http.ResponseWriter, r *http.Request, _ *view) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		s.static.ServeHTTP(w, r)
	})
	s.handle("GET /login", public, s.loginPage)
	s.handle("POST /login", public, s.login)
	s.handle("POST /lang", public, s.setLang)

	s.handle("POST /logout", accounts.Viewer, s.logout)
	s.handle("GET /{$}", accounts.Viewer, func(w http.ResponseWriter, r *http.Request, _ *view) {
		http.Redirect(w, r, "/sites", http.StatusSeeOther)
	})
	s.handle("GET /sites", accounts.Viewer, s.sitesPage)
	s.handle("GET /events", accounts.Viewer, s.eventsPage)
	s.handle("GET /audit", accounts.Admin, s.auditPage)
	s.handle("GET /users", accounts.Admin, s.usersPage)
	s.handle("POST /users", accounts.Admin, s.usersAdd)
	s.handle("POST /users/{name}/remove", accounts.Admin, s.usersRemove)
	s.handle("POST /users/{name}/password", accounts.Admin, s.usersPassword)
	s.handle("POST /users/role", accounts.Admin, s.usersRole)
	s.handle("GET /stats", accounts.Viewer, s.statsPage)
	s.handle("POST /alarms/ack", accounts.Officer, s.ackForm)
	s.handle("POST /gateways/{gateway}/command", accounts.Officer, s.commandForm)

	// Anything else: the login page without a login, "not found" with one.
	s.handle("GET /", accounts.Viewer, func(w http.ResponseWriter, r *http.Request, _ *view) {
		s.fail(w, r, http.StatusNotFound, "not found")
	})
	s.handle("GET /api/", accounts.Viewer, func(w http.ResponseWriter, r *http.Request, _ *view) {
		s.fail(w, r, http.StatusNotFound, "no such API route")
	})

	s.handle("GET /api/me", accounts.Viewer, s.apiMe)
	s.handle("GET /api/sites", accounts.Viewer, s.apiSites)
	s.handle("GET /api/gateways/{gateway}", accounts.Viewer, s.apiGateway)
	s.handle("GET /api/events", accounts.Viewer, s.apiEvents)
	s.handle("GET /api/events/{gateway}/{epoch}/{seq}/snapshot", accounts.Viewer, s.snapshot)
	s.handle("GET /api/feed", accounts.Viewer, s.apiFeed)
	s.handle("GET /api/alarms", accounts.Viewer, s.apiAlarms)
	s.handle("POST /api/alarms/ack", accounts.Officer, s.apiAck)
	s.handle("POST /api/gateways/{gateway}/commands/{name}", accounts.Officer, s.apiCommand)
	s.handle("GET /api/stats", accounts.Viewer, s.apiStats)
	s.handle("GET /api/audit", accounts.Admin, s.apiAudit)
	s.handle("GET /api/users", accounts.Admin, s.apiUsers)
	s.handle("POST /api/users", accounts.Admin, s.apiUserAdd)
	s.handle("PATCH /api/users/{name}", accounts.Admin, s.apiUserChange)
	s.handle("DELETE /api/users/{name}", accounts.Admin, s.apiUserRemove)
	s.handle("GET /api/tokens", accounts.Admin, s.apiTokens)
	s.handle("POST /api/tokens", accounts.Admin, s.apiTokenAdd)
	s.handle("DELETE /api/tokens/{id}", accounts.Admin, s.apiTokenRevoke)
	s.registerLive()
	s.registerEnrol()
	s.registerClips()
	s.registerSites()
}

// view is what a handler reads data through: the request's principal and
// language, with every list filtered by the principal's limits.
type view struct {
	s    *Server
	p    *principal
	lang string

	gws   []Gateway
	site  map[string]string // gateway id -> site, for allows
	gwErr error
	ready bool
}

// all returns every gateway (unfiltered), read once per request.
func (v *view) all() ([]Gateway, error) {
	if !v.ready {
		v.gws, v.gwErr = v.s.o.Gateways.Gateways()
		graced(v.gws, v.s.now(), v.s.o.OfflineGrace) // sites.go
		v.site = make(map[string]string, len(v.gws))
		for _, g := range v.gws {
			v.site[g.ID] = g.Site
		}
		v.ready = true
	}
	return v.gws, v.gwErr
}

// allows reports whether the principal may see gateway gw.
func (v *view) allows(gw string) bool {
	if v.p == nil {
		return false
	}
	if v.p.limits.Unlimited() {
		return true
	}
	if _, err := v.all(); err != nil {
		return false
	}
	return v.p.limits.Allows(gw, v.site[gw])
}

// gateways lists the gateways the principal may see.
func (v *view) gateways() ([]Gateway, error) {
	gws, err := v.all()
	if err != nil {
		return nil, err
	}
	var out []Gateway
	for _, g := range gws {
		if v.p.limits.Allows(g.ID, g.Site) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (v *view) events(before uint64, limit int, only string) ([]Item, uint64, error) {
	return v.s.o.Events.Page(before, limit, func(gw string) bool {
		return (only == "" || gw == only) && v.allows(gw)
	})
}

// auditKeep hides entries about gateways the principal may not see.
func (v *view) auditKeep(e audit.Entry) bool { return e.Gateway == "" || v.allows(e.Gateway) }

func (s *Server) record(r *http.Request, e audit.Entry) error {
	e.Addr = addrKey(r.RemoteAddr)
	if _, err := s.o.Audit.Append(e); err != nil {
		s.log.Error("audit log", "err", err, "action", e.Action)
		return err
	}
	return nil
}

// ---- login, logout, language

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, v *view) {
	if p, ok := s.identify(w, r); ok && !p.token {
		http.Redirect(w, r, "/sites", http.StatusSeeOther)
		return
	}
	s.render(w, r, v, http.StatusOK, "login", map[string]any{"Next": r.URL.Query().Get("next")})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	name := strings.ToLower(strings.TrimSpace(r.PostForm.Get("user")))
	pw := r.PostForm.Get("password")
	next := r.PostForm.Get("next")
	if !safeNext(next) {
		next = "/sites"
	}
	now := s.now()
	addr := addrKey(r.RemoteAddr)
	target := name
	if accounts.CheckName(name) != nil {
		target = "(not a user name)" // never a password typed in the wrong field
	}
	again := func(code int, msg string) {
		s.render(w, r, v, code, "login", map[string]any{"Next": next, "User": target, "Error": msg})
	}
	wa, firstA := s.byAddr.blocked(addr, now)
	wu, firstU := s.byUser.blocked("u:"+name, now)
	if wait := max(wa, wu); wait > 0 {
		if firstA || firstU {
			_ = s.record(r, audit.Entry{Action: audit.LoginFailed, Target: target, Detail: map[string]string{"reason": "rate limited"}})
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		again(http.StatusTooManyRequests, tr(v.lang, "login.limited", wait.Round(time.Second).String()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.LoginTimeout)
	defer cancel()
	u, err := s.o.Accounts.Authenticate(ctx, name, pw)
	switch {
	case errors.Is(err, accounts.ErrBadLogin):
		s.byAddr.fail(addr, now)
		s.byUser.fail("u:"+name, now)
		if err := s.record(r, audit.Entry{Action: audit.LoginFailed, Target: target}); err != nil {
			s.internal(w, r, "audit failed login", err)
			return
		}
		again(http.StatusUnauthorized, tr(v.lang, "login.failed"))
		return
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		again(http.StatusServiceUnavailable, tr(v.lang, "login.busy"))
		return
	case err != nil:
		s.internal(w, r, "login", err)
		return
	}
	if err := s.record(r, audit.Entry{Action: audit.Login, Actor: u.Name, Target: u.Name, OK: true}); err != nil {
		s.internal(w, r, "audit login", err)
		return
	}
	s.byUser.reset("u:" + name)
	id := s.sess.add(u, addr, now)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, v *view) {
	if v.p.sid != "" {
		s.sess.remove(v.p.sid)
		_ = s.record(r, audit.Entry{Action: audit.Logout, Actor: v.p.name, Target: v.p.name, OK: true})
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Server) setLang(w http.ResponseWriter, r *http.Request, _ *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	lang := r.PostForm.Get("lang")
	if lang != LangVI && lang != LangEN {
		s.fail(w, r, http.StatusBadRequest, "lang: want vi or en")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	next := r.PostForm.Get("next")
	if !safeNext(next) {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// ---- sites

type siteGroup struct {
	Site, Name string
	Gateways   []Gateway
}

func (s *Server) apiSites(w http.ResponseWriter, r *http.Request, v *view) {
	gws, err := v.gateways()
	if err != nil {
		s.internal(w, r, "list gateways", err)
		return
	}
	if gws == nil {
		gws = []Gateway{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"gateways": gws})
}

func (s *Server) apiGateway(w http.ResponseWriter, r *http.Request, v *view) {
	gws, err := v.gateways()
	if err != nil {
		s.internal(w, r, "list gateways", err)
		return
	}
	id := r.PathValue("gateway")
	for _, g := range gws {
		if g.ID == id {
			writeJSON(w, http.StatusOK, g)
			return
		}
	}
	s.fail(w, r, http.StatusNotFound, "no such gateway")
}

// ---- events

// eventsFilter is what an events query asks for besides paging: one
// gateway, one site, a time span, kinds, states and a text (each
// optional; parseFilter, filters.go).
type eventsFilter struct {
	gateway, site string
	since, until  time.Time
	kinds, states []string
	text          string
	words         []string // text folded (fold), as it is matched
}

// any reports whether any filter is set (the live feed then tests each
// item).
func (f eventsFilter) any() bool {
	return f.gateway != "" || f.site != "" || !f.since.IsZero() || !f.until.IsZero() || len(f.kinds) > 0 || len(f.states) > 0 || len(f.words) > 0
}

// values is the filter as query parameters, for the pager's links.
func (f eventsFilter) values(q url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"gateway", "site", "since", "until", "kind", "state", "q"} {
		for _, v := range q[k] {
			if v != "" {
				out.Add(k, v)
			}
		}
	}
	return out
}

// pagerURL is the events page with filter q, before arrival before (0:
// the newest page). The values are encoded here, so the template takes it
// as a URL as it is.
func pagerURL(q url.Values, before uint64) template.URL {
	if before > 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	return template.URL("/events?" + q.Encode()) // every value is query-encoded
}

// eventsQuery reads before, limit and the filters (parseFilter); the
// error names the bad one.
func eventsQuery(r *http.Request) (before uint64, limit int, f eventsFilter, err error) {
	q := r.URL.Query()
	if b := q.Get("before"); b != "" {
		if before, err = strconv.ParseUint(b, 10, 64); err != nil {
			return 0, 0, f, fmt.Errorf("before %.40q: want an arrival number", b)
		}
	}
	limit = 50
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 500 {
			return 0, 0, f, fmt.Errorf("limit %.40q: want 1 to 500", l)
		}
	}
	if f, err = parseFilter(q); err != nil {
		return 0, 0, f, err
	}
	return before, limit, f, nil
}

// row is one events-page line, ready to print.
type row struct {
	Item
	Time     time.Time
	Name     string
	Kind     string
	State    string
	Attrs    []string
	Text     string
	SnapURL  string
	Ref      string // an event row's data-ref (rowRef)
	Unsynced bool
}

// eventsRead is one page of events as a request asked for it.
type eventsRead struct {
	before uint64 // the query's "before" (0: the newest page)
	only   string // the one gateway asked for, "" for all the account sees
	filter eventsFilter
	items  []Item
	next   uint64
	// partial: the page was cut short by the scan budget (fewer items
	// than asked for and more to read: continue with next).
	partial bool
}

// queryEvents reads the page of events the request's query asks for, as
// the events page and the API both serve it; on a bad query, a gateway the
// account may not see, or a store error it answers the request itself and
// reports false.
func (s *Server) queryEvents(w http.ResponseWriter, r *http.Request, v *view) (eventsRead, bool) {
	before, limit, f, err := eventsQuery(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return eventsRead{}, false
	}
	if f.gateway != "" && !v.allows(f.gateway) {
		s.fail(w, r, http.StatusNotFound, "no such gateway")
		return eventsRead{}, false
	}
	if _, err := v.all(); err != nil {
		s.internal(w, r, "list gateways", err)
		return eventsRead{}, false
	}
	eq, err := v.query(f, before, limit)
	if err != nil {
		s.internal(w, r, "read acknowledgements", err)
		return eventsRead{}, false
	}
	items, next, err := v.s.o.Events.Query(eq)
	if err != nil {
		s.internal(w, r, "read events", err)
		return eventsRead{}, false
	}
	return eventsRead{before: before, only: f.gateway, filter: f, items: items, next: next, partial: len(items) < limit && next > 0}, true
}

func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request, v *view) {
	er, ok := s.queryEvents(w, r, v)
	if !ok {
		return
	}
	items, next, only := er.items, er.next, er.only
	gws, err := v.gateways()
	if err != nil {
		s.internal(w, r, "list gateways", err)
		return
	}
	names := map[string]string{}
	for _, g := range gws {
		names[g.ID] = v.gwName(g)
	}
	rows := make([]row, 0, len(items))
	for _, it := range items {
		rows = append(rows, v.row(it, names))
	}
	alarms, _, err := v.alarms()
	if err != nil {
		s.internal(w, r, "list alarms", err)
		return
	}
	sites := []siteGroup{}
	for _, g := range gws {
		if g.Site != "" && !slices.ContainsFunc(sites, func(sg siteGroup) bool { return sg.Site == g.Site }) {
			sites = append(sites, siteGroup{Site: g.Site, Name: cmpOr(g.SiteName, g.Site)})
		}
	}
	q := r.URL.Query()
	s.render(w, r, v, http.StatusOK, "events", map[string]any{
		"Rows": rows, "Next": next, "Gateways": gws, "Only": only, "Paged": er.before > 0, "Alarms": alarms,
		"Sites": sites, "Site": er.filter.site, "Since": q.Get("since"), "Until": q.Get("until"),
		"Live": er.before == 0 && er.filter.until.IsZero(), "Newest": pagerURL(er.filter.values(q), 0), "Older": pagerURL(er.filter.values(q), next),
		"FeedURL": feedURL(er.filter, q), "KindGroups": v.kindGroups(er.filter.kinds), "StateGroups": v.stateGroups(er.filter.states),
		"Text": er.filter.text, "Filtered": er.filter.any(), "Partial": er.partial,
	})
}

func (v *view) row(it Item, names map[string]string) row {
	rw := row{Item: it, Time: it.Stored, Name: cmpOr(names[it.Gateway], it.Gateway)}
	switch it.Type {
	case ItemEvent:
		ev := it.Event
		rw.Time, rw.Unsynced = ev.Time, !ev.ClockSynced
		rw.Kind = trOr(v.lang, "ev."+ev.Kind, ev.Kind)
		rw.State = trOr(v.lang, "state."+ev.State, ev.State)
		if ev.Kind == "mode" || ev.Kind == "arming_refused" { // their state is a mode
			rw.State = trOr(v.lang, "mode."+ev.State, ev.State)
		}
		keys := make([]string, 0, len(ev.Attrs))
		for k := range ev.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if say := v.eventSentence(ev, rw.Name); say != "" { // notices.go
			rw.Attrs = append(rw.Attrs, say)
		}
		for _, k := range keys {
			rw.Attrs = append(rw.Attrs, fmt.Sprintf("%s: %v", k, ev.Attrs[k]))
		}
		if it.Snapshot {
			rw.SnapURL = snapURL(it.Gateway, it.Epoch, ev.Seq)
		}
		rw.Ref = rowRef(it.Gateway, it.Epoch, ev.Seq)
	case ItemGap:
		rw.Text = v.gapText(it, rw.Name) // notices.go
	case ItemNotice:
		rw.Text = v.noticeText(it.Notice, rw.Name, it.Stored)
	}
	return rw
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// epochSeg is an epoch as a path segment: "-" for the empty epoch of an
// older gateway.
func epochSeg(e string) string {
	if e == "" {
		return "-"
	}
	return e
}

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request, v *view) {
	er, ok := s.queryEvents(w, r, v)
	if !ok {
		return
	}
	if er.items == nil {
		er.items = []Item{}
	}
	out := map[string]any{"items": er.items, "next": er.next}
	if er.partial {
		out["partial"] = true
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request, _ *view) {
	gw, epoch := r.PathValue("gateway"), r.PathValue("epoch")
	if epoch == "-" {
		epoch = ""
	} else if !wire.ValidEpoch(epoch) {
		s.fail(w, r, http.StatusBadRequest, "epoch: not an epoch")
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "seq: want a number")
		return
	}
	jpeg, ok, err := s.o.Events.Snapshot(gw, epoch, seq)
	if err != nil {
		s.internal(w, r, "read snapshot", err)
		return
	}
	if !ok {
		s.fail(w, r, http.StatusNotFound, "no snapshot kept for this event")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	_, _ = w.Write(jpeg)
}

// ---- audit

func auditFilter(r *http.Request) (audit.Filter, int, error) {
	q := r.URL.Query()
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), Gateway: q.Get("gateway")}
	var err error
	if f.Since, err = audit.ParseTime(q.Get("since")); err != nil {
		return f, 0, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = audit.ParseTime(q.Get("until")); err != nil {
		return f, 0, fmt.Errorf("until: %w", err)
	}
	if b := q.Get("before"); b != "" {
		if f.Before, err = strconv.ParseUint(b, 10, 64); err != nil {
			return f, 0, fmt.Errorf("before %q: want an entry number", b)
		}
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > 1000 {
			return f, 0, fmt.Errorf("limit %q: want 1 to 1000", l)
		}
	}
	return f, limit, nil
}

func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request, v *view) ([]audit.Entry, audit.Filter, bool) {
	f, limit, err := auditFilter(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return nil, f, false
	}
	f.Keep = v.auditKeep
	es, err := s.o.Audit.List(f, limit)
	if err != nil {
		s.internal(w, r, "read audit log", err)
		return nil, f, false
	}
	return es, f, true
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, v *view) {
	es, _, ok := s.auditEntries(w, r, v)
	if !ok {
		return
	}
	var next uint64
	if len(es) > 0 && es[len(es)-1].N > 1 {
		next = es[len(es)-1].N
	}
	q := r.URL.Query()
	s.render(w, r, v, http.StatusOK, "audit", map[string]any{"Entries": es, "Next": next,
		"Q": map[string]string{"actor": q.Get("actor"), "action": q.Get("action"), "gateway": q.Get("gateway"),
			"since": q.Get("since"), "until": q.Get("until")}})
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request, v *view) {
	es, _, ok := s.auditEntries(w, r, v)
	if !ok {
		return
	}
	if es == nil {
		es = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

// ---- users and tokens

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, v *view) {
	us, err := s.o.Accounts.Users()
	if err != nil {
		s.internal(w, r, "list users", err)
		return
	}
	ts, err := s.o.Accounts.Tokens()
	if err != nil {
		s.internal(w, r, "list tokens", err)
		return
	}
	data := map[string]any{"Users": us, "Tokens": ts, "Roles": []accounts.Role{accounts.Viewer, accounts.Officer, accounts.Admin}}
	switch r.URL.Query().Get("done") {
	case "added":
		data["Done"] = tr(v.lang, "users.added")
	case "removed":
		data["Done"] = tr(v.lang, "users.removed")
	case "password":
		data["Done"] = tr(v.lang, "users.passwd")
	case "role":
		data["Done"] = tr(v.lang, "users.roledone")
	}
	s.render(w, r, v, http.StatusOK, "users", data)
}

// userForm is a new or changed account, from the page's form or the API.
type userForm struct {
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	Sites    []string `json:"sites"`
	Gateways []string `json:"gateways"`
	Password string   `json:"password"`
}

func (s *Server) addUser(r *http.Request, v *view, f userForm) error {
	role, err := accounts.ParseRole(f.Role)
	if err != nil {
		return err
	}
	lim := accounts.Limits{Sites: f.Sites, Gateways: f.Gateways}
	if err := s.o.Accounts.Add(f.Name, role, lim, f.Password); err != nil {
		return err
	}
	detail := map[string]string{"role": string(role)}
	if l := lim.String(); l != "" {
		detail["limits"] = l
	}
	return s.record(r, audit.Entry{Action: audit.UserAdd, Actor: v.p.name, Target: f.Name, OK: true, Detail: detail})
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) usersAdd(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	f := userForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Role: r.PostForm.Get("role"),
		Sites: splitList(r.PostForm.Get("sites")), Gateways: splitList(r.PostForm.Get("gateways")), Password: r.PostForm.Get("password")}
	if err := s.addUser(r, v, f); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	http.Redirect(w, r, "/users?done=added", http.StatusSeeOther)
}

func (s *Server) removeUser(r *http.Request, v *view, name string) error {
	if err := s.o.Accounts.Remove(name); err != nil {
		return err
	}
	s.sess.removeUser(name)
	return s.record(r, audit.Entry{Action: audit.UserRemove, Actor: v.p.name, Target: name, OK: true})
}

func (s *Server) usersRemove(w http.ResponseWriter, r *http.Request, v *view) {
	if err := s.removeUser(r, v, r.PathValue("name")); err != nil {
		s.fail(w, r, userErrCode(err), err.Error())
		return
	}
	http.Redirect(w, r, "/users?done=removed", http.StatusSeeOther)
}

func userErrCode(err error) int {
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, accounts.ErrExists), errors.Is(err, accounts.ErrLastAdmin):
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func (s *Server) apiMe(w http.ResponseWriter, _ *http.Request, v *view) {
	writeJSON(w, http.StatusOK, map[string]any{"name": v.p.name, "role": v.p.role, "limits": v.p.limits, "token": v.p.token, "lang": v.lang})
}

func (s *Server) apiUsers(w http.ResponseWriter, r *http.Request, _ *view) {
	us, err := s.o.Accounts.Users()
	if err != nil {
		s.internal(w, r, "list users", err)
		return
	}
	if us == nil {
		us = []accounts.User{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

func (s *Server) apiUserAdd(w http.ResponseWriter, r *http.Request, v *view) {
	var f userForm
	if err := decodeJSON(r, &f); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.addUser(r, v, f); err != nil {
		s.fail(w, r, userErrCode(err), err.Error())
		return
	}
	u, _, _ := s.o.Accounts.Lookup(f.Name)
	writeJSON(w, http.StatusCreated, u)
}

// apiUserChange sets a password, or a role and limits (the body says
// which); the user's sessions end either way.
func (s *Server) apiUserChange(w http.ResponseWriter, r *http.Request, v *view) {
	var f struct {
		Role     *string  `json:"role"`
		Sites    []string `json:"sites"`
		Gateways []string `json:"gateways"`
		Password *string  `json:"password"`
	}
	if err := decodeJSON(r, &f); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	name := r.PathValue("name")
	var change func() error
	var e audit.Entry
	switch {
	case f.Password != nil && f.Role == nil:
		change = func() error { return s.o.Accounts.SetPassword(name, *f.Password) }
		e = audit.Entry{Action: audit.UserPassword}
	case f.Role != nil && f.Password == nil:
		role, err := accounts.ParseRole(*f.Role)
		if err != nil {
			s.fail(w, r, userErrCode(err), err.Error())
			return
		}
		lim := accounts.Limits{Sites: f.Sites, Gateways: f.Gateways}
		change = func() error { return s.o.Accounts.SetRole(name, role, lim) }
		e = audit.Entry{Action: audit.UserChange, Detail: map[string]string{"role": string(role), "limits": lim.String()}}
	default:
		s.fail(w, r, http.StatusBadRequest, "body: give either password, or role (with sites and gateways)")
		return
	}
	if !s.changeUser(w, r, v, name, change, e) {
		return
	}
	u, _, _ := s.o.Accounts.Lookup(name)
	writeJSON(w, http.StatusOK, u)
}

// changeUser makes change to account name (a password, a role), ends its
// sessions so that the change holds from its next request, and audits e
// as the principal's. It answers the failure itself and reports whether
// the caller goes on to answer success.
func (s *Server) changeUser(w http.ResponseWriter, r *http.Request, v *view, name string, change func() error, e audit.Entry) bool {
	if err := change(); err != nil {
		s.fail(w, r, userErrCode(err), err.Error())
		return false
	}
	s.sess.removeUser(name)
	e.Actor, e.Target, e.OK = v.p.name, name, true
	if err := s.record(r, e); err != nil {
		s.internal(w, r, "audit user change", err)
		return false
	}
	return true
}

func (s *Server) apiUserRemove(w http.ResponseWriter, r *http.Request, v *view) {
	if err := s.removeUser(r, v, r.PathValue("name")); err != nil {
		s.fail(w, r, userErrCode(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiTokens(w http.ResponseWriter, r *http.Request, _ *view) {
	ts, err := s.o.Accounts.Tokens()
	if err != nil {
		s.internal(w, r, "list tokens", err)
		return
	}
	if ts == nil {
		ts = []accounts.Token{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

func (s *Server) apiTokenAdd(w http.ResponseWriter, r *http.Request, v *view) {
	var f struct {
		Name     string   `json:"name"`
		Role     string   `json:"role"`
		Sites    []string `json:"sites"`
		Gateways []string `json:"gateways"`
	}
	if err := decodeJSON(r, &f); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	role, err := accounts.ParseRole(f.Role)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	lim := accounts.Limits{Sites: f.Sites, Gateways: f.Gateways}
	secret, tok, err := s.o.Accounts.AddToken(f.Name, role, lim, v.p.name)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.record(r, audit.Entry{Action: audit.TokenAdd, Actor: v.p.name, Target: f.Name, OK: true,
		Detail: map[string]string{"id": tok.ID, "role": string(role), "limits": lim.String()}}); err != nil {
		_ = s.o.Accounts.RevokeToken(tok.ID) // not recorded: not handed out
		s.internal(w, r, "audit token", err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "info": tok})
}

func (s *Server) apiTokenRevoke(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	if err := s.o.Accounts.RevokeToken(id); err != nil {
		s.fail(w, r, userErrCode(err), err.Error())
		return
	}
	if err := s.record(r, audit.Entry{Action: audit.TokenRevoke, Actor: v.p.name, Target: id, OK: true}); err != nil {
		s.internal(w, r, "audit token revoke", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
