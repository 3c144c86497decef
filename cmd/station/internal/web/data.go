package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Gateway is one gateway as the console shows it.
type Gateway struct {
	ID string `json:"id"`
	// Name is what people call it ("Cổng khu dân cư 3"); the id when the
	// directory does not name it.
	Name string `json:"name"`
	// Site is the site id ("chi-dam"), "" when the directory does not say:
	// then only accounts without limits, or limited to this gateway, see it.
	Site string `json:"site,omitempty"`
	// SiteName is what people call the site ("Xã Chí Đám").
	SiteName string `json:"site_name,omitempty"`
	// Kind is "gate" or "school" ("" when not known).
	Kind string `json:"kind,omitempty"`
	// Known is false for a gateway the station has not heard from since it
	// started (no status, telemetry or event): its Online is then unknown.
	Known    bool      `json:"known"`
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	// OfflineSince is when the status that says offline (a will or a
	// clean stop) arrived; zero while online.
	OfflineSince time.Time `json:"offline_since,omitzero"`
	Version      string    `json:"version,omitempty"`
	// Outbox is the backlog the gateway reported in its last telemetry.
	Outbox   *wire.OutboxStats `json:"outbox,omitempty"`
	DiskFree int64             `json:"disk_free,omitempty"`
	CPUTempC *float64          `json:"cpu_temp_c,omitempty"`
	Cameras  map[string]string `json:"cameras,omitempty"`

	// OldestBuffered is when the oldest event still in its outbox was
	// captured, by the station's clock: the last telemetry's arrival less
	// its outbox.oldest_s. Zero when that telemetry's outbox was empty.
	OldestBuffered time.Time `json:"oldest_buffered,omitzero"`

	// Mode is the alarm mode (away, disarmed, …) from the last telemetry
	// or a live mode event stored after it;
	// "" for a gateway without an alarm.
	Mode string `json:"mode,omitempty"`
	// Enrolled is when it was enrolled from the page (zero when not known);
	// Removed when it was removed there: a removed gateway is shown with
	// its history but raises no offline alarm (enrol.go).
	Enrolled time.Time `json:"enrolled,omitzero"`
	Removed  time.Time `json:"removed,omitzero"`
}

// Gateways is where the console learns which gateways exist and how they
// are. main.go gives the store's (StoreData); a later enrolment issue or a
// clustered store gives another.
type Gateways interface {
	Gateways() ([]Gateway, error)
}

// Item types of an events page.
const (
	ItemEvent  = store.RecordEvent
	ItemGap    = store.RecordGap
	ItemNotice = store.RecordNotice
	// ItemSnapshot is only in the live feed (Feed.After): a snapshot
	// stored after its event.
	ItemSnapshot = store.RecordSnapshot
)

// Item is one row of the events page: an event, a gap (events lost) or a
// notice (a gateway's storage replaced), as the store recorded them.
type Item struct {
	Arrival uint64    `json:"arrival"`
	Type    string    `json:"type"`
	Gateway string    `json:"gateway"`
	Epoch   string    `json:"epoch,omitempty"`
	Stored  time.Time `json:"stored"`
	// Seq is the event's, for ItemSnapshot.
	Seq uint64 `json:"seq,omitempty"`
	// Event is set for ItemEvent; Snapshot when a snapshot of it is kept.
	Event    *wire.Event `json:"event,omitempty"`
	Snapshot bool        `json:"snapshot,omitempty"`
	// Gap is set for ItemGap; Later when it was seen before and is now
	// explained.
	Gap    *store.Gap    `json:"gap,omitempty"`
	Later  bool          `json:"later,omitempty"`
	Notice *store.Notice `json:"notice,omitempty"`
	// Cause is the gap's reason in parts, with the explaining event's time
	// (notices.go); Gap.Reason keeps the store's text.
	Cause *GapCause `json:"cause,omitempty"`
	// Alarm marks an alarm to review (IsAlarm).
	Alarm bool `json:"alarm,omitempty"`
}

// Events is what the console reads events from.
type Events interface {
	// Page returns up to limit items stored before arrival number before
	// (0: from the newest), newest first, of the gateways keep accepts.
	// next is what to pass as before for the following page; 0 when there
	// is nothing older.
	Page(before uint64, limit int, keep func(gateway string) bool) (items []Item, next uint64, err error)
	// Query is Page with the filters of Query (a time span, kinds,
	// states, a text).
	Query(q Query) (items []Item, next uint64, err error)
	// Snapshot returns the JPEG of event (gateway, epoch, seq), if kept.
	Snapshot(gateway, epoch string, seq uint64) ([]byte, bool, error)
}

// StoreReader is what StoreData needs of the station's store: its Reader
// and the gateways' state in memory (*store.Store has both).
type StoreReader interface {
	store.Reader
	States() []store.GatewayState
}

// StoreData serves Gateways and Events from the station's store and a
// directory of names and sites.
type StoreData struct {
	Store StoreReader
	Dir   Directory
	// MaxScan bounds the records one Page reads (default 20,000): an
	// account limited to one quiet site must not make one request read
	// the whole store. A page cut short returns fewer items and a next.
	MaxScan int

	// recent holds the items the live feeds read last, decoded once for
	// all of them (feed.go).
	recent itemCache
}

var (
	_ Gateways = (*StoreData)(nil)
	_ Events   = (*StoreData)(nil)
)

// Gateways implements Gateways: every gateway the directory names, the
// store has events of, or that has a state.
func (d *StoreData) Gateways() ([]Gateway, error) {
	ids, err := d.Store.Gateways()
	if err != nil {
		return nil, err
	}
	byID := map[string]*Gateway{}
	add := func(id string) *Gateway {
		if g, ok := byID[id]; ok {
			return g
		}
		g := &Gateway{ID: id, Name: id}
		if e, ok := d.Dir[id]; ok {
			g.Site, g.SiteName, g.Kind, g.Enrolled, g.Removed = e.Site, e.SiteName, e.Kind, e.Enrolled, e.Removed
			if e.Name != "" {
				g.Name = e.Name
			}
		}
		byID[id] = g
		return g
	}
	for id := range d.Dir {
		add(id)
	}
	for _, id := range ids {
		add(id)
	}
	for _, st := range d.Store.States() {
		g := add(st.ID)
		g.Known = st.Status != nil || st.Telemetry != nil || !st.LastEventAt.IsZero()
		g.Online = st.Online()
		if st.Status != nil && !g.Online {
			g.OfflineSince = st.StatusAt
		}
		if st.Status != nil {
			g.Version = st.Status.Version
		}
		if t := st.Telemetry; t != nil {
			g.Outbox, g.DiskFree, g.CPUTempC, g.Cameras, g.Mode = &t.Outbox, t.DiskFree, t.CPUTempC, t.Cameras, t.Alarm
			if t.Outbox.Depth > 0 {
				g.OldestBuffered = st.TelemetryAt.Add(-time.Duration(t.Outbox.OldestS * float64(time.Second)))
			}
		}
		if st.Mode != "" && st.ModeAt.After(st.TelemetryAt) {
			g.Mode = st.Mode // a live mode event newer than the telemetry
		}
		for _, at := range []time.Time{st.StatusAt, st.TelemetryAt, st.LastEventAt} {
			if at.After(g.LastSeen) {
				g.LastSeen = at
			}
		}
	}
	d.openSince(byID) // outages.go
	out := make([]Gateway, 0, len(byID))
	for _, g := range byID {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Gateway) int {
		return strings.Compare(a.Site+"\x00"+a.Name+"\x00"+a.ID, b.Site+"\x00"+b.Name+"\x00"+b.ID)
	})
	return out, nil
}

// Page implements Events (Query without a time span).
func (d *StoreData) Page(before uint64, limit int, keep func(string) bool) ([]Item, uint64, error) {
	return d.Query(Query{Before: before, Limit: limit, Keep: keep})
}

func (d *StoreData) item(r store.Record) (Item, error) {
	if r.Type != store.RecordEvent {
		return d.itemWith(r, false), nil
	}
	_, ok, err := d.Store.SnapshotInfo(r.Gateway, r.Epoch, r.Seq)
	if err != nil {
		return Item{}, err
	}
	return d.itemWith(r, ok), nil
}

// eventsReader is the store's read of many events' bodies and snapshot
// infos in one transaction (store.ReadEvents); a store without it is read
// one event at a time.
type eventsReader interface {
	ReadEvents(keys []store.EventKey) ([]store.EventRead, error)
}

// items is item of each of recs, the bodies the records lack and the
// snapshot infos read in one transaction where the store can.
func (d *StoreData) items(recs []store.Record) ([]Item, error) {
	if len(recs) == 0 {
		return nil, nil // as a page without items always was
	}
	out := make([]Item, 0, len(recs))
	er, ok := d.Store.(eventsReader)
	if !ok {
		for _, r := range recs {
			if err := d.body(&r); err != nil {
				return nil, err
			}
			it, err := d.item(r)
			if err != nil {
				return nil, err
			}
			out = append(out, it)
		}
		return out, nil
	}
	var keys []store.EventKey
	for _, r := range recs {
		if r.Type == store.RecordEvent {
			keys = append(keys, store.EventKey{Gateway: r.Gateway, Epoch: r.Epoch, Seq: r.Seq, Body: r.Event == nil})
		}
	}
	reads, err := er.ReadEvents(keys)
	if err != nil {
		return nil, err
	}
	k := 0
	for _, r := range recs {
		snap := false
		if r.Type == store.RecordEvent {
			if keys[k].Body {
				r.Event = reads[k].Body
			}
			snap = reads[k].HasSnapshot
			k++
		}
		out = append(out, d.itemWith(r, snap))
	}
	return out, nil
}

// itemWith is r's item, snapshot saying whether a snapshot of its event
// is kept.
func (d *StoreData) itemWith(r store.Record, snapshot bool) Item {
	it := Item{Arrival: r.Arrival, Type: r.Type, Gateway: r.Gateway, Epoch: r.Epoch, Stored: r.Time,
		Gap: r.Gap, Later: r.Later, Notice: r.Notice}
	if r.Type != store.RecordEvent {
		it.Cause = d.causeOf(r) // notices.go
		it.Alarm = IsAlarm(it)
		return it
	}
	var ev wire.Event
	if err := json.Unmarshal(r.Event, &ev); err != nil {
		// Stored events were checked on the way in; one that does not parse
		// now is shown as what it is rather than hiding the page.
		ev = wire.Event{Seq: r.Seq, ID: wire.EventID(r.Gateway, r.Seq), Kind: "?", Attrs: map[string]any{"error": err.Error()}}
	}
	it.Event = &ev
	it.Snapshot = snapshot
	it.Alarm = IsAlarm(it)
	return it
}

// Snapshot implements Events.
func (d *StoreData) Snapshot(gw, epoch string, seq uint64) ([]byte, bool, error) {
	return d.Store.Snapshot(gw, epoch, seq)
}

// DirEntry names one gateway: what people call it, its site and its kind.
type DirEntry struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Site     string `json:"site"`
	SiteName string `json:"site_name,omitempty"`
	Kind     string `json:"kind,omitempty"`
	// Enrolled and Removed are written by enrolment (enrol.Gateway).
	Enrolled time.Time `json:"enrolled,omitzero"`
	Removed  time.Time `json:"removed,omitzero"`
}

// Directory maps gateway ids to their names and sites.
type Directory map[string]DirEntry

// DirectoryFile is the directory's name in the data directory: a JSON
// array of DirEntry. Until enrolment from the page (a later phase) writes
// it, an admin writes it by hand; without it gateways are shown by id and
// belong to no site.
const DirectoryFile = "gateways.json"

// LoadDirectory reads a directory file; a missing file is an empty
// directory.
func LoadDirectory(path string) (Directory, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Directory{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read gateway directory: %w", err)
	}
	var es []DirEntry
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&es); err != nil {
		return nil, fmt.Errorf("gateway directory %s: %w", path, err)
	}
	d := Directory{}
	for i, e := range es {
		if !wire.ValidID(e.ID) {
			return nil, fmt.Errorf("gateway directory %s: entry %d: id %q: want [a-z0-9][a-z0-9-]{0,62}", path, i+1, e.ID)
		}
		if e.Site != "" && !wire.ValidID(e.Site) {
			return nil, fmt.Errorf("gateway directory %s: gateway %s: site %q: want [a-z0-9][a-z0-9-]{0,62}", path, e.ID, e.Site)
		}
		if e.Kind != "" && e.Kind != "gate" && e.Kind != "school" {
			return nil, fmt.Errorf("gateway directory %s: gateway %s: kind %q: want gate or school", path, e.ID, e.Kind)
		}
		if _, dup := d[e.ID]; dup {
			return nil, fmt.Errorf("gateway directory %s: gateway %s listed twice", path, e.ID)
		}
		d[e.ID] = e
	}
	return d, nil
}
