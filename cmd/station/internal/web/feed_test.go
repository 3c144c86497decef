package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
)

// sse is one open live feed read by the test.
type sse struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	lines  chan string
}

func openFeed(t *testing.T, url, cookie, lastID string) (*sse, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rq, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/feed", nil)
	rq.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	if lastID != "" {
		rq.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	s := &sse{t: t, resp: resp, cancel: cancel, lines: make(chan string, 1000)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(s.close)
	return s, http.StatusOK
}

func (s *sse) close() { s.cancel(); s.resp.Body.Close() }

// next returns the next item event (id and item), skipping heartbeats.
func (s *sse) next(d time.Duration) (uint64, feedItem) {
	s.t.Helper()
	var id uint64
	var data string
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatal("feed ended")
			}
			switch {
			case strings.HasPrefix(l, "id: "):
				id, _ = strconv.ParseUint(l[4:], 10, 64)
			case strings.HasPrefix(l, "data: "):
				data = l[6:]
			case l == "" && data != "":
				var it feedItem
				if err := json.Unmarshal([]byte(data), &it); err != nil {
					s.t.Fatalf("feed data %q: %v", data, err)
				}
				return id, it
			}
		case <-timer.C:
			s.t.Fatal("no feed item in time")
		}
	}
}

// The live feed sends new items with their arrival numbers as ids, only
// of the account's sites; after a reconnect with Last-Event-ID it resumes
// with nothing lost and nothing twice; heartbeats carry the position.
func TestFeedResumesWithinLimits(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FeedHeartbeat = 50 * time.Millisecond })
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	f.event(gwGate, "motion", "before-feed", nil) // before the feed opened: not sent
	officer := f.login("tuan")                    // limited to khu-3 (gwGate)
	s, code := openFeed(t, srv.URL, officer, "")
	if code != http.StatusOK {
		t.Fatalf("feed: %d", code)
	}
	var want []uint64
	for i := range 5 {
		f.event(gwSchool, "motion", "other-site", nil)
		f.event(gwGate, "tamper", "src-"+strconv.Itoa(i), map[string]any{"x": "<script>"})
	}
	for i := range 5 {
		id, it := s.next(5 * time.Second)
		if it.Gateway != gwGate || it.Event.Source != "src-"+strconv.Itoa(i) || id != it.Arrival || !it.Alarm || it.Name != "Cổng khu dân cư 3" {
			t.Fatalf("item %d: id %d %+v", i, id, it)
		}
		want = append(want, id)
	}
	last := want[len(want)-1]
	s.close()
	for i := 5; i < 8; i++ {
		f.event(gwGate, "motion", "src-"+strconv.Itoa(i), nil)
		f.event(gwSchool, "motion", "other-site", nil)
	}
	s2, _ := openFeed(t, srv.URL, officer, strconv.FormatUint(last, 10))
	for i := 5; i < 8; i++ {
		id, it := s2.next(5 * time.Second)
		if id <= last || it.Gateway != gwGate || it.Event.Source != "src-"+strconv.Itoa(i) {
			t.Fatalf("after reconnect: id %d (last %d) %+v", id, last, it)
		}
		last = id
	}
	// A heartbeat moves the position past the other site's records.
	lastArr, _ := f.st.LastArrival()
	sawHeartbeat := false
	for !sawHeartbeat {
		select {
		case l := <-s2.lines:
			if l == "id: "+strconv.FormatUint(lastArr, 10) {
				if l2 := <-s2.lines; l2 == ": heartbeat" {
					sawHeartbeat = true
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat with the last arrival")
		}
	}
	// A bad Last-Event-ID is a clear error.
	r := f.do(req{path: "/api/feed", cookie: officer, header: map[string]string{"Last-Event-ID": "abc"}})
	must(t, r, http.StatusBadRequest, "bad Last-Event-ID")
	if !strings.Contains(r.body, "Last-Event-ID") {
		t.Fatalf("error %q does not name Last-Event-ID", r.body)
	}
}

// Open feeds are capped per account and in all; closing one frees it.
func TestFeedCaps(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FeedsPerUser, o.MaxFeeds = 2, 3 })
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	an, binh := f.login("an"), f.login("binh")
	a1, _ := openFeed(t, srv.URL, an, "")
	openFeed(t, srv.URL, an, "")
	if _, code := openFeed(t, srv.URL, an, ""); code != http.StatusTooManyRequests {
		t.Fatalf("third feed of one account: %d, want 429", code)
	}
	openFeed(t, srv.URL, binh, "")
	if _, code := openFeed(t, srv.URL, binh, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("feed over the console's cap: %d, want 503", code)
	}
	a1.close()
	devtest.WaitFor(t, 5*time.Second, "a closed feed to free its slot", func() bool {
		s, code := openFeed(t, srv.URL, binh, "")
		if code == http.StatusOK {
			s.close()
		}
		return code == http.StatusOK
	})
}

// A browser that stops reading is disconnected after the write timeout;
// the store goes on storing meanwhile (the feed pulls, nothing waits for
// the browser).
func TestFeedSlowBrowserDisconnected(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.FeedWriteTimeout = 300 * time.Millisecond })
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	cookie := f.login("an")
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	if _, err := c.Write([]byte("GET /api/feed HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + sessionCookie + "=" + cookie + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	devtest.WaitFor(t, 5*time.Second, "the feed to open", func() bool {
		f.s.feeds.mu.Lock()
		defer f.s.feeds.mu.Unlock()
		return f.s.feeds.total == 1
	})
	big := map[string]any{"pad": strings.Repeat("x", 4000)}
	start := time.Now()
	for i := 0; ; i++ {
		f.event(gwGate, "motion", "flood", big)
		f.s.feeds.mu.Lock()
		n := f.s.feeds.total
		f.s.feeds.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("slow browser still connected after %d events", i)
		}
	}
}

// The feeds share one reader of the store; a feed that falls behind its
// queue misses batches, is told so, and reads the store itself by its own
// arrival number: it still shows every event once, in order, while
// another feed kept up from the shared queue.
func TestFeedBehindReadsTheStore(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	an := f.login("an")
	slow, _ := openFeed(t, srv.URL, an, "")
	fast, _ := openFeed(t, srv.URL, an, "")
	hub := &f.s.feeds.hub
	devtest.WaitFor(t, 5*time.Second, "both feeds at the shared reader", func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		return len(hub.subs) == 2 && hub.stop != nil
	})
	// The first event's row is rendered by one of the feeds; holding the
	// rendered rows' lock stops both inside it, while the reader goes on.
	f.s.rowJSON.mu.Lock()
	locked := true
	defer func() {
		if locked {
			f.s.rowJSON.mu.Unlock()
		}
	}()
	lagged := func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		for sub := range hub.subs {
			if len(sub.lag) == 0 {
				return false
			}
		}
		return true
	}
	n := 0
	for ; !lagged(); n++ {
		if n > 5000 {
			t.Fatalf("no feed behind after %d events (queue %d)", n, feedQueue)
		}
		f.event(gwGate, "motion", "src-"+strconv.Itoa(n), nil)
	}
	if n <= feedQueue {
		t.Fatalf("a feed was behind after %d events, its queue holds %d batches", n, feedQueue)
	}
	f.s.rowJSON.mu.Unlock()
	locked = false
	for _, s := range []*sse{slow, fast} {
		var prev uint64
		for i := range n {
			id, it := s.next(10 * time.Second)
			if id <= prev || it.Event.Source != "src-"+strconv.Itoa(i) {
				t.Fatalf("event %d of %d: id %d after %d, %+v", i, n, id, prev, it)
			}
			prev = id
		}
	}
	// Both caught up: the next event comes from the shared reader again.
	f.event(gwGate, "motion", "after", nil)
	for _, s := range []*sse{slow, fast} {
		if _, it := s.next(5 * time.Second); it.Event.Source != "after" {
			t.Fatalf("after catching up: %+v", it)
		}
	}
}

// countingFeed counts the store reads of the live feeds.
type countingFeed struct {
	Feed
	reads atomic.Int64
}

func (c *countingFeed) After(n uint64, limit int) ([]Item, uint64, error) {
	c.reads.Add(1)
	return c.Feed.After(n, limit)
}

// Twenty open feeds read the store once per commit between them (the
// shared reader), not once each: 20 feeds and 100 commits, each shown in
// every feed before the next, take at most a read per commit and a few
// per feed (its start), where a read per feed per commit would be 2,000.
func TestFeedsShareOneReader(t *testing.T) {
	var cf *countingFeed
	f := newFixture(t, func(o *Options) { cf = &countingFeed{Feed: o.Feed}; o.Feed = cf; o.MaxFeeds, o.FeedsPerUser = 32, 32 })
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	const feeds, commits = 20, 100
	var fs []*sse
	an := f.login("an")
	for i := range feeds {
		s, code := openFeed(t, srv.URL, an, "")
		if code != http.StatusOK {
			t.Fatalf("feed %d: %d", i, code)
		}
		fs = append(fs, s)
	}
	devtest.WaitFor(t, 5*time.Second, "every feed at the shared reader", func() bool {
		f.s.feeds.hub.mu.Lock()
		defer f.s.feeds.hub.mu.Unlock()
		return len(f.s.feeds.hub.subs) == feeds
	})
	start := cf.reads.Load()
	for i := range commits {
		f.event(gwGate, "motion", "c-"+strconv.Itoa(i), nil)
		for _, s := range fs {
			if _, it := s.next(5 * time.Second); it.Event.Source != "c-"+strconv.Itoa(i) {
				t.Fatalf("commit %d: %+v", i, it)
			}
		}
	}
	reads := cf.reads.Load() - start
	t.Logf("%d feeds, %d commits: %d store reads", feeds, commits, reads)
	if reads > commits+4*feeds {
		t.Errorf("%d feeds, %d commits: %d store reads, want at most %d", feeds, commits, reads, commits+4*feeds)
	}
}
