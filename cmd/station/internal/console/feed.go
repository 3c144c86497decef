package console

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
)

// feedPage is how many records the feed reads at a time.
const feedPage = 512

// maxFeedBuf is the largest page buffer the feed keeps between pages.
const maxFeedBuf = 1 << 20

// lineEvent is what an event's console line shows: decoding only these
// fields (attrs are skipped, not built into a map) is most of what makes
// the feed cheap.
type lineEvent struct {
	Seq         uint64    `json:"seq"`
	Epoch       string    `json:"epoch"`
	Kind        string    `json:"kind"`
	Source      string    `json:"source"`
	State       string    `json:"state"`
	Time        time.Time `json:"time"`
	ClockSynced bool      `json:"clock_synced"`
	Test        bool      `json:"test"`
}

// pageReader is implemented by a store whose arrival records carry each
// event's line (store.Store.AfterBriefInto): the feed then never reads or
// decodes the events themselves, and reads every page into the same
// memory.
type pageReader interface {
	AfterBriefInto(p *store.Page, n uint64, limit int) error
}

// feed prints the store's records after Config.From as they are
// committed, until ctx ends.
func (c *Console) feed(ctx context.Context) {
	cur := c.cfg.From
	retry := time.Second
	var buf []byte
	var ev lineEvent
	after := c.cfg.Store.After
	if pr, ok := c.cfg.Store.(pageReader); ok {
		var page store.Page
		after = func(n uint64, limit int) ([]store.Record, error) {
			err := pr.AfterBriefInto(&page, n, limit)
			return page.Records, err
		}
	}
	for {
		changed := c.cfg.Store.Changed()
		recs, err := after(cur, feedPage)
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
		// One write per page: a draining commune is thousands of lines a
		// second, and a write each would cost as much as storing them.
		buf = buf[:0]
		for _, r := range recs {
			buf = c.appendRecord(buf, r, &ev)
			cur = r.Arrival
		}
		c.write(buf)
		if cap(buf) > maxFeedBuf {
			buf = nil // one page of huge lines is not kept
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

// appendRecord appends the console line of one record of the store, and
// its newline, to b; ev is reused from record to record.
func (c *Console) appendRecord(b []byte, r store.Record, ev *lineEvent) []byte {
	loc := c.cfg.Location
	switch r.Type {
	case store.RecordEvent:
		if l := r.Line; l != nil {
			// The record carries the line: the event is not decoded again.
			*ev = lineEvent{Seq: r.Seq, Epoch: r.Epoch, Kind: l.Kind, Source: l.Source, State: l.State,
				Time: l.Time, ClockSynced: l.ClockSynced, Test: l.Test}
			return append(appendEvent(b, r.Gateway, ev, r.Late, loc), '\n')
		}
		*ev = lineEvent{}
		if err := json.Unmarshal(r.Event, ev); err != nil {
			c.log.Error("stored event unreadable", "gateway", r.Gateway, "seq", r.Seq, "error", err)
			return b
		}
		return append(appendEvent(b, r.Gateway, ev, r.Late, loc), '\n')
	case store.RecordGap:
		if r.Gap == nil {
			return b
		}
		return append(append(b, FormatGap(*r.Gap, r.Later, loc)...), '\n')
	case store.RecordSnapshot:
		return fmt.Appendf(b, "%s %-16s snapshot for seq %d (%d bytes)%s\n", r.Time.In(loc).Format(timeFormat), r.Gateway, r.Seq, r.Bytes, epochSuffix(r.Epoch))
	case store.RecordNotice:
		n := r.Notice
		switch {
		case n == nil:
		case n.Kind == store.NoticeStorageReplaced:
			return fmt.Appendf(b, "%s %-16s STORAGE REPLACED: epoch %q ended at seq %d, now epoch %q (seqs start again)\n",
				n.Time.In(loc).Format(timeFormat), n.Gateway, n.OldEpoch, n.OldLastSeq, n.NewEpoch)
		case n.Kind == store.NoticeEpochStarted:
			return fmt.Appendf(b, "%s %-16s epoch %q started after seq %d (seqs go on)\n",
				n.Time.In(loc).Format(timeFormat), n.Gateway, n.NewEpoch, n.OldLastSeq)
		}
	}
	return b
}

// appendEvent appends the line FormatEvent describes, without fmt: the
// feed prints one per stored event.
func appendEvent(b []byte, gw string, ev *lineEvent, late bool, loc *time.Location) []byte {
	b = ev.Time.In(loc).AppendFormat(b, timeFormat)
	if !ev.ClockSynced {
		b = append(b, '?')
	}
	b = append(b, ' ')
	b = appendPadded(b, gw, 16)
	b = append(b, " #"...)
	n := len(b)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = appendSpaces(b, 6-(len(b)-n))
	b = append(b, ' ')
	b = appendPadded(b, printable(ev.Kind), 15)
	if ev.Source != "" {
		b = append(append(b, " source="...), printable(ev.Source)...)
	}
	if ev.State != "" {
		b = append(append(b, " state="...), printable(ev.State)...)
	}
	if ev.Test {
		b = append(b, " TEST"...)
	}
	if ev.Epoch != "" {
		b = append(append(b, " epoch="...), printable(ev.Epoch)...)
	}
	if late {
		b = append(b, " (late)"...)
	}
	return b
}

// appendPadded appends s padded with spaces to width code points, as
// fmt's %-*s does.
func appendPadded(b []byte, s string, width int) []byte {
	return appendSpaces(append(b, s...), width-utf8.RuneCountInString(s))
}

func appendSpaces(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, ' ')
	}
	return b
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
