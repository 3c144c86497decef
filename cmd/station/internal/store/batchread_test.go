package store

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/antt-gateway/antt/uplink/wire"
)

// ReadEvents gives, key by key, what Event (when Body) and SnapshotInfo
// give: for events of two epochs and two gateways, with and without a
// snapshot, a snapshot without its event, events missing (a gap, an
// unknown gateway or epoch) and events migrated from the previous
// layout; a snapshot's damaged info is an error naming the event.
func TestReadEventsSame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	writeOldLayout(t, path) // gateway "a", epoch "": events 1, 2, 5
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, seq := range []uint64{1, 2, 4} {
		mustAdd(t, s, "b", wire.TopicEvent, epochEv("b", "e1", seq, wire.KindMotion))
	}
	mustAdd(t, s, "b", wire.TopicSnapshot+"/2", []byte("\xff\xd8two"))
	mustAdd(t, s, "b", wire.TopicSnapshot+"/9", []byte("\xff\xd8nine")) // before its event
	for _, seq := range []uint64{1, 2} {
		mustAdd(t, s, "b", wire.TopicEvent, epochEv("b", "e2", seq, wire.KindBoot))
	}
	mustAdd(t, s, "b", wire.TopicSnapshot+"/1", []byte("\xff\xd8one, e2"))
	var keys []EventKey
	for _, gw := range []string{"a", "b", "c"} {
		for _, epoch := range []string{"", "e1", "e2", "e3"} {
			for seq := uint64(1); seq <= 10; seq++ {
				keys = append(keys, EventKey{Gateway: gw, Epoch: epoch, Seq: seq, Body: seq%2 != 0})
			}
		}
	}
	got, err := s.ReadEvents(keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("%d answers to %d keys", len(got), len(keys))
	}
	var bodies, snaps int
	for i, k := range keys {
		var want EventRead
		if k.Body {
			if want.Body, _, err = s.Event(k.Gateway, k.Epoch, k.Seq); err != nil {
				t.Fatal(err)
			}
		}
		if want.Snapshot, want.HasSnapshot, err = s.SnapshotInfo(k.Gateway, k.Epoch, k.Seq); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("%+v: ReadEvents %+v (body %q), Event and SnapshotInfo %+v (body %q)", k, got[i], got[i].Body, want, want.Body)
		}
		if want.Body != nil {
			bodies++
		}
		if want.HasSnapshot {
			snaps++
		}
	}
	// Bodies asked of odd seqs: a's 1 and 5 (previous layout), b's 1 in e1 and e2; 3 snapshots.
	if bodies != 4 || snaps != 3 {
		t.Fatalf("%d bodies and %d snapshots read, want 4 and 3: the comparison misses some", bodies, snaps)
	}
	if got, err := s.ReadEvents(nil); err != nil || len(got) != 0 {
		t.Fatalf("no keys: %v, %v", got, err)
	}

	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktSnapMeta).Put(snapKey("b", "e1", 2), []byte("{not json"))
	}); err != nil {
		t.Fatal(err)
	}
	_, err = s.ReadEvents([]EventKey{{Gateway: "b", Epoch: "e1", Seq: 1}, {Gateway: "b", Epoch: "e1", Seq: 2}})
	if err == nil || !strings.Contains(err.Error(), "b/2") || !strings.Contains(err.Error(), strconv.Quote("e1")) {
		t.Fatalf("damaged snapshot info: error %v, want one naming b/2 of epoch \"e1\"", err)
	}
}

// AfterBriefInto reads the same records as AfterBrief, page after page, in
// one Page's memory: events of two gateways with their lines, a gap, its
// explanation and a snapshot, in pages smaller and larger than what is left.
func TestAfterBriefIntoReusesPage(t *testing.T) {
	s := openWith(t, Options{})
	for seq := uint64(1); seq <= 9; seq++ {
		if seq == 4 {
			continue // a gap, explained by seq 10's overflow below
		}
		mustAdd(t, s, "a", "event", epochEv("a", "0f3a9c2e4b5d6a7e", seq, wire.KindMotion))
		mustAdd(t, s, "b", "event", epochEv("b", "", seq, wire.KindContact))
	}
	ov, _ := json.Marshal(wire.Event{Seq: 10, ID: "a/10", Epoch: "0f3a9c2e4b5d6a7e", Kind: wire.KindOutboxOverflow,
		Attrs: map[string]any{"dropped": 1, "first_seq": 4, "last_seq": 4}})
	mustAdd(t, s, "a", "event", ov)
	mustAdd(t, s, "a", "snapshot/10", []byte("jpeg10"))
	last, err := s.LastArrival()
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{3, 5, 64} {
		var page Page
		var first *Record
		for n := uint64(0); n < last; {
			want, err := s.AfterBrief(n, limit)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AfterBriefInto(&page, n, limit); err != nil {
				t.Fatal(err)
			}
			// DeepEqual compares the Lines pointed to, not the pointers.
			if len(want) == 0 || !reflect.DeepEqual(page.Records, want) {
				t.Fatalf("limit %d after %d: AfterBriefInto\n %+v\nAfterBrief\n %+v", limit, n, page.Records, want)
			}
			if first == nil {
				first = &page.Records[0]
			} else if &page.Records[0] != first {
				t.Fatalf("limit %d after %d: the page was allocated again", limit, n)
			}
			n = want[len(want)-1].Arrival
		}
	}
}
