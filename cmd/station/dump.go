package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// runDump writes the store as JSON lines, or one snapshot's JPEG.
func runDump(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("station dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "./station-data", "data directory of the stopped station")
	snap := fs.String("snapshot", "", "write the JPEG of GATEWAY/EPOCH/SEQ to stdout (EPOCH empty for an older gateway: G//SEQ)")
	wait := fs.Duration("wait", store.DefaultLockTimeout, "how long to wait for the store's lock")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: station dump -data DIR [-snapshot GATEWAY/EPOCH/SEQ]  (the station must be stopped)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	st, err := store.Open(filepath.Join(*dataDir, storeFile), store.Options{ReadOnly: true, LockTimeout: *wait})
	if err != nil {
		return err
	}
	defer st.Close()
	if *snap != "" {
		gw, epoch, seq, err := parseSnapshotRef(*snap)
		if err != nil {
			return err
		}
		jpeg, ok, err := st.Snapshot(gw, epoch, seq)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no snapshot %s in the store (never received, or deleted by retention)", *snap)
		}
		_, err = stdout.Write(jpeg)
		return err
	}
	return writeDump(st, stdout)
}

// parseSnapshotRef reads GATEWAY/EPOCH/SEQ.
func parseSnapshotRef(s string) (gw, epoch string, seq uint64, err error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return "", "", 0, fmt.Errorf("-snapshot %q: want GATEWAY/EPOCH/SEQ", s)
	}
	seq, err = strconv.ParseUint(parts[2], 10, 64)
	switch {
	case !wire.ValidID(parts[0]):
		return "", "", 0, fmt.Errorf("-snapshot %q: bad gateway id %q", s, parts[0])
	case parts[1] != "" && !wire.ValidEpoch(parts[1]):
		return "", "", 0, fmt.Errorf("-snapshot %q: bad epoch %q", s, parts[1])
	case err != nil || seq == 0:
		return "", "", 0, fmt.Errorf("-snapshot %q: bad seq %q", s, parts[2])
	}
	return parts[0], parts[1], seq, nil
}

// Lines of "station dump".
type (
	dumpedSnapshot struct {
		Bytes  int    `json:"bytes"`
		SHA256 string `json:"sha256"`
	}
	dumpedEvent struct {
		Type     string          `json:"type"`
		Gateway  string          `json:"gateway"`
		Epoch    string          `json:"epoch"`
		Seq      uint64          `json:"seq"`
		Arrival  uint64          `json:"arrival"`
		Event    json.RawMessage `json:"event"`
		Snapshot *dumpedSnapshot `json:"snapshot,omitempty"`
	}
	dumpedNotice struct {
		Type    string `json:"type"`
		Arrival uint64 `json:"arrival"`
		store.Notice
	}
	dumpedGap struct {
		Type      string    `json:"type"`
		Gateway   string    `json:"gateway"`
		Epoch     string    `json:"epoch"`
		First     uint64    `json:"first"`
		Last      uint64    `json:"last"`
		Explained bool      `json:"explained"`
		Reason    string    `json:"reason,omitempty"`
		Opened    time.Time `json:"opened"`
	}
	dumpedCounters struct {
		Type        string `json:"type"`
		Gateways    int    `json:"gateways"`
		LastArrival uint64 `json:"last_arrival"`
		store.Counters
	}
)

// writeDump writes events and notices in arrival order, then every gap, then
// the counters, one JSON object a line.
func writeDump(st store.Reader, w io.Writer) error {
	enc := json.NewEncoder(w)
	var cur uint64
	for {
		recs, err := st.After(cur, 1000)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			cur = r.Arrival
			var line any
			switch r.Type {
			case store.RecordEvent:
				e := dumpedEvent{Type: "event", Gateway: r.Gateway, Epoch: r.Epoch, Seq: r.Seq, Arrival: r.Arrival, Event: r.Event}
				info, ok, err := st.SnapshotInfo(r.Gateway, r.Epoch, r.Seq)
				if err != nil {
					return err
				}
				if ok {
					e.Snapshot = &dumpedSnapshot{Bytes: info.Bytes, SHA256: info.SHA256}
				}
				if e.Event == nil {
					return fmt.Errorf("arrival %d: event %s (epoch %q) missing from the store", r.Arrival, wire.EventID(r.Gateway, r.Seq), r.Epoch)
				}
				line = e
			case store.RecordNotice:
				if r.Notice == nil {
					continue
				}
				line = dumpedNotice{Type: "notice", Arrival: r.Arrival, Notice: *r.Notice}
			default:
				continue // gaps are listed as they stand at the end; snapshots with their event
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
	}
	gws, err := st.Gateways()
	if err != nil {
		return err
	}
	for _, gw := range gws {
		gaps, err := st.Gaps(gw)
		if err != nil {
			return err
		}
		for _, g := range gaps {
			if err := enc.Encode(dumpedGap{Type: "gap", Gateway: g.Gateway, Epoch: g.Epoch, First: g.First, Last: g.Last,
				Explained: g.Explained, Reason: g.Reason, Opened: g.Opened}); err != nil {
				return err
			}
		}
	}
	if err := dumpQuarantine(st, enc); err != nil {
		return err
	}
	c, err := st.Counters("")
	if err != nil {
		return err
	}
	last, err := st.LastArrival()
	if err != nil {
		return err
	}
	return enc.Encode(dumpedCounters{Type: "counters", Gateways: len(gws), LastArrival: last, Counters: c})
}

// dumpQuarantine writes one {"type":"quarantine",...} line for each
// payload the store refused as invalid and kept (store.Quarantined).
func dumpQuarantine(st store.Reader, enc *json.Encoder) error {
	q, ok := st.(interface {
		Quarantine(after uint64, limit int) ([]store.Quarantined, error)
	})
	if !ok {
		return nil
	}
	var after uint64
	for {
		qs, err := q.Quarantine(after, 1000)
		if err != nil || len(qs) == 0 {
			return err
		}
		for _, e := range qs {
			after = e.N
			if err := enc.Encode(struct {
				Type string `json:"type"`
				store.Quarantined
			}{"quarantine", e}); err != nil {
				return err
			}
		}
	}
}
