package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Ingester stores what gateways publish on the topics it claims (the
// station's store: "event" and "snapshot/{seq}"), so that the broker can
// acknowledge a publish only once it is durable.
type Ingester interface {
	// Claims reports whether the topic below {prefix}/{gateway}/ is stored.
	Claims(rest string) bool
	// Submit stores payload, published by gateway gw on rest, and calls
	// done once it is committed (nil) or could not be. done may be called
	// from Submit itself and from any goroutine; it must not block. An
	// error wrapping ErrInvalidPayload means the payload can never be
	// stored. Submit may block to slow the publisher down.
	Submit(gw, rest string, payload []byte, done func(error))
}

// ErrInvalidPayload is wrapped by the error an Ingester gives for a payload
// that can never be stored. Sending it again would not help, so the broker
// acknowledges it (and logs it) rather than have the gateway resend it
// forever.
var ErrInvalidPayload = errors.New("payload can never be stored")

// MaxUnacked bounds the claimed QoS 1 publishes of one client that wait
// for the store. Beyond it the client's read loop waits (backpressure:
// the gateway's window fills and it stops publishing). The gateway's
// default window (uplink.DefaultWindow) is equal to it, so a draining
// gateway never makes the read loop wait here.
const MaxUnacked = 1024

// ingestHook makes the store the acknowledgement point. mochi runs
// OnPublish on the publishing client's read loop after the access check
// and before it sends the PUBACK and fans the message out. For a claimed
// topic the hook submits the payload to the Ingester and hands mochi back
// the packet as ignored (see claimed): mochi then neither acknowledges nor
// delivers it. When the Ingester has committed, the client's acker sends
// the PUBACK itself, in the order the publishes arrived, one per packet id
// waiting (see OnPublish).
//
// The PUBACK is never written from the store's goroutine: a client that
// stops reading would stall every gateway. Each client gets an acker
// goroutine, started when an answer is ready and ended when nothing is
// left to acknowledge. A store error disconnects the client, so the
// gateway resends everything not acknowledged; a QoS 0 publish is stored
// and not acknowledged; QoS 2 is refused on these topics (gateways publish
// at QoS 1) by disconnecting the client.
type ingestHook struct {
	mqtt.HookBase
	ing    Ingester
	prefix string

	mu     sync.Mutex
	ackers map[*mqtt.Client]*acker
	// wg counts publishes waiting for the store or their PUBACK, and
	// acker goroutines; Broker waits for it at shutdown.
	wg sync.WaitGroup

	stats IngestStats
}

// IngestStats counts what the ingest hook did since the broker started.
type IngestStats struct {
	Stored  atomic.Int64 // publishes the Ingester committed
	Invalid atomic.Int64 // publishes it refused as invalid (acknowledged anyway)
	Failed  atomic.Int64 // publishes whose commit failed (client disconnected)
	QoS0    atomic.Int64 // stored publishes that wanted no PUBACK
}

func newIngestHook(ing Ingester, prefix string) *ingestHook {
	return &ingestHook{ing: ing, prefix: prefix, ackers: map[*mqtt.Client]*acker{}}
}

func (h *ingestHook) ID() string { return "antt-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish || b == mqtt.OnDisconnect }

// OnPublish runs on cl's read loop; see ingestHook.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || cl.Net.Listener == internalListenerID {
		return pk, nil
	}
	gw, rest, ok := wire.Split(h.prefix, pk.TopicName)
	if !ok || !h.ing.Claims(rest) {
		return pk, nil
	}
	switch pk.FixedHeader.Qos {
	case 0:
		h.wg.Add(1)
		h.ing.Submit(gw, rest, pk.Payload, func(err error) {
			defer h.wg.Done()
			h.count(cl, gw, rest, err)
			if err == nil {
				h.stats.QoS0.Add(1)
			}
		})
		return claimed(pk), nil
	case 1:
	default:
		h.Log.Warn("disconnecting client: QoS 2 on a stored topic (gateways publish at QoS 1)", "client", cl.ID, "topic", pk.TopicName)
		cl.Stop(packets.ErrQosNotSupported)
		return pk, packets.ErrRejectPacket
	}
	a := h.ackerOf(cl)
	a.slots <- struct{}{} // blocks this read loop at MaxUnacked
	p := &pending{id: pk.PacketID}
	a.mu.Lock()
	// The same id again before its PUBACK is the same publish sent again
	// (DUP), or a client reusing an id it may not yet. One PUBACK answers
	// both, the later one's, which goes only once both are stored: a
	// PUBACK each would let the second one reach the client after it has
	// reused the id for its next publish, and acknowledge that unstored.
	if prev := a.unacked[uint32(p.id)]; prev != nil {
		prev.superseded = true
	}
	a.unacked[uint32(p.id)] = p
	a.queue = append(a.queue, p)
	a.mu.Unlock()
	h.wg.Add(1)
	h.ing.Submit(gw, rest, pk.Payload, func(err error) {
		h.count(cl, gw, rest, err)
		a.answer(p, err)
	})
	return claimed(pk), nil
}

// claimed is pk as the ingest hook gives it back to mochi once the
// Ingester has it: QoS 0 (mochi sends no PUBACK; the acker does, after the
// commit), not retained, and Ignore (mochi delivers it to no subscriber).
// Rejecting it (packets.ErrRejectPacket) has the same effect, but mochi
// then copies the whole packet to the heap for a debug line it builds
// whatever the log level: 4 % of the station's CPU while 200 gateways
// drained (docs/performance.md).
func claimed(pk packets.Packet) packets.Packet {
	pk.FixedHeader.Qos, pk.FixedHeader.Retain, pk.Ignore = 0, false, true
	return pk
}

func (h *ingestHook) count(cl *mqtt.Client, gw, rest string, err error) {
	switch {
	case err == nil:
		h.stats.Stored.Add(1)
	case errors.Is(err, ErrInvalidPayload):
		h.stats.Invalid.Add(1)
		h.Log.Warn("publish not stored: invalid; acknowledged so it is not sent again", "client", cl.ID, "gateway", gw, "topic", rest, "error", err)
	default:
		h.stats.Failed.Add(1)
	}
}

// OnDisconnect forgets the client's acker; answers still due to it find
// the connection closed and write nothing.
func (h *ingestHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	delete(h.ackers, cl)
	h.mu.Unlock()
}

func (h *ingestHook) ackerOf(cl *mqtt.Client) *acker {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.ackers[cl]
	if !ok {
		a = &acker{h: h, cl: cl, slots: make(chan struct{}, MaxUnacked), unacked: map[uint32]*pending{}}
		h.ackers[cl] = a
	}
	return a
}

// wait returns once every publish handed to the Ingester is answered and
// every acker goroutine has ended. Call it after the clients' read loops
// have ended.
func (h *ingestHook) wait() {
	if h != nil {
		h.wg.Wait()
	}
}

// pending is one QoS 1 publish waiting for its PUBACK.
type pending struct {
	id       uint16
	answered bool
	err      error
	// superseded: a later publish with the same id is queued; its PUBACK
	// answers this one too.
	superseded bool
}

// acker sends one client's PUBACKs in the order its publishes arrived.
type acker struct {
	h     *ingestHook
	cl    *mqtt.Client
	slots chan struct{} // one per pending publish, MaxUnacked in all

	mu    sync.Mutex
	queue []*pending // in arrival order
	// unacked is the latest queued publish of each packet id (uint32 keys:
	// Go's maps have fast paths for 32- and 64-bit keys, not 16).
	unacked map[uint32]*pending
	running bool // an acker goroutine is on it
	failed  bool // the client was disconnected for a store error
}

// answer records the store's answer for p and makes sure a goroutine
// sends whatever PUBACKs are now due.
func (a *acker) answer(p *pending, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p.answered, p.err = true, err
	if a.running {
		return
	}
	a.running = true
	a.h.wg.Add(1) // p is still counted, so the count is above zero here
	go a.flush()
}

// flush sends the PUBACKs of the answered publishes at the head of the
// queue, and ends when the head is unanswered or the queue empty.
func (a *acker) flush() {
	defer a.h.wg.Done()
	var buf []byte
	for {
		a.mu.Lock()
		n := 0
		for n < len(a.queue) && a.queue[n].answered {
			n++
		}
		if n == 0 {
			a.running = false
			a.mu.Unlock()
			return
		}
		due := a.queue[:n:n]
		a.queue = a.queue[n:]
		for _, p := range due {
			if a.unacked[uint32(p.id)] == p {
				delete(a.unacked, uint32(p.id))
			}
		}
		a.mu.Unlock()
		buf = buf[:0]
		for _, p := range due {
			buf = a.ack(buf, p)
		}
		a.write(buf)
		for range due {
			<-a.slots
			a.h.wg.Done()
		}
	}
}

// ack appends p's PUBACK to buf, or disconnects the client if the store
// failed p.
func (a *acker) ack(buf []byte, p *pending) []byte {
	if p.err != nil && !errors.Is(p.err, ErrInvalidPayload) {
		a.mu.Lock()
		first := !a.failed
		a.failed = true
		a.mu.Unlock()
		if first {
			a.h.Log.Error("store failed; disconnecting the client so it sends again", "client", a.cl.ID, "error", p.err)
			a.cl.Stop(fmt.Errorf("store: %w", p.err))
		}
		return buf
	}
	if p.superseded {
		return buf
	}
	// PUBACK, remaining length 2, the packet id: the same bytes in MQTT
	// 3.1.1 and 5 (5 omits a success reason code without properties).
	return append(buf, packets.Puback<<4, 2, byte(p.id>>8), byte(p.id))
}

// write sends the PUBACKs in buf in one write, under the client's lock
// as mochi's WritePacket does, so they never interleave with its packets.
// One write for all that are due, rather than one each, is what keeps a
// draining gateway's acknowledgements cheap. mochi's byte and packet
// counters do not count them.
func (a *acker) write(buf []byte) {
	a.mu.Lock()
	failed := a.failed
	a.mu.Unlock()
	if len(buf) == 0 || failed || a.cl.Closed() || a.cl.Net.Conn == nil {
		return // the client resends after reconnecting
	}
	a.cl.Lock()
	_, err := a.cl.Net.Conn.Write(buf)
	a.cl.Unlock()
	if err != nil {
		// A write cut short (a deadline) may have sent part of a PUBACK;
		// nothing more may follow it on this connection. The client
		// resends what it has no PUBACK for after reconnecting.
		a.h.Log.Debug("PUBACKs not sent; closing the connection", "client", a.cl.ID, "count", len(buf)/4, "error", err)
		a.cl.Stop(fmt.Errorf("write PUBACKs: %w", err))
	}
}

// Info is a copy of mochi's counters (messages received, dropped and
// in flight, clients, ...), for the station's shutdown line and tests.
func (b *Broker) Info() *system.Info {
	if b.srv == nil {
		return &system.Info{}
	}
	return b.srv.Info.Clone()
}

// Ingested reports what the ingest hook did (zero without Options.Ingest).
func (b *Broker) Ingested() (stored, invalid, failed int64) {
	if b.ingest == nil {
		return 0, 0, 0
	}
	return b.ingest.stats.Stored.Load(), b.ingest.stats.Invalid.Load(), b.ingest.stats.Failed.Load()
}

// addIngest installs the ingest hook when Options.Ingest is set.
func (b *Broker) addIngest() error {
	if b.opts.Ingest == nil {
		return nil
	}
	b.ingest = newIngestHook(b.opts.Ingest, b.opts.Prefix)
	return b.srv.AddHook(b.ingest, nil)
}

// Submitter is the write side of the station's store (store.Store).
type Submitter interface {
	Submit(gw, rest string, payload []byte, done func(store.Result, error))
}

// StoreIngester makes the station's store the broker's Ingester: it claims
// the topics the store keeps, and marks the store's ErrInvalid as
// ErrInvalidPayload.
func StoreIngester(s Submitter) Ingester { return storeIngester{s} }

type storeIngester struct{ s Submitter }

func (storeIngester) Claims(rest string) bool { return store.Claims(rest) }

func (i storeIngester) Submit(gw, rest string, payload []byte, done func(error)) {
	i.s.Submit(gw, rest, payload, func(_ store.Result, err error) {
		if errors.Is(err, store.ErrInvalid) {
			err = fmt.Errorf("%w: %w", ErrInvalidPayload, err)
		}
		done(err)
	})
}
