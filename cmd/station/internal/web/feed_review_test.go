package web

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// countingReviews counts the full reads of the acknowledgements.
type countingReviews struct {
	Reviews
	reads atomic.Int64
}

func (c *countingReviews) Acks() (map[string]store.Ack, error) {
	c.reads.Add(1)
	return c.Reviews.Acks()
}

// A live feed with a state or text filter reads every acknowledgement
// (a station's year of them: some 20,000, tens of milliseconds of CPU)
// once, for the records it resumes from, not again every second while
// events come: a new record has no acknowledgement yet. Events arrive
// here for more than feedDirEvery, so a feed that read them again on each
// directory refresh would read them several times.
func TestReviewFeedReadsAcksOnce(t *testing.T) {
	var cr *countingReviews
	f := newFixture(t, func(o *Options) {
		o.FeedHeartbeat = time.Hour
		cr = &countingReviews{Reviews: o.Reviews}
		o.Reviews = cr
	})
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	feed := openFilteredFeed(t, srv.URL, f.login("an"), "state=review&q=cong", "")
	start := time.Now()
	for n := 0; n < 3 || time.Since(start) < 3*feedDirEvery; n++ {
		f.storeEvent(gwGate, wire.Event{Kind: "tamper", Source: "hop-dien", State: "active", ClockSynced: true})
		last := lastArrival(t, f)
		feed.until(t, func(m sseMsg) bool { return m.id == last })
	}
	if n := cr.reads.Load(); n > 1 {
		t.Errorf("the feed read every acknowledgement %d times in %v; want once", n, time.Since(start).Round(time.Millisecond))
	}
}
