package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
)

// sessionCookie is the session's cookie. The __Host- prefix makes the
// browser refuse it unless it is Secure, has Path=/ and no Domain, so no
// other host or path can plant or shadow it.
const sessionCookie = "__Host-antt-session"

// session is one login, kept in the server's memory only: a restart logs
// everyone out, which is the safe side. The cookie holds a random 256-bit
// id; the map is keyed by its SHA-256, so the map's timing tells nothing
// about live ids.
type session struct {
	user    string
	gen     uint64 // the user's Gen at login: a change of password or role ends it
	created time.Time
	last    time.Time
	addr    string
}

type sessions struct {
	idle, absolute time.Duration
	max            int

	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessions(idle, absolute time.Duration, max int) *sessions {
	return &sessions{idle: idle, absolute: absolute, max: max, m: map[[32]byte]*session{}}
}

// add makes a session and returns the cookie value.
func (s *sessions) add(u accounts.User, addr string, now time.Time) string {
	b := make([]byte, 32)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.pruneLocked(now)
		for k := range s.m { // still full: the map's random order drops some session
			if len(s.m) < s.max {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[sha256.Sum256([]byte(id))] = &session{user: u.Name, gen: u.Gen, created: now, last: now, addr: addr}
	return id
}

// get returns the live session of a cookie value and marks it used.
func (s *sessions) get(id string, now time.Time) (session, bool) {
	if id == "" || len(id) > 64 {
		return session{}, false
	}
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[k]
	if !ok {
		return session{}, false
	}
	if now.Sub(ss.last) > s.idle || now.Sub(ss.created) > s.absolute {
		delete(s.m, k)
		return session{}, false
	}
	ss.last = now
	return *ss, true
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// removeUser ends every session of user (removed, or changed by an admin).
func (s *sessions) removeUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, ss := range s.m {
		if ss.user == user {
			delete(s.m, k)
		}
	}
}

func (s *sessions) pruneLocked(now time.Time) {
	for k, ss := range s.m {
		if now.Sub(ss.last) > s.idle || now.Sub(ss.created) > s.absolute {
			delete(s.m, k)
		}
	}
}

// limiter counts failed logins per key (an address, a user name) in a
// fixed window: after max failures the key is refused until its window
// ends. Refused attempts are not checked, so a flood costs no argon2.
type limiter struct {
	max    int
	window time.Duration
	cap    int

	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start    time.Time
	failures int
	noted    bool // the block was written to the audit log
}

func newLimiter(max int, w time.Duration) *limiter {
	return &limiter{max: max, window: w, cap: 100000, m: map[string]*window{}}
}

// blocked reports whether key is refused now, for how long, and whether
// this is the first refusal of its window (to audit once).
func (l *limiter) blocked(key string, now time.Time) (wait time.Duration, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[key]
	if !ok || now.Sub(w.start) >= l.window || w.failures < l.max {
		return 0, false
	}
	first = !w.noted
	w.noted = true
	return w.start.Add(l.window).Sub(now), first
}

func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[key]
	if !ok || now.Sub(w.start) >= l.window {
		if len(l.m) >= l.cap {
			for k, w := range l.m {
				if now.Sub(w.start) >= l.window {
					delete(l.m, k)
				}
			}
		}
		if len(l.m) >= l.cap {
			return // full of live windows: the other key still limits
		}
		w = &window{start: now}
		l.m[key] = w
	}
	w.failures++
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

// addrKey is the address a login is counted under: the IP, or its /64
// for IPv6 (one host usually has a whole /64).
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// principal is who makes a request: a logged-in user or an API token.
type principal struct {
	name   string
	role   accounts.Role
	limits accounts.Limits
	token  bool
	sid    string // session cookie value (empty for a token)
}
