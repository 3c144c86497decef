package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
)

// Feed is what the live feed reads: the store's arrival index as items,
// and a signal of new ones. StoreData implements it over the store.
type Feed interface {
	// After returns up to limit items with an arrival number above n,
	// oldest first, snapshots included (ItemSnapshot: a snapshot stored
	// after its event, which the page adds to the event's row), and the
	// arrival number of the last record read (to resume from even when
	// none of them is shown).
	After(n uint64, limit int) (items []Item, last uint64, err error)
	// Changed returns a channel closed when records are committed after
	// the call.
	Changed() <-chan struct{}
	// LastArrival is the newest arrival number.
	LastArrival() (uint64, error)
}

var _ Feed = (*StoreData)(nil)

// After implements Feed. Every open feed reads the same new records:
// they are decoded once, into a cache of the newest items that the
// feeds share (read-only), and the event bodies the cache holds are not
// read from the store again.
func (d *StoreData) After(n uint64, limit int) ([]Item, uint64, error) {
	recs, err := d.brief(n, limit)
	if err != nil {
		return nil, n, err
	}
	items := make([]Item, 0, len(recs))
	for _, r := range recs {
		n = r.Arrival
		if r.Type == store.RecordSnapshot {
			items = append(items, Item{Arrival: r.Arrival, Type: ItemSnapshot, Gateway: r.Gateway, Epoch: r.Epoch, Stored: r.Time, Seq: r.Seq, Snapshot: true})
			continue
		}
		if it, ok := d.recent.get(r.Arrival); ok {
			items = append(items, it)
			continue
		}
		if r.Type == store.RecordEvent && r.Event == nil {
			if r.Event, _, err = d.Store.Event(r.Gateway, r.Epoch, r.Seq); err != nil {
				return nil, n, err
			}
		}
		it, err := d.item(r)
		if err != nil {
			return nil, n, err
		}
		d.recent.put(it)
		items = append(items, it)
	}
	return items, n, nil
}

// recentItems is how many decoded items the feeds share: a few seconds of
// the busiest station's events (200 gateways at 1 event/s), so that a feed
// a batch behind the others still finds them.
const recentItems = 4096

// itemCache holds the newest decoded items by arrival number, in a ring.
// Its items are shared: nobody may change one.
type itemCache struct {
	mu   sync.Mutex
	ring [recentItems]Item
}

func (c *itemCache) get(arrival uint64) (Item, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.ring[arrival%recentItems]
	return it, it.Arrival == arrival && arrival != 0
}

// feedRender holds the newest items as the feed sends them, per
// language: every feed in one language sends the same bytes, made once.
// An entry is used only for the same gateway name (the directory may
// rename one).
type feedRender struct {
	mu   sync.Mutex
	ring [recentItems]renderedItem
}

type renderedItem struct {
	arrival uint64
	name    [2]string // per language: vi, en
	b       [2][]byte
}

func langIndex(lang string) int {
	if lang == LangEN {
		return 1
	}
	return 0
}

func (c *feedRender) get(arrival uint64, lang, name string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &c.ring[arrival%recentItems]
	l := langIndex(lang)
	if e.arrival != arrival || e.b[l] == nil || e.name[l] != name {
		return nil, false
	}
	return e.b[l], true
}

func (c *feedRender) put(arrival uint64, lang, name string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &c.ring[arrival%recentItems]
	if e.arrival != arrival {
		*e = renderedItem{arrival: arrival}
	}
	l := langIndex(lang)
	e.name[l], e.b[l] = name, b
}

func (c *itemCache) put(it Item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ring[it.Arrival%recentItems] = it
}

// Changed implements Feed.
func (d *StoreData) Changed() <-chan struct{} { return d.Store.Changed() }

// LastArrival implements Feed.
func (d *StoreData) LastArrival() (uint64, error) { return d.Store.LastArrival() }

// Feed defaults; Options can change them.
const (
	defaultFeedsPerUser = 4
	defaultMaxFeeds     = 64
	defaultHeartbeat    = 15 * time.Second
	defaultFeedWrite    = 10 * time.Second
	feedBatch           = 256
	// feedDirEvery is how often a feed reads the gateways' directory
	// again for names and site limits (each read lists every gateway).
	feedDirEvery = time.Second
)

// feedSlots counts the open feeds, per principal and in all, and holds
// the reader they share.
type feedSlots struct {
	mu     sync.Mutex
	byUser map[string]int
	total  int
	hub    feedHub
}

// feedQueue is how many batches (one or more per commit) a feed may be
// behind the shared reader before it reads the store for itself: a few
// seconds of the busiest station's commits.
const feedQueue = 64

// feedRead is what the shared reader read after a commit: the items
// with arrival numbers in (from, to], oldest first. Its items are shared:
// nobody may change one.
type feedRead struct {
	from, to uint64
	items    []Item
}

// feedSub is one open feed's place at the shared reader.
type feedSub struct {
	q   chan feedRead
	lag chan struct{} // capacity 1: a batch was dropped, q was full
}

// feedHub is the one reader of the store's new arrivals for every open
// feed: after each commit it reads the new records once and hands the
// same items to every feed's bounded queue. A feed whose queue is full
// misses the batch, is told so, and reads the store itself by its own
// arrival number until it has caught up, so no feed waits for another,
// the reader never waits for a feed, and nothing is lost. The reader
// runs while at least one feed is open.
type feedHub struct {
	mu   sync.Mutex
	subs map[*feedSub]struct{}
	stop chan struct{} // the running reader's; nil when none runs
}

// subscribe adds a feed, starting the reader if none runs.
func (h *feedHub) subscribe(f Feed, log *slog.Logger) *feedSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	sub := &feedSub{q: make(chan feedRead, feedQueue), lag: make(chan struct{}, 1)}
	if h.subs == nil {
		h.subs = map[*feedSub]struct{}{}
	}
	h.subs[sub] = struct{}{}
	if h.stop == nil {
		h.stop = make(chan struct{})
		go h.run(f, h.stop, log)
	}
	return sub
}

// unsubscribe removes a feed, stopping the reader after the last one.
func (h *feedHub) unsubscribe(sub *feedSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, sub)
	if len(h.subs) == 0 && h.stop != nil {
		close(h.stop)
		h.stop = nil
	}
}

// run is the shared reader, until stop closes. It starts at the newest
// record: a feed reads whatever came before from the store itself.
func (h *feedHub) run(f Feed, stop chan struct{}, log *slog.Logger) {
	pos, err := f.LastArrival()
	for err == nil {
		changed := f.Changed()
		var items []Item
		var last uint64
		if items, last, err = f.After(pos, feedBatch); err != nil {
			break
		}
		if last > pos {
			h.publish(stop, feedRead{from: pos, to: last, items: items})
			pos = last
		}
		if len(items) >= feedBatch {
			continue // more may be waiting
		}
		select { // one read per commit: changed was taken before it
		case <-stop:
			return
		case <-changed:
		}
	}
	// Each feed reads for itself now and meets the error itself; the
	// next feed to open starts a new reader.
	log.Error("live feed: shared reader: read store", "err", err, "after", pos)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop == stop {
		h.stop = nil
		for sub := range h.subs {
			select {
			case sub.lag <- struct{}{}:
			default:
			}
		}
	}
}

// publish hands b to every feed, or tells a feed with a full queue that
// it missed one.
func (h *feedHub) publish(stop chan struct{}, b feedRead) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stop != stop {
		return // stopped; a newer reader may run
	}
	for sub := range h.subs {
		select {
		case sub.q <- b:
		default:
			select {
			case sub.lag <- struct{}{}:
			default:
			}
		}
	}
}

// take reserves a feed for user; the error says which cap was hit.
func (f *feedSlots) take(user string, perUser, total int) (release func(), code int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byUser == nil {
		f.byUser = map[string]int{}
	}
	if f.total >= total {
		return nil, http.StatusServiceUnavailable, fmt.Errorf("the console has %d live feeds open, its limit", total)
	}
	if f.byUser[user] >= perUser {
		return nil, http.StatusTooManyRequests, fmt.Errorf("account %s has %d live feeds open, its limit: close a tab", user, perUser)
	}
	f.byUser[user]++
	f.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.total--
			if f.byUser[user]--; f.byUser[user] <= 0 {
				delete(f.byUser, user)
			}
		})
	}, 0, nil
}

// feedStart is where a feed begins: after the Last-Event-ID the browser
// sends when it reconnects (or ?after=), else after the newest record.
func feedStart(r *http.Request, f Feed) (uint64, error) {
	id := r.Header.Get("Last-Event-ID")
	what := "Last-Event-ID"
	if id == "" {
		id, what = r.URL.Query().Get("after"), "after"
	}
	if id == "" {
		return f.LastArrival()
	}
	n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %.30q: want an arrival number", what, id)
	}
	return n, nil
}

// feedItem is one item as the feed sends it: with the gateway's name and
// the row as the events page prints it.
type feedItem struct {
	Item
	Name string  `json:"name"`
	Show feedRow `json:"show"`
}

// feedRow is an item's row in the feed's language, exactly as the events
// page renders it (labels, Asia/Ho_Chi_Minh time, the clock flag), so the
// page's script only inserts these strings as text and formats nothing
// itself.
type feedRow struct {
	Time string `json:"time"`
	ISO  string `json:"iso"`
	// Unsynced is the clock warning, set when the gateway's clock was not
	// synchronised.
	Unsynced string   `json:"unsynced,omitempty"`
	Kind     string   `json:"kind,omitempty"`
	Test     string   `json:"test,omitempty"` // the installer-test badge
	State    string   `json:"state,omitempty"`
	Attrs    []string `json:"attrs,omitempty"`
	Text     string   `json:"text,omitempty"` // a gap or notice
	Snapshot string   `json:"snapshot,omitempty"`
	Ref      string   `json:"ref,omitempty"` // the row's data-ref, for a snapshot that follows
	// AlarmKey, AlarmText, AlarmTime and AlarmISO are the alarm's line in
	// the list of alarms to review (set for an alarm only); AlarmKey is
	// what POST /api/alarms/ack takes.
	AlarmKey  string `json:"alarm_key,omitempty"`
	AlarmText string `json:"alarm_text,omitempty"`
	AlarmTime string `json:"alarm_time,omitempty"`
	AlarmISO  string `json:"alarm_iso,omitempty"`
}

// feedSnapshot is a snapshot stored after its event: the page puts it
// into the row whose data-ref is Ref.
type feedSnapshot struct {
	Arrival uint64 `json:"arrival"`
	Ref     string `json:"ref"`
	URL     string `json:"url"`
}

// rowRef names an event's row on the events page (its data-ref).
func rowRef(gw, epoch string, seq uint64) string {
	return gw + "/" + epochSeg(epoch) + "/" + strconv.FormatUint(seq, 10)
}

// snapURL is where an event's snapshot is served.
func snapURL(gw, epoch string, seq uint64) string {
	return "/api/events/" + rowRef(gw, epoch, seq) + "/snapshot"
}

// show renders it as the events page does, in the view's language.
func (v *view) show(it Item, names map[string]string) feedRow {
	rw := v.row(it, names)
	f := feedRow{Time: when(v.lang, rw.Time), ISO: iso(rw.Time), Kind: rw.Kind, State: rw.State, Attrs: rw.Attrs,
		Text: rw.Text, Snapshot: rw.SnapURL}
	f.Ref = rw.Ref
	if rw.Unsynced {
		f.Unsynced = "(" + tr(v.lang, "events.unsynced") + ")"
	}
	if it.Event != nil && it.Event.Test {
		f.Test = tr(v.lang, "events.test")
	}
	if it.Alarm {
		f.AlarmKey, f.AlarmText = arrivalKey(it.Arrival), rw.alarmText()
		f.AlarmTime, f.AlarmISO = when(v.lang, it.Stored), iso(it.Stored)
	}
	return f
}

// apiFeed is the live feed: Server-Sent Events of every item the
// principal may see, from the store's arrival index. Each event's id is
// its arrival number, so a browser that reconnects (EventSource sends
// Last-Event-ID) resumes with nothing lost and nothing twice. New records
// come from the reader all feeds share (feedHub), each commit's read once;
// a feed reads the store itself, by its own arrival number, when it starts
// or resumes and when it fell behind that reader's queue. The store never
// waits for a browser; a browser that does not take a batch within the
// write timeout is disconnected (and resumes when it can). Heartbeats carry the position
// reached, so that records the principal may not see are not read again
// after a reconnect, and recheck the login: a feed ends with its session.
func (s *Server) apiFeed(w http.ResponseWriter, r *http.Request, v *view) {
	f := s.o.Feed
	if f == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "no live feed in this console")
		return
	}
	pos, err := feedStart(r, f)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	// The events page's filters (filters.go): a row they do not show is
	// not sent, but an alarm is, as event: alarm, for the pinned list.
	filter, err := parseFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if filter.gateway != "" && !v.allows(filter.gateway) {
		s.fail(w, r, http.StatusNotFound, "no such gateway")
		return
	}
	shows := v.feedFilter(filter)
	var idSent uint64 // the last id: the browser has, to resume from
	release, code, err := s.feeds.take(v.p.name, s.o.FeedsPerUser, s.o.MaxFeeds)
	if err != nil {
		w.Header().Set("Retry-After", "10")
		s.fail(w, r, code, err.Error())
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // nothing more is read; not every writer supports it
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 16<<10)
	send := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(s.o.FeedWriteTimeout)) // the network's clock, not the console's (tests set that)
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	fmt.Fprintf(bw, "retry: 2000\n\n")
	if err := send(); err != nil {
		return
	}
	beat := time.NewTicker(s.o.FeedHeartbeat)
	defer beat.Stop()
	// Subscribe before reading the store: whatever the shared reader
	// reads after this comes in the queue, and whatever it read before is
	// in the store for this feed's own reads.
	sub := s.feeds.hub.subscribe(f, s.log)
	defer s.feeds.hub.unsubscribe(sub)
	names := map[string]string{}
	var dirAt time.Time
	// emit writes the items (shared: read only) this principal may see.
	emit := func(items []Item) error {
		// The directory may have changed (a gateway enrolled, moved to
		// another site): read again at most every feedDirEvery, and at
		// once for a gateway not seen before.
		stale := time.Since(dirAt) >= feedDirEvery
		for _, it := range items {
			if _, ok := names[it.Gateway]; !ok {
				stale = true
			}
		}
		if stale && len(items) > 0 {
			v.ready, dirAt = false, time.Now()
			gws, _ := v.all()
			clear(names)
			for _, g := range gws {
				names[g.ID] = v.gwName(g)
			}
			for _, it := range items {
				if _, ok := names[it.Gateway]; !ok {
					names[it.Gateway] = it.Gateway // not in the directory: once is enough
				}
			}
		}
		for _, it := range items {
			if it.Arrival <= pos || !v.allows(it.Gateway) {
				continue
			}
			event := "item"
			if it.Type != ItemSnapshot && !shows(it) {
				if !it.Alarm {
					continue
				}
				event = "alarm" // not a row of this page, but an alarm to pin
			}
			idSent = it.Arrival
			if it.Type == ItemSnapshot {
				// The event's row is on the page already: its snapshot
				// came in a later commit.
				b, _ := json.Marshal(feedSnapshot{Arrival: it.Arrival, Ref: rowRef(it.Gateway, it.Epoch, it.Seq), URL: snapURL(it.Gateway, it.Epoch, it.Seq)})
				fmt.Fprintf(bw, "id: %d\nevent: snapshot\ndata: %s\n\n", it.Arrival, b)
				continue
			}
			name := cmpOr(names[it.Gateway], it.Gateway)
			b, ok := s.rowJSON.get(it.Arrival, v.lang, name)
			if !ok {
				var err error
				if b, err = json.Marshal(feedItem{Item: it, Name: name, Show: v.show(it, names)}); err != nil {
					return fmt.Errorf("encode item %d: %w", it.Arrival, err)
				}
				s.rowJSON.put(it.Arrival, v.lang, name, b)
			}
			fmt.Fprintf(bw, "id: %d\nevent: %s\ndata: %s\n\n", it.Arrival, event, b)
		}
		return nil
	}
	// own: the feed reads the store itself, by its own arrival number (at
	// the start, after a resume, and when it fell behind the shared
	// reader's queue), until a read finds nothing new.
	own := true
	for {
		wrote := false
		if own {
			items, last, err := f.After(pos, feedBatch)
			if err != nil {
				s.log.Error("live feed: read store", "err", err, "after", pos)
				return
			}
			if last <= pos {
				own = false
				continue
			}
			if err := emit(items); err != nil {
				s.log.Error("live feed", "err", err)
				return
			}
			pos, wrote = last, true
		} else {
			select {
			case <-r.Context().Done():
				return
			case b := <-sub.q:
				// This batch and every one queued behind it, then one write.
				for more := true; more; {
					switch {
					case b.to <= pos: // read already
					case b.from > pos: // some were dropped: read them from the store
						own = true
					default:
						if err := emit(b.items); err != nil {
							s.log.Error("live feed", "err", err)
							return
						}
						pos, wrote = b.to, true
					}
					select {
					case b = <-sub.q:
					default:
						more = false
					}
				}
			case <-sub.lag:
				own = true
			case <-beat.C:
				if _, ok := s.identify(w, r); !ok {
					fmt.Fprintf(bw, "event: logout\ndata: {}\n\n")
					_ = send()
					return
				}
				fmt.Fprintf(bw, "id: %d\n: heartbeat\n\n", pos)
				idSent = pos
				if err := send(); err != nil {
					return
				}
			}
		}
		if wrote {
			if idSent < pos {
				// Records read but not sent (filtered, or of gateways the
				// principal may not see): the position passes them, so a
				// browser reconnecting does not have them read again.
				fmt.Fprintf(bw, "id: %d\n: position\n\n", pos)
				idSent = pos
			}
			if err := send(); err != nil {
				s.log.Info("live feed: browser too slow or gone; disconnected", "user", v.p.name, "err", err)
				return
			}
		}
	}
}
