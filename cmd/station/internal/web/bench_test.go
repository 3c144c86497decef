package web

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// BenchmarkEventsPage reads the newest page of 50 events from a store of
// 40 gateways at 40 sites: for an unlimited account, and for an officer
// limited to one site (who reads up to 20,000 records to fill it).
func BenchmarkEventsPage(b *testing.B) {
	const gateways, perGateway = 40, 500
	st, err := store.Open(filepath.Join(b.TempDir(), "events.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	dir := Directory{}
	var wg sync.WaitGroup
	for g := range gateways {
		id := fmt.Sprintf("gw-%02d", g)
		dir[id] = DirEntry{ID: id, Name: id, Site: fmt.Sprintf("site-%02d", g)}
		wg.Go(func() {
			for seq := uint64(1); seq <= perGateway; seq++ {
				p, _ := json.Marshal(wire.Event{Seq: seq, ID: wire.EventID(id, seq), Kind: "motion", Source: "pir",
					State: "active", Time: time.Now(), Boot: "b"})
				if _, err := st.Add(id, wire.TopicEvent, p); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	db, _ := accounts.Open(filepath.Join(b.TempDir(), accounts.FileName), accounts.Options{Params: fastParams})
	data := &StoreData{Store: st, Dir: dir}
	for _, c := range []struct {
		name string
		lim  accounts.Limits
	}{{"all", accounts.Limits{}}, {"one-site", accounts.Limits{Sites: []string{"site-07"}}}} {
		b.Run(c.name, func(b *testing.B) {
			s := &Server{o: Options{Gateways: data, Events: data, Accounts: db}}
			for b.Loop() {
				v := &view{s: s, p: &principal{role: accounts.Viewer, limits: c.lim}}
				items, _, err := v.events(0, 50, "")
				if err != nil || len(items) != 50 {
					b.Fatalf("%d items, %v", len(items), err)
				}
			}
		})
	}
}
