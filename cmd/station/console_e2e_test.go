package main

// End-to-end tests of the web console through the real binaries: a
// gateway killed and back (offline after the grace, an alarm, its
// buffered events in the feed in order), and the load of 200 simulated
// gateways with 20 live feeds (BenchmarkConsoleFeed measures the same).

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
)

const consolePassword = "mật-khẩu-e2e-console"

// consoleStation is a station binary serving its console on loopback,
// with an admin "an" logged in.
type consoleStation struct {
	*binStation
	http   string // host:port of the console
	cookie string // an's session
	client *http.Client
}

// startConsoleStation makes the admin, runs `station run` with the console
// on a free loopback port and args, and logs in.
func startConsoleStation(t testing.TB, data string, args ...string) *consoleStation {
	t.Helper()
	bin, _ := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	add := binCommand(ctx, bin, "user", "add", "-data", data, "-role", "admin", "an")
	add.Stdin = strings.NewReader(consolePassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("station user add: %v\n%s", err, out)
	}
	return runConsoleStation(t, bin, data, args...)
}

// runConsoleStation runs `station run` on data (whose admin an exists)
// with the console on a free loopback port and args, waits for the broker
// and the console to listen, and logs in as an.
func runConsoleStation(t testing.TB, bin, data string, args ...string) *consoleStation {
	t.Helper()
	httpAddr := devtest.FreeAddr(t)
	p := startProc(t, "station", nil, bin, append([]string{"run", "-data", data, "-listen", "127.0.0.1:0", "-http", httpAddr}, args...)...)
	s := &consoleStation{binStation: &binStation{proc: p, data: data}, http: httpAddr,
		client: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	devtest.WaitFor(t, 30*time.Second, "station: broker and console listening", func() bool {
		if p.exited() {
			t.Fatalf("station exited during start:\n%s", e2eTail(p.stderr))
		}
		out := p.stderr.String()
		m := stationListening.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "console listening on http://"+httpAddr) {
			return false
		}
		s.addr = m[1]
		return true
	})
	r, err := s.client.PostForm("http://"+httpAddr+"/login", url.Values{"user": {"an"}, "password": {consolePassword}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	for _, c := range r.Cookies() {
		if r.StatusCode == http.StatusSeeOther && c.Value != "" {
			s.cookie = c.Name + "=" + c.Value
		}
	}
	if s.cookie == "" {
		t.Fatalf("login: %s", r.Status)
	}
	return s
}

// api does one request with an's session (or bearer, when given) and
// decodes a JSON answer into out.
func (s *consoleStation) api(t testing.TB, method, path, body, bearer string, out any) {
	t.Helper()
	rq, _ := http.NewRequest(method, "http://"+s.http+path, strings.NewReader(body))
	if bearer != "" {
		rq.Header.Set("Authorization", "Bearer "+bearer)
	} else {
		rq.Header.Set("Cookie", s.cookie)
	}
	if body != "" {
		rq.Header.Set("Content-Type", "application/json")
	}
	r, err := s.client.Do(rq)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s %s", method, path, r.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %.300s", method, path, err, b)
		}
	}
}

// tryAPI is api for a GET that may answer 404 (not there yet): out is
// then left as it is.
func (s *consoleStation) tryAPI(t testing.TB, method, path string, out any) {
	t.Helper()
	rq, _ := http.NewRequest(method, "http://"+s.http+path, nil)
	rq.Header.Set("Cookie", s.cookie)
	r, err := s.client.Do(rq)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	switch {
	case r.StatusCode == http.StatusNotFound:
	case r.StatusCode/100 != 2:
		t.Fatalf("%s %s: %s %s", method, path, r.Status, b)
	default:
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %.300s", method, path, err, b)
		}
	}
}

// token makes an API token of role for a machine client (a feed).
func (s *consoleStation) token(t testing.TB, name, role string) string {
	t.Helper()
	var r struct{ Token string }
	s.api(t, "POST", "/api/tokens", `{"name":"`+name+`","role":"`+role+`"}`, "", &r)
	return r.Token
}

// feedEvent is what the tests read of a feed item.
type feedEvent struct {
	Arrival uint64    `json:"arrival"`
	Type    string    `json:"type"`
	Gateway string    `json:"gateway"`
	Epoch   string    `json:"epoch"`
	Stored  time.Time `json:"stored"`
	Event   *struct {
		Seq    uint64    `json:"seq"`
		Kind   string    `json:"kind"`
		Source string    `json:"source"`
		Test   bool      `json:"test"`
		Time   time.Time `json:"time"`
	} `json:"event"`
	Show struct {
		Kind string `json:"kind"`
	} `json:"show"`
	at time.Time // when the test read it
}

// liveFeed is one open /api/feed read into a channel of items.
type liveFeed struct {
	items  chan feedEvent
	cancel context.CancelFunc
}

// openLiveFeed opens the feed with a session cookie or a bearer token.
func (s *consoleStation) openLiveFeed(t testing.TB, cookie, bearer string, buffer int) *liveFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rq, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.http+"/api/feed", nil)
	if bearer != "" {
		rq.Header.Set("Authorization", "Bearer "+bearer)
	} else {
		rq.Header.Set("Cookie", cookie)
	}
	r, err := (&http.Client{}).Do(rq)
	if err != nil || r.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("open feed: %v %v", err, r)
	}
	f := &liveFeed{items: make(chan feedEvent, buffer), cancel: cancel}
	go func() {
		defer r.Body.Close()
		defer close(f.items)
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		event := ""
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "event: "):
				event = l[7:]
			case strings.HasPrefix(l, "data: ") && event == "item":
				var it feedEvent
				if json.Unmarshal([]byte(l[6:]), &it) == nil {
					it.at = time.Now()
					f.items <- it
				}
			case l == "":
				event = ""
			}
		}
	}()
	t.Cleanup(cancel)
	return f
}

// linkProxy stands for the gateway's 4G link: a TCP relay to the station
// that the test cuts (every connection closed, new ones refused) and
// restores on the same port.
type linkProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func (p *linkProxy) up(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.conns = ln, map[net.Conn]bool{}
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[s] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *linkProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

type apiAlarm struct {
	Key          string    `json:"key"`
	Gateway      string    `json:"gateway"`
	OfflineSince time.Time `json:"offline_since"`
}

// TestGatewayOfflineThenBacklog: the real gateway binary, its link to the
// real station through a relay. Killed with its link cut, it is shown
// offline and becomes an alarm to review only after -offline-grace; it
// comes back with walk tests buffered while its link was down; they reach
// the store and the open live feed in order, each once.
func TestGatewayOfflineThenBacklog(t *testing.T) {
	t.Parallel()
	const grace = 3 * time.Second
	dir := t.TempDir()
	st := startConsoleStation(t, filepath.Join(dir, "station"), "-offline-grace", grace.String())
	link := &linkProxy{addr: devtest.FreeAddr(t), target: st.addr}
	link.up(t)
	const gw = "cong-khu-3"
	api := devtest.FreeAddr(t)
	cfg := writeGatewayConfig(t, dir, gw, filepath.Join(dir, "gw"), link.addr, api, "", "")
	g := startBinGateway(t, cfg, api)
	feed := st.openLiveFeed(t, st.cookie, "", 1000)

	type gwState struct {
		ID           string    `json:"id"`
		Online       bool      `json:"online"`
		Known        bool      `json:"known"`
		OfflineSince time.Time `json:"offline_since"`
	}
	gateway := func() gwState { // zero until the station has heard of it (404)
		var r gwState
		st.tryAPI(t, "GET", "/api/gateways/"+gw, &r)
		return r
	}
	devtest.WaitFor(t, 30*time.Second, "gateway online in the console", func() bool { return gateway().Online })
	var seqs []uint64
	for range 3 {
		seqs = append(seqs, g.walk(t, "pir"))
	}
	// next reads the feed's walk tests, failing on any out of order or twice.
	seen := map[uint64]bool{}
	var lastSeq uint64
	readWalks := func(want []uint64, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for got := 0; got < len(want); {
			select {
			case it, ok := <-feed.items:
				if !ok {
					t.Fatal("feed ended")
				}
				if it.Event == nil || it.Gateway != gw || !it.Event.Test {
					continue
				}
				q := it.Event.Seq
				if seen[q] || q <= lastSeq {
					t.Fatalf("feed: walk test seq %d after %d (seen before: %v)", q, lastSeq, seen[q])
				}
				if q != want[got] {
					t.Fatalf("feed: walk test seq %d, want %d", q, want[got])
				}
				if it.Show.Kind != "Phát hiện chuyển động" {
					t.Errorf("feed row kind %q", it.Show.Kind)
				}
				seen[q], lastSeq = true, q
				got++
			case <-deadline:
				t.Fatalf("feed: walk tests %v not all shown within %v (last %d)", want, within, lastSeq)
			}
		}
	}
	readWalks(seqs, 10*time.Second)

	// Killed with the link down: offline at once (the connection closed),
	// an alarm only after the grace.
	link.down()
	g.kill()
	var since time.Time
	devtest.WaitFor(t, 30*time.Second, "gateway offline in the console", func() bool {
		s := gateway()
		since = s.OfflineSince
		return !s.Online && !since.IsZero()
	})
	var alarm apiAlarm
	devtest.WaitFor(t, 30*time.Second, "offline alarm to review", func() bool {
		var r struct{ Alarms []apiAlarm }
		st.api(t, "GET", "/api/alarms", "", "", &r)
		for _, a := range r.Alarms {
			if strings.HasPrefix(a.Key, "offline/"+gw+"/") {
				alarm = a
				return true
			}
		}
		return false
	})
	if early := time.Since(since); early < grace {
		t.Errorf("offline alarm raised %v after the gateway went offline, before the grace %v", early, grace)
	}
	if !alarm.OfflineSince.Equal(since) {
		t.Errorf("alarm offline since %v, gateway %v", alarm.OfflineSince, since)
	}

	// Back, with its link still down: walk tests wait in its outbox.
	g = startBinGateway(t, cfg, api)
	var buffered []uint64
	for range 10 {
		buffered = append(buffered, g.walk(t, "pir"))
	}
	if d := g.status(t).Outbox.Depth; d < len(buffered) {
		t.Fatalf("outbox depth %d with %d walk tests buffered", d, len(buffered))
	}
	link.up(t)
	readWalks(buffered, 60*time.Second)
	devtest.WaitFor(t, 30*time.Second, "gateway online again", func() bool { return gateway().Online })
	devtest.WaitFor(t, 30*time.Second, "outbox drained", func() bool { return g.status(t).Outbox.Depth == 0 })

	g.term(t)
	link.down()
	st.stop(t)
	s := dump(t, st.data)
	if s.dups > 0 {
		t.Errorf("the store holds %d duplicate events", s.dups)
	}
	ep := oneEpoch(t, s, gw)
	for _, q := range append(seqs, buffered...) {
		if _, ok := s.events[gw][ep][q]; !ok {
			t.Errorf("walk test seq %d not stored", q)
		}
	}
}
