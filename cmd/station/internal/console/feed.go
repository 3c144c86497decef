package console

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// feedPage is how many records the feed reads at a time.
const feedPage = 512

// feed prints the store's records after Config.From as they are
// committed, until ctx ends.
func (c *Console) feed(ctx context.Context) {
	cur := c.cfg.From
	retry := time.Second
	for {
		changed := c.cfg.Store.Changed()
		recs, err := c.cfg.Store.After(cur, feedPage)
		if err != nil {
			c.log.Error("reading the store failed; retrying", "after", cur, "error", err, "retry_in", retry)
			t := time.NewTimer(retry)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			retry = min(2*retry, time.Minute)
			continue
		}
		retry = time.Second
		for _, r := range recs {
			if line := c.format(r); line != "" {
				c.println(line)
			}
			cur = r.Arrival
		}
		if len(recs) == feedPage {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// format is the console line of one record of the store.
func (c *Console) format(r store.Record) string {
	loc := c.cfg.Location
	switch r.Type {
	case store.RecordEvent:
		var ev wire.Event
		if err := json.Unmarshal(r.Event, &ev); err != nil {
			c.log.Error("stored event unreadable", "gateway", r.Gateway, "seq", r.Seq, "error", err)
			return ""
		}
		return FormatEvent(r.Gateway, ev, r.Late, loc)
	case store.RecordGap:
		if r.Gap == nil {
			return ""
		}
		return FormatGap(*r.Gap, r.Later, loc)
	case store.RecordSnapshot:
		return fmt.Sprintf("%s %-16s snapshot for seq %d (%d bytes)%s", r.Time.In(loc).Format(timeFormat), r.Gateway, r.Seq, r.Bytes, epochSuffix(r.Epoch))
	case store.RecordNotice:
		n := r.Notice
		switch {
		case n == nil:
		case n.Kind == store.NoticeStorageReplaced:
			return fmt.Sprintf("%s %-16s STORAGE REPLACED: epoch %q ended at seq %d, now epoch %q (seqs start again)",
				n.Time.In(loc).Format(timeFormat), n.Gateway, n.OldEpoch, n.OldLastSeq, n.NewEpoch)
		case n.Kind == store.NoticeEpochStarted:
			return fmt.Sprintf("%s %-16s epoch %q started after seq %d (seqs go on)",
				n.Time.In(loc).Format(timeFormat), n.Gateway, n.NewEpoch, n.OldLastSeq)
		}
	}
	return ""
}

func epochSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " epoch=" + printable(e)
}

// ackQueue acknowledges messages from an external broker in the order
// they came, once the store has answered each: MQTT wants PUBACKs in
// order, and the store's writer must not wait on paho.
type ackQueue struct {
	mu    sync.Mutex
	queue []*ackEntry
	wake  chan struct{}
}

type ackEntry struct {
	m        paho.Message
	answered bool
	ack      bool
}

func newAckQueue() *ackQueue { return &ackQueue{wake: make(chan struct{}, 1)} }

func (q *ackQueue) add(m paho.Message) *ackEntry {
	e := &ackEntry{m: m}
	q.mu.Lock()
	q.queue = append(q.queue, e)
	q.mu.Unlock()
	return e
}

// answer records the store's answer; ack false leaves the message
// unacknowledged (the broker sends it again after a reconnect).
func (q *ackQueue) answer(e *ackEntry, ack bool) {
	q.mu.Lock()
	e.answered, e.ack = true, ack
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run sends the due acknowledgements until ctx ends.
func (q *ackQueue) run(ctx context.Context) {
	for {
		select {
		case <-q.wake:
		case <-ctx.Done():
			return
		}
		for {
			q.mu.Lock()
			n := 0
			for n < len(q.queue) && q.queue[n].answered {
				n++
			}
			due := q.queue[:n:n]
			q.queue = q.queue[n:]
			q.mu.Unlock()
			if n == 0 {
				break
			}
			for _, e := range due {
				if e.ack {
					e.m.Ack()
				}
			}
		}
	}
}
