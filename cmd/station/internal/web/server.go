// Package web is the station console: the HTTP server, its pages and its
// JSON API, for the duty officers (trực ban) at the commune police station
// and, through API tokens, for machine clients such as a district system.
//
// Security by default: it listens on loopback unless told otherwise, and
// on any other address only with TLS (a given certificate, or one it makes
// once in the data directory and prints the fingerprint of). Every route is
// registered with the least role it needs, and one middleware checks the
// login, the role and the account's site limits before any handler runs;
// handlers read data only through a view that filters it by the same
// limits, so a handler cannot forget them. A request without a login gets
// 401 (API) or the login page (pages). Every non-GET request must come from
// the console's own origin (Sec-Fetch-Site / Origin, Go's
// http.CrossOriginProtection) and session cookies are SameSite=Strict,
// HttpOnly and Secure. Pages are html/template (an event's text can never
// become markup) with a Content-Security-Policy that allows no inline
// script; assets are embedded, nothing is loaded from the internet.
// Failed logins are limited per address and per user; the checks that run
// are bounded by the accounts package. Logins, failed logins, logouts and
// account changes go to the audit log, and an action whose audit entry
// cannot be written fails.
//
// The pages speak Vietnamese by default and English on request (a cookie,
// or the browser's Accept-Language), from one catalogue (i18n.go) that
// holds every string in both languages.
package web

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/enrol"
)

// DefaultListen is the console's address unless -http says otherwise.
const DefaultListen = "127.0.0.1:8088"

// Limits of the server; the defaults are in the Options' comments.
const (
	maxBody        = 64 << 10
	maxHeaderBytes = 16 << 10
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Server. Accounts, Audit, Gateways and Events are
// required.
type Options struct {
	Accounts *accounts.DB
	Audit    *audit.Log
	Gateways Gateways
	Events   Events
	// Secure says the server is reached over TLS (sets HSTS). Cookies are
	// Secure either way: browsers accept Secure cookies from
	// http://127.0.0.1 and http://localhost, the only plain-HTTP case.
	Secure bool
	// SessionIdle and SessionMax end a session after this long unused
	// (default 2 h) or this long after login (default 12 h: a duty shift
	// and its handover).
	SessionIdle, SessionMax time.Duration
	// MaxSessions bounds the sessions kept (default 1,000).
	MaxSessions int
	// Failed logins allowed per address and per user name within
	// LoginWindow (defaults 20, 10, 15 min) before that address or user is
	// refused until the window ends.
	MaxFailuresPerAddr, MaxFailuresPerUser int
	LoginWindow                            time.Duration
	// LoginTimeout bounds a login's wait for a password check slot.
	LoginTimeout time.Duration
	Logger       *slog.Logger

	// Feed is the live feed's source (/api/feed); without it the feed
	// answers 503. FeedsPerUser and MaxFeeds cap the open feeds per
	// principal (default 4) and in all (default 64); FeedHeartbeat is the
	// interval of heartbeats (default 15 s); FeedWriteTimeout disconnects a
	// browser that does not take a batch in time (default 10 s).
	Feed                   Feed
	FeedsPerUser, MaxFeeds int
	FeedHeartbeat          time.Duration
	FeedWriteTimeout       time.Duration

	// Reviews keeps the acknowledgements of alarms (review.go); without it
	// alarms are listed but cannot be acknowledged.
	Reviews Reviews
	// OfflineGrace is how long a gateway is offline before that is an
	// alarm (default 2 min): shorter blips are recorded, not alarmed.
	OfflineGrace time.Duration

	// Commands publishes commands to gateways (commands.go); without it
	// commands answer 503. CommandTimeout bounds the wait for the reply
	// (default 10 s).
	Commands       Commander
	CommandTimeout time.Duration

	// Live is live view's TURN credentials and gateway candidates
	// (live.go); without it, Commands serves if it implements LiveBackend.
	Live LiveBackend

	// Enrol adds and removes gateways from the page (enrol.go); without
	// it the enrolment page says how to turn it on and its API answers 503.
	Enrol *enrol.Enroller

	// Clips is the clip store and the export key (clips.go); without it
	// the clip and export routes answer 503.
	Clips *Clips

	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Server is the console's HTTP handler.
type Server struct {
	o       Options
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	routes  []route
	sess    *sessions
	byAddr  *limiter
	byUser  *limiter
	pages   map[string]*template.Template
	static  http.Handler
	csrf    *http.CrossOriginProtection
	handler http.Handler
	feeds   feedSlots
	rowJSON feedRender    // feed.go: each item rendered once per language
	bundles *bundles      // enrol.go: downloads waiting to be taken
	exports chan struct{} // clips.go: slots of exports being built
}

// New builds the console's handler.
func New(o Options) (*Server, error) {
	if o.Accounts == nil || o.Audit == nil || o.Gateways == nil || o.Events == nil {
		return nil, errors.New("web: Accounts, Audit, Gateways and Events are required")
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 2 * time.Hour
	}
	if o.SessionMax <= 0 {
		o.SessionMax = 12 * time.Hour
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 1000
	}
	if o.MaxFailuresPerAddr <= 0 {
		o.MaxFailuresPerAddr = 20
	}
	if o.MaxFailuresPerUser <= 0 {
		o.MaxFailuresPerUser = 10
	}
	if o.LoginWindow <= 0 {
		o.LoginWindow = 15 * time.Minute
	}
	if o.LoginTimeout <= 0 {
		o.LoginTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FeedsPerUser <= 0 {
		o.FeedsPerUser = defaultFeedsPerUser
	}
	if o.MaxFeeds <= 0 {
		o.MaxFeeds = defaultMaxFeeds
	}
	if o.FeedHeartbeat <= 0 {
		o.FeedHeartbeat = defaultHeartbeat
	}
	if o.FeedWriteTimeout <= 0 {
		o.FeedWriteTimeout = defaultFeedWrite
	}
	if o.OfflineGrace <= 0 {
		o.OfflineGrace = DefaultOfflineGrace
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = defaultCommandTimeout
	}
	s := &Server{o: o, log: o.Logger, now: o.Now, mux: http.NewServeMux(),
		sess:   newSessions(o.SessionIdle, o.SessionMax, o.MaxSessions),
		byAddr: newLimiter(o.MaxFailuresPerAddr, o.LoginWindow),
		byUser: newLimiter(o.MaxFailuresPerUser, o.LoginWindow),
		csrf:   http.NewCrossOriginProtection(),
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	sub, _ := fs.Sub(staticFS, "static")
	s.static = newStaticFiles(sub)
	s.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", cut(r.Header.Get("Origin"), 100), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "addr", r.RemoteAddr)
		s.fail(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	s.registerRoutes()
	s.handler = s.secure(s.mux)
	return s, nil
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// csp allows the console's own scripts, styles and images only: no inline
// script or style, no plugins, no framing, forms posting only here.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// secure sets the security headers of every answer and bounds the body.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if s.o.Secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// route is one registered pattern and the least role it needs ("" for a
// public route).
type route struct {
	pattern string
	method  string
	path    string
	need    accounts.Role
	api     bool
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, v *view)

// handle registers h for pattern ("METHOD /path") behind the one check of
// login, role and site limits. need "" makes a public route.
func (s *Server) handle(pattern string, need accounts.Role, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	rt := route{pattern: pattern, method: method, path: path, need: need, api: strings.HasPrefix(path, "/api/")}
	s.routes = append(s.routes, rt)
	s.mux.Handle(pattern, s.csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := &view{s: s, lang: langOf(r)}
		if need != "" {
			p, ok := s.identify(w, r)
			if !ok {
				s.unauthorized(w, r, rt)
				return
			}
			v.p = p
			if !p.role.AtLeast(need) {
				s.fail(w, r, http.StatusForbidden, "your account ("+string(p.role)+") may not do this: it needs "+string(need))
				return
			}
			if gw := r.PathValue("gateway"); gw != "" && !v.allows(gw) {
				// The same answer as for a gateway that does not exist:
				// a limited account learns nothing of others.
				s.failNoGateway(w, r)
				return
			}
			w.Header().Set("Cache-Control", "no-store")
		}
		h(w, r, v)
	})))
}

// identify finds who makes r: an API token (Authorization: Bearer, API
// routes only) or a live session whose user still exists unchanged.
func (s *Server) identify(w http.ResponseWriter, r *http.Request) (*principal, bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		secret, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !strings.HasPrefix(r.URL.Path, "/api/") {
			return nil, false
		}
		t, err := s.o.Accounts.TokenAuth(strings.TrimSpace(secret))
		if err != nil {
			return nil, false
		}
		return &principal{name: "token:" + t.Name, role: t.Role, limits: t.Limits, token: true}, true
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	ss, ok := s.sess.get(c.Value, s.now())
	if !ok {
		return nil, false
	}
	u, ok, err := s.o.Accounts.Lookup(ss.user)
	if err != nil {
		s.log.Error("read accounts", "err", err)
		return nil, false
	}
	if !ok || u.Gen != ss.gen {
		s.sess.remove(c.Value)
		return nil, false
	}
	return &principal{name: u.Name, role: u.Role, limits: u.Limits, sid: c.Value}, true
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, rt route) {
	if rt.api {
		w.Header().Set("WWW-Authenticate", `Bearer realm="antt-station"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "login required"})
		return
	}
	next := "/"
	if r.Method == http.MethodGet && safeNext(r.URL.RequestURI()) {
		next = r.URL.RequestURI()
	}
	http.Redirect(w, r, "/login?next="+urlQueryEscape(next), http.StatusSeeOther)
}

// safeNext accepts only a path on this server as a place to go back to.
func safeNext(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\") && len(p) < 512
}

// fail answers an error: JSON under /api/, the error page otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeJSON(w, code, map[string]string{"error": msg})
		return
	}
	lang := langOf(r)
	text := msg
	switch code {
	case http.StatusForbidden:
		text = tr(lang, "err.forbidden")
	case http.StatusNotFound:
		text = tr(lang, "err.notfound")
	case http.StatusInternalServerError:
		text = tr(lang, "err.internal")
	case http.StatusBadRequest:
		text = tr(lang, "err.bad", msg)
	}
	s.render(w, r, &view{s: s, lang: lang}, code, "error", map[string]any{"Message": text})
}

// internal logs err and answers 500 without its details.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error(what, "err", err, "path", r.URL.Path)
	s.fail(w, r, http.StatusInternalServerError, "server error")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}

// decodeJSON reads a JSON body into v, refusing unknown fields and
// anything after the value; the error says what was wrong.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type %q: want application/json", ct)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("body over %d bytes", mbe.Limit)
		}
		return fmt.Errorf("body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("body: more than one JSON value")
	}
	return nil
}

// Listen opens the console's listener on addr: plain TCP on a loopback
// address, TLS on any other. tlsCfg is required for a non-loopback addr.
func Listen(addr string, tlsCfg *tls.Config) (net.Listener, bool, error) {
	loop, err := IsLoopback(addr)
	if err != nil {
		return nil, false, err
	}
	if !loop && tlsCfg == nil {
		return nil, false, fmt.Errorf("-http %s is not a loopback address: the console needs TLS there", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, false, err // net names the address: "listen tcp ADDR: bind: ..."
	}
	ln = &limitListener{Listener: ln, sem: make(chan struct{}, maxConns)}
	if !loop {
		return tls.NewListener(ln, tlsCfg), true, nil
	}
	return ln, false, nil
}

// IsLoopback reports whether addr (host:port) listens on loopback only:
// 127.0.0.0/8, ::1 or "localhost". An empty host (all addresses) is not.
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("-http %q: %w", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// NewHTTPServer wraps h in an http.Server with the console's timeouts and
// header limit. WriteTimeout is long enough for a snapshot on a phone's
// link; the live feed (a later phase) clears it per request.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve runs srv on ln until ctx ends, then shuts it down (5 s for
// requests in flight) and returns.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("console: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("console: shut down: %w", err)
	}
	return nil
}

// maxConns bounds the console's open connections: a few officers' browsers
// and API clients need tens; a flood of idle sockets gets no more.
const maxConns = 512

// limitListener holds an Accept until fewer than cap(sem) connections are
// open.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, sem: l.sem}, nil
}

type limitConn struct {
	net.Conn
	sem  chan struct{}
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.sem })
	return err
}
