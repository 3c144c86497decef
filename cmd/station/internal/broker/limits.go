package broker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Limits. The network port faces 4G, so the internet: these are
// what one address, or all of them together, can cost the station.
const (
	// DefaultConnectTimeout bounds the time from accepting a connection to
	// writing its CONNACK (TLS handshake and password check included).
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxPacketSize is the largest MQTT packet accepted from a
	// client: the largest snapshot a gateway may publish (the snapshot
	// fetcher's 4 MiB limit, device/camera/snapshot.DefaultMaxBytes; the
	// outbox's event limit is 64 KiB) plus 64 KiB for the fixed header,
	// the topic and the packet id. TestMaxPacketSizeFitsSnapshots keeps the
	// two in step.
	DefaultMaxPacketSize = 4<<20 + 64<<10
	// DefaultMaxClients bounds the clients logged in over the network; a
	// commune has a few hundred gateways.
	DefaultMaxClients = 2000
	// DefaultMaxPending bounds the connections not yet answered with a
	// CONNACK (each costs some 30 KiB at most), and DefaultMaxPendingPerAddr
	// those from one address, so one address cannot fill the station's
	// pending slots, while a commune's gateways behind one carrier NAT
	// address, all reconnecting at once after an outage, are not refused.
	DefaultMaxPending        = 1024
	DefaultMaxPendingPerAddr = 256
	// DefaultMaxLoginFailures failed logins from one address within
	// DefaultLoginCooldown put the address on cooldown for that long:
	// its logins are then refused without a password check, unless the
	// user and password were verified recently (see Limits).
	DefaultMaxLoginFailures = 10
	DefaultLoginCooldown    = time.Minute
)

const (
	// maxConnectSize bounds the CONNECT packet, which arrives before the
	// client is known. Ours carry a client id, a user name, a password and
	// a small will; 16 KiB leaves room for long certificates-as-passwords
	// and MQTT 5 properties while a pending connection costs little.
	maxConnectSize = 16 << 10
	// maxKeepalive is the keepalive given to a client that asks for none
	// (0) or for more: an idle logged-in socket is closed after 1.5 times
	// it (MQTT's rule), so no socket is held forever.
	maxKeepalive = 30 * 60
	// verifiedTTL is how long a verified login is remembered after its
	// last use.
	verifiedTTL = 24 * time.Hour
	// maxAddrs bounds the per-address table; entries with nothing pending
	// and no cooldown are the first to go when it is full.
	maxAddrs = 1 << 16
)

// Limits bounds what clients of the network listener can cost the station.
// The station's own in-process client (Dial) is never limited or counted.
// Zero fields take the defaults above.
//
// A flood of wrong passwords costs little CPU and keeps no real gateway
// out because:
//   - at most MaxChecks password checks (PBKDF2, ~0.1 s each at the default
//     600,000 iterations) run at once; a login waits for a slot only until
//     its connect deadline;
//   - after MaxLoginFailures failures within LoginCooldown, an address's
//     logins are refused for LoginCooldown without running the check;
//   - a (user, password) pair verified in the last 24 hours is recognised
//     without PBKDF2, from any address and even during a cooldown, so a
//     gateway reconnecting (behind the attacker's carrier NAT, or while the
//     check slots are busy) gets in at once. The pairs are kept as
//     HMAC-SHA256 under a random key made at start, keyed by the HMAC of
//     the user name, compared in constant time, and forgotten on Reload.
//
// IPv6 addresses count per /64, the block a single host can choose from.
type Limits struct {
	ConnectTimeout    time.Duration // accept to CONNACK written (DefaultConnectTimeout)
	MaxPacketSize     int           // bytes of any packet after CONNECT (DefaultMaxPacketSize)
	MaxClients        int           // logged in at once (DefaultMaxClients)
	MaxPending        int           // not yet logged in, in all (DefaultMaxPending)
	MaxPendingPerAddr int           // not yet logged in, per address (DefaultMaxPendingPerAddr)
	MaxLoginFailures  int           // failures within LoginCooldown before one (DefaultMaxLoginFailures)
	LoginCooldown     time.Duration // DefaultLoginCooldown
	// MaxChecks bounds the password checks running at once; it defaults
	// to half the CPUs (at least one): the other half keeps serving the
	// gateways that are logged in.
	MaxChecks int
	// MaxInflightBytes bounds the bytes of the packets all network
	// clients' read loops hold at once, waiting for the store included
	// (DefaultMaxInflightBytes; see budget): beyond it the next reader
	// waits before reading its packet's body. A packet larger than the
	// bound is read alone. -1 turns the bound off.
	MaxInflightBytes int
}

// withDefaults fills zero fields and refuses negative ones.
func (l Limits) withDefaults() (Limits, error) {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"connect timeout", int64(l.ConnectTimeout)}, {"max packet size", int64(l.MaxPacketSize)},
		{"max clients", int64(l.MaxClients)}, {"max pending", int64(l.MaxPending)},
		{"max pending per address", int64(l.MaxPendingPerAddr)}, {"max login failures", int64(l.MaxLoginFailures)},
		{"login cooldown", int64(l.LoginCooldown)}, {"max password checks", int64(l.MaxChecks)},
	} {
		if f.v < 0 {
			return l, fmt.Errorf("broker limits: %s is negative", f.name)
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if l.ConnectTimeout == 0 {
		l.ConnectTimeout = DefaultConnectTimeout
	}
	if l.LoginCooldown == 0 {
		l.LoginCooldown = DefaultLoginCooldown
	}
	def(&l.MaxPacketSize, DefaultMaxPacketSize)
	def(&l.MaxClients, DefaultMaxClients)
	def(&l.MaxPending, DefaultMaxPending)
	def(&l.MaxPendingPerAddr, DefaultMaxPendingPerAddr)
	def(&l.MaxLoginFailures, DefaultMaxLoginFailures)
	def(&l.MaxChecks, max(1, runtime.NumCPU()/2))
	def(&l.MaxInflightBytes, DefaultMaxInflightBytes)
	if l.MaxInflightBytes < -1 {
		return l, fmt.Errorf("broker limits: max in-flight bytes %d: want -1 (off) or more than 0", l.MaxInflightBytes)
	}
	if l.MaxPacketSize < maxConnectSize {
		return l, fmt.Errorf("broker limits: max packet size %d below the CONNECT limit of %d bytes", l.MaxPacketSize, maxConnectSize)
	}
	if l.MaxPacketSize > 256<<20 {
		return l, fmt.Errorf("broker limits: max packet size %d above MQTT's 256 MiB", l.MaxPacketSize)
	}
	return l, nil
}

// guard holds the state behind Limits, shared by the listener and the hooks.
type guard struct {
	lim      Limits
	now      func() time.Time
	refusals *refusalLog

	checks   chan struct{} // password check slots
	inflight *budget       // nil when Limits.MaxInflightBytes is -1
	checked  atomic.Int64  // password checks run (PBKDF2), for tests
	clients  atomic.Int64  // network clients past their CONNACK
	pending  atomic.Int64  // network connections before their CONNACK

	mu    sync.Mutex
	addrs map[string]*addrState

	key   [32]byte // HMAC key of the verified cache, random per process
	vmu   sync.Mutex
	cache map[[32]byte]verified
}

// addrState is what the guard knows about one address (or IPv6 /64).
type addrState struct {
	pending   int
	failures  int       // since windowEnd - LoginCooldown
	windowEnd time.Time // failures older than this window are forgotten
	coolUntil time.Time
}

// verified is one recently verified login.
type verified struct {
	users *Users // the table it was verified against; stale after Reload
	mac   [32]byte
	used  time.Time
}

func newGuard(lim Limits, log *slog.Logger) *guard {
	g := &guard{
		lim:      lim,
		now:      time.Now,
		refusals: newRefusalLog(log),
		checks:   make(chan struct{}, lim.MaxChecks),
		addrs:    map[string]*addrState{},
		cache:    map[[32]byte]verified{},
	}
	if lim.MaxInflightBytes > 0 {
		g.inflight = newBudget(int64(lim.MaxInflightBytes))
	}
	if _, err := rand.Read(g.key[:]); err != nil {
		panic(fmt.Sprintf("broker: read random key: %v", err)) // crypto/rand does not fail on Linux
	}
	return g
}

// addrKey is the key of an address in the per-address limits: the IPv4
// address, or the /64 of an IPv6 one.
func addrKey(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// state returns key's entry, making room for it; called with g.mu held.
func (g *guard) state(key string, now time.Time) *addrState {
	if s := g.addrs[key]; s != nil {
		return s
	}
	if len(g.addrs) >= maxAddrs {
		for k, s := range g.addrs {
			if s.pending == 0 && now.After(s.coolUntil) && now.After(s.windowEnd) {
				delete(g.addrs, k)
			}
		}
		// Still full: an attacker spread over many addresses. Forget
		// some failure counts; the check slots still bound the cost.
		for k, s := range g.addrs {
			if len(g.addrs) < maxAddrs {
				break
			}
			if s.pending == 0 {
				delete(g.addrs, k)
			}
		}
	}
	s := &addrState{}
	g.addrs[key] = s
	return s
}

// admit counts a new connection from key as pending, or says why not.
func (g *guard) admit(key string) (refusal string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending.Load() >= int64(g.lim.MaxPending) {
		return "too many connections waiting to log in"
	}
	s := g.state(key, g.now())
	if s.pending >= g.lim.MaxPendingPerAddr {
		return "too many connections waiting to log in from this address"
	}
	s.pending++
	g.pending.Add(1)
	return ""
}

// settle ends a connection's pending state (CONNACK written, or gone).
func (g *guard) settle(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending.Add(-1)
	s := g.addrs[key]
	if s == nil {
		return
	}
	s.pending--
	if s.pending == 0 && s.failures == 0 && g.now().After(s.coolUntil) {
		delete(g.addrs, key)
	}
}

// cooling reports whether key is on cooldown after failed logins.
func (g *guard) cooling(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.addrs[key]
	return s != nil && g.now().Before(s.coolUntil)
}

// failed counts a failed login from key; it reports whether this one put
// the address on cooldown.
func (g *guard) failed(key string) (startsCooldown bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	s := g.state(key, now)
	if now.After(s.windowEnd) {
		s.failures, s.windowEnd = 0, now.Add(g.lim.LoginCooldown)
	}
	s.failures++
	if s.failures < g.lim.MaxLoginFailures {
		return false
	}
	s.failures, s.windowEnd = 0, time.Time{}
	s.coolUntil = now.Add(g.lim.LoginCooldown)
	return true
}

// reserve counts a client that is logging in against MaxClients. A client
// taking over its own connected session may go one over: the old
// connection is about to be closed.
func (g *guard) reserve(takeover bool) bool {
	for {
		n := g.clients.Load()
		if n >= int64(g.lim.MaxClients) && !takeover {
			return false
		}
		if g.clients.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// full reports whether MaxClients network clients are logged in.
func (g *guard) full() bool { return g.clients.Load() >= int64(g.lim.MaxClients) }

func (g *guard) mac(parts ...string) [32]byte {
	m := hmac.New(sha256.New, g.key[:])
	for _, p := range parts {
		// Length-prefixed, so ("ab","c") and ("a","bc") differ.
		fmt.Fprintf(m, "%d:", len(p))
		m.Write([]byte(p))
	}
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// recall returns user's identity if this password was verified against
// users within verifiedTTL of its last use.
func (g *guard) recall(users *Users, user string, password []byte) (Identity, bool) {
	k := g.mac("user", user)
	g.vmu.Lock()
	v, ok := g.cache[k]
	g.vmu.Unlock()
	if !ok || v.users != users || g.now().Sub(v.used) > verifiedTTL {
		return Identity{}, false
	}
	m := g.mac("password", user, string(password))
	if subtle.ConstantTimeCompare(m[:], v.mac[:]) != 1 {
		return Identity{}, false
	}
	ident, ok := users.Identity(user)
	if !ok {
		return Identity{}, false
	}
	g.vmu.Lock()
	if cur, ok := g.cache[k]; ok && cur.mac == v.mac {
		cur.used = g.now()
		g.cache[k] = cur
	}
	g.vmu.Unlock()
	return ident, true
}

// remember records a login just verified against users.
func (g *guard) remember(users *Users, user string, password []byte) {
	k := g.mac("user", user)
	v := verified{users: users, mac: g.mac("password", user, string(password)), used: g.now()}
	g.vmu.Lock()
	g.cache[k] = v
	g.vmu.Unlock()
}

// forget drops every verified login (Reload: passwords may have changed).
func (g *guard) forget() {
	g.vmu.Lock()
	clear(g.cache)
	g.vmu.Unlock()
}

// Why a password was not checked.
var (
	errNoCheckSlot = errors.New("no password check slot before the connect deadline")
	errCooling     = errors.New("address on cooldown")
)

// check verifies user's password against users in one of the check slots,
// waiting for a slot until ctx ends, and counts a failure against key
// (startsCooldown: this one put it on cooldown). An address put on
// cooldown while its logins waited gets no check, and the failure is
// counted before the slot is given up: a burst from one address costs at
// most MaxLoginFailures checks (plus those already running, up to
// MaxChecks - 1) per cooldown.
func (g *guard) check(ctx context.Context, key string, users *Users, user string, password []byte) (ident Identity, ok, startsCooldown bool, err error) {
	select {
	case g.checks <- struct{}{}:
	case <-ctx.Done():
		return Identity{}, false, false, errNoCheckSlot
	}
	defer func() { <-g.checks }()
	if g.cooling(key) {
		return Identity{}, false, false, errCooling
	}
	g.checked.Add(1)
	ident, ok = users.Authenticate(user, password)
	if !ok {
		startsCooldown = g.failed(key)
	}
	return ident, ok, startsCooldown, nil
}
