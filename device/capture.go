package device

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// DefaultCaptureQueue is how many captured events may wait in memory for
// the outbox (a full or failing disk) before new ones are given up.
const DefaultCaptureQueue = 1024

// Retry delays of the capture queue while the outbox refuses events.
const (
	captureRetryMin = 100 * time.Millisecond
	captureRetryMax = 5 * time.Second
	// captureDrainLimit bounds how long a stopping gateway keeps retrying
	// the events still queued.
	captureDrainLimit = 5 * time.Second
	// captureBatch is how many queued events go into one AppendBatch.
	captureBatch = 64
)

// captureQueue holds captured events (sensor edges, camera health) until
// the outbox has made them durable. Producers never wait for the disk:
// add takes the event or, with the queue full, counts it as lost. One
// goroutine, storeCaptures, owns the storing; it retries with backoff while
// the outbox refuses, and once storage works again it stores a
// capture_failed event saying how many were given up, when, and why.
type captureQueue struct {
	mu      sync.Mutex
	pending []*wire.Event
	max     int
	lost    lostCaptures // given up, not yet reported
	failed  uint64       // given up since start, reported or not
	lastErr string       // the last error of the outbox, "" after a success
	wake    chan struct{}
}

// lostCaptures is what one capture_failed event reports.
type lostCaptures struct {
	count       int
	first, last time.Time
	err         string
}

func (l *lostCaptures) add(t time.Time, n int, err string) {
	if l.count == 0 || t.Before(l.first) {
		l.first = t
	}
	if l.count == 0 || t.After(l.last) {
		l.last = t
	}
	l.count += n
	if err != "" {
		l.err = err
	}
}

func (l *lostCaptures) merge(o lostCaptures) {
	if o.count == 0 {
		return
	}
	l.add(o.first, 0, o.err)
	l.add(o.last, o.count, o.err)
}

func newCaptureQueue(max int) *captureQueue {
	if max <= 0 {
		max = DefaultCaptureQueue
	}
	return &captureQueue{max: max, wake: make(chan struct{}, 1)}
}

// add queues e for storing; it never blocks. With the queue full the event
// is given up and counted.
func (q *captureQueue) add(e *wire.Event) {
	q.mu.Lock()
	if len(q.pending) >= q.max {
		why := q.lastErr
		if why == "" {
			why = "capture queue full"
		}
		q.lost.add(e.Time, 1, why)
		q.failed++
	} else {
		q.pending = append(q.pending, e)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// CaptureStatus is the capture queue part of Status.
type CaptureStatus struct {
	Pending   int    `json:"pending"`              // captured, waiting for the outbox
	Failed    uint64 `json:"failed"`               // given up since start (reported in capture_failed events)
	LastError string `json:"last_error,omitempty"` // why the outbox refused the last attempt; empty once it works
}

func (q *captureQueue) status() CaptureStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	return CaptureStatus{Pending: len(q.pending), Failed: q.failed, LastError: q.lastErr}
}

// next returns the events to try next (without removing them) and the
// losses to report with them, which the caller gives back with done.
func (q *captureQueue) next(limit int) ([]*wire.Event, lostCaptures) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.pending), limit)
	batch := append([]*wire.Event(nil), q.pending[:n]...)
	lost := q.lost
	q.lost = lostCaptures{}
	return batch, lost
}

// done settles an attempt at storing the first n pending events with the
// losses report: on success they leave the queue; on failure the report is
// kept for the next attempt.
func (q *captureQueue) done(n int, lost lostCaptures, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err == nil {
		q.pending = q.pending[n:]
		q.lastErr = ""
		return
	}
	q.lastErr = err.Error()
	q.lost.merge(lost)
}

// giveUp removes the first n pending events as lost because of err.
func (q *captureQueue) giveUp(n int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.pending[:n] {
		q.lost.add(e.Time, 1, err.Error())
	}
	q.failed += uint64(n)
	q.pending = q.pending[n:]
}

func (q *captureQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) == 0 && q.lost.count == 0
}

// storeCaptures stores queued events until stop is closed, then keeps
// trying what is left for up to captureDrainLimit.
func (g *Gateway) storeCaptures(stop <-chan struct{}) {
	q := g.captures
	delay := time.Duration(0)
	limit := captureBatch
	var deadline <-chan time.Time
	for {
		if q.empty() {
			if deadline != nil {
				return
			}
			select {
			case <-q.wake:
			case <-stop:
				stop, deadline = nil, time.After(captureDrainLimit)
			}
			continue
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-stop:
				stop, deadline = nil, time.After(captureDrainLimit)
			case <-deadline:
				t.Stop()
				g.reportUnstored()
				return
			}
			t.Stop()
		}
		err := g.storeOnce(limit)
		switch {
		case err == nil:
			if delay > 0 {
				g.log.Info("the outbox takes events again; storing what was queued")
			}
			delay, limit = 0, captureBatch
		case errors.Is(err, errSmaller):
			limit = max(1, limit/2)
		case errors.Is(err, outbox.ErrClosed):
			g.reportUnstored()
			return
		default:
			if delay == 0 {
				g.log.Error("events not stored; keeping them in memory and retrying", "pending", q.status().Pending, "err", err)
			}
			delay = min(max(2*delay, captureRetryMin), captureRetryMax)
		}
	}
}

// storeOnce makes one attempt at the oldest queued events, with a
// capture_failed event after them when some were given up.
func (g *Gateway) storeOnce(limit int) error {
	q := g.captures
	batch, lost := q.next(limit)
	evs := batch
	if lost.count > 0 {
		now := time.Now()
		evs = append(evs[:len(evs):len(evs)], &wire.Event{
			Kind: wire.KindCaptureFailed, Source: g.cfg.Gateway.ID, Time: now,
			ClockSynced: ClockSynced(now), UptimeMS: g.uptime().Milliseconds(), Boot: g.boot,
			Attrs: map[string]any{
				"count": lost.count,
				"first": lost.first.UTC().Format(time.RFC3339Nano),
				"last":  lost.last.UTC().Format(time.RFC3339Nano),
				"error": lost.err,
			},
		})
	}
	// Not tied to the gateway's context: an edge seen before a stop is
	// stored, not dropped.
	_, err := g.outbox.AppendBatch(context.Background(), evs)
	if errors.Is(err, outbox.ErrTooLarge) {
		q.done(0, lost, err)
		if len(batch) <= 1 {
			// Never storable: give it up (reported) rather than block the
			// rest behind it.
			q.giveUp(len(batch), err)
			return nil
		}
		return errSmaller
	}
	q.done(len(batch), lost, err)
	if err == nil {
		g.noteStored(batch...) // their seqs, for the clips they caused
	}
	if err == nil && lost.count > 0 {
		g.log.Warn("reported events given up while storage failed", "count", lost.count, "error", lost.err)
	}
	return err
}

// errSmaller asks storeCaptures to try again at once with half the batch:
// a small outbox limits one batch to a quarter of its payload budget.
var errSmaller = errors.New("batch too large for the outbox")

// reportUnstored logs what a stopping gateway could not store: the outbox
// refuses, and there is nowhere durable left to say it.
func (g *Gateway) reportUnstored() {
	q := g.captures
	q.mu.Lock()
	n, lost, why := len(q.pending), q.lost.count, q.lastErr
	q.mu.Unlock()
	if n+lost > 0 {
		g.log.Error("stopping with events not stored", "pending", n, "given_up_unreported", lost, "err", why)
	}
}
