package web

import (
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
)

// Outages is where the console reads the gateways' and cameras' offline
// spans (the sites page's timeline, GET /api/outages). StoreData has it
// when its store keeps them (*store.Store does, durably).
type Outages interface {
	// Outages returns, per gateway id, every outage that lasted into
	// [since, now], oldest first.
	Outages(since time.Time) (map[string][]store.Outage, error)
}

var _ Outages = (*StoreData)(nil)

// Outages implements Outages; a store that keeps none has none (a store
// keeps them by implementing Outages too, as *store.Store does).
func (d *StoreData) Outages(since time.Time) (map[string][]store.Outage, error) {
	if os, ok := d.Store.(Outages); ok {
		return os.Outages(since)
	}
	return map[string][]store.Outage{}, nil
}

// openSince moves back each offline gateway's OfflineSince to the start
// of its outage still open in the store: after a station restart the
// retained will arrives again, but the gateway went offline before. A
// store without outages, or an error reading them, leaves the times of
// the status messages.
func (d *StoreData) openSince(byID map[string]*Gateway) {
	os, ok := d.Store.(interface {
		OpenOutages() (map[string]store.Outage, error)
	})
	if !ok {
		return
	}
	open, err := os.OpenOutages()
	if err != nil {
		return
	}
	for id, o := range open {
		if g := byID[id]; g != nil && !g.Online && !g.OfflineSince.IsZero() && o.Start.Before(g.OfflineSince) {
			g.OfflineSince = o.Start
		}
	}
}
