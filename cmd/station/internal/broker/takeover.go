package broker

import (
	"net"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// takeoverHook keeps the QoS 1/2 messages that reach a subscriber while it
// resumes a kept session, and keeps them in order, where mochi v2.7.9
// would lose or reorder them.
//
// mochi acknowledges a publish before it hands the message to the
// subscribers, so a gateway's last event can reach the station's session
// just as the station reconnects. To resume, mochi marks the old client
// object taken over, copies its inflight messages to the new one, clears
// the old, publishes the new one, sends CONNACK and resends the copied
// messages. Meanwhile a message can
//   - be stored in the old object after the copy (an orphan): dropped, or
//     left there unsent, although its publisher has its PUBACK;
//   - be queued to the new object and written by its write loop before the
//     resent ones, older, which the station then reports as late.
//
// An orphan is stored, then OnQosPublish is called with the old, already
// taken-over object (the flag is set before the copy), so the hook takes it
// out of the old object and hands it to the new one once the copied
// messages are resent (OnSessionEstablished), or at once if that is done.
// A message the copy also caught is delivered twice, which QoS 1 allows and
// the station's event log absorbs. New messages written by the new
// object's write loop (PUBLISH without DUP; resent ones carry DUP) wait in
// OnPacketEncode until then. If the connection fails before, connEnded,
// called by the listener when the connection is over, releases them.
type takeoverHook struct {
	mqtt.HookBase
	clients *mqtt.Clients

	active  atomic.Int32 // resumptions not yet released, for OnPacketEncode's fast path
	mu      sync.Mutex
	resumed map[string]*resumption // by client id, the latest resumption
}

// resumption is one connection taking over a kept session.
type resumption struct {
	old, cur *mqtt.Client
	conn     net.Conn
	done     bool             // guarded by takeoverHook.mu: ready is closed
	ready    chan struct{}    // closed once the copied messages are resent
	orphans  []packets.Packet // stored in old after the copy, waiting for ready
}

func newTakeoverHook(clients *mqtt.Clients) *takeoverHook {
	return &takeoverHook{clients: clients, resumed: map[string]*resumption{}}
}

func (h *takeoverHook) ID() string { return "antt-takeover" }

func (h *takeoverHook) Provides(b byte) bool {
	return b == mqtt.OnSessionEstablish || b == mqtt.OnSessionEstablished ||
		b == mqtt.OnQosPublish || b == mqtt.OnPacketEncode
}

// OnSessionEstablish runs in the connecting client's goroutine before mochi
// takes the old session over.
func (h *takeoverHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	old, ok := h.clients.Get(cl.ID)
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev := h.resumed[cl.ID]; prev != nil {
		h.releaseLocked(prev)
		delete(h.resumed, cl.ID)
	}
	// The condition under which mochi discards rather than inherits.
	if !ok || pk.Connect.Clean || (old.Properties.Clean && old.Properties.ProtocolVersion < 5) {
		return
	}
	h.resumed[cl.ID] = &resumption{old: old, cur: cl, conn: cl.Net.Conn, ready: make(chan struct{})}
	h.active.Add(1)
}

// OnSessionEstablished runs once the copied messages are resent: the
// orphans follow them, then the write loop goes on.
func (h *takeoverHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.mu.Lock()
	r := h.resumed[cl.ID]
	if r == nil || r.cur != cl || r.done {
		h.mu.Unlock()
		return
	}
	orphans := r.orphans
	r.orphans = nil
	h.releaseLocked(r)
	h.mu.Unlock()
	for _, pk := range orphans {
		h.redeliver(cl, pk)
	}
}

// OnQosPublish sees every QoS 1/2 message stored for a client, in the
// publisher's goroutine.
func (h *takeoverHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if !cl.IsTakenOver() || pk.FixedHeader.Type != packets.Publish {
		return
	}
	h.mu.Lock()
	r := h.resumed[cl.ID]
	if r == nil || r.old != cl {
		h.mu.Unlock()
		return
	}
	cl.State.Inflight.Delete(pk.PacketID)
	if !r.done {
		r.orphans = append(r.orphans, pk)
		h.mu.Unlock()
		return
	}
	cur := r.cur
	h.mu.Unlock()
	h.redeliver(cur, pk)
}

// OnPacketEncode holds a new message for a resuming client until the older,
// copied ones are written.
func (h *takeoverHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if h.active.Load() == 0 || pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Dup {
		return pk
	}
	h.mu.Lock()
	r := h.resumed[cl.ID]
	h.mu.Unlock()
	if r != nil && r.cur == cl {
		<-r.ready
	}
	return pk
}

// connEnded is called by a listener when a connection is over, whichever
// way it ended; it releases what waits for that connection's resumption.
func (h *takeoverHook) connEnded(c net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, r := range h.resumed {
		if r.conn == c {
			h.releaseLocked(r)
			delete(h.resumed, id)
		}
	}
}

func (h *takeoverHook) releaseLocked(r *resumption) {
	if !r.done {
		r.done = true
		close(r.ready)
		h.active.Add(-1)
	}
}

// redeliver stores pk in cl's session under a new packet id and sends it,
// marked DUP as it was already in the session. If sending fails it stays
// stored, and is resent when the session resumes.
func (h *takeoverHook) redeliver(cl *mqtt.Client, pk packets.Packet) {
	id, err := cl.NextPacketID()
	if err != nil {
		h.Log.Warn("message lost in session takeover: no packet id", "client", cl.ID, "topic", pk.TopicName, "error", err)
		return
	}
	pk.PacketID = uint16(id)
	pk.FixedHeader.Dup = true
	cl.State.Inflight.Set(pk)
	if err := cl.WritePacket(pk); err != nil {
		h.Log.Debug("resend after session takeover failed", "client", cl.ID, "error", err)
	}
}
