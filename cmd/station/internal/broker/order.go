package broker

import (
	"slices"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochi v2.7.9 resends a resumed session's queued messages sorted by
// uint16(Created), Created being the publish time in seconds: messages
// queued in the same second come out in random order, and the order breaks
// every 65536 s. The station relies on per-gateway seq order to tell gaps
// from late deliveries, so before a session is resumed keepOrder rewrites
// Created so that sort gives the order the packets were queued in, which
// is the order of their packet ids (mochi allocates them incrementally,
// wrapping after 65535).
//
// Created also feeds mochi's expiry of old inflight messages
// (MaximumMessageExpiryInterval, a day): rewritten, a queued message can
// live up to its age longer than that, which only keeps it longer.
//
// A message published while the session is being taken over is not among
// these; takeoverHook delivers it, after them.
func keepOrder(in *mqtt.Inflight) {
	pks := in.GetAll(false)
	n := len(pks)
	if n < 2 || n > 32768 {
		return
	}
	slices.SortFunc(pks, func(a, b packets.Packet) int { return int(a.PacketID) - int(b.PacketID) })
	// The ids form one run around the 16-bit circle; it starts after the
	// widest hole between neighbours.
	start, widest := 0, 0
	for i := range pks {
		next := int(pks[(i+1)%n].PacketID)
		if i == n-1 {
			next += 1 << 16
		}
		if hole := next - int(pks[i].PacketID); hole > widest {
			widest, start = hole, (i+1)%n
		}
	}
	// Just before now, so that a message queued while the session is being
	// resumed (Created = now) still sorts after these. Unless uint16 wraps
	// in between (n in 65536 odds), which leaves mochi's order.
	base := time.Now().Unix() - int64(n) - 1
	if int(uint16(base))+n+1 > 1<<16 {
		return
	}
	for rank := range n {
		p := pks[(start+rank)%n]
		p.Created = base + int64(rank)
		in.Set(p)
	}
}
