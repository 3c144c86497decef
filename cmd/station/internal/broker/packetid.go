package broker

import (
	"slices"
	"strconv"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochi v2.7.9 refuses a SUBSCRIBE (0x91, packet identifier in use, for
// every filter) whose packet id equals the id of a message the broker is
// itself still delivering to that client. The two directions have separate
// id spaces (MQTT 3.1.1 §2.3.1, 5.0 §2.2.1), so a client cannot avoid
// this: the station's console, resuming its session, subscribes with id 1
// while the broker resends queued events under ids that may include 1 (a
// fresh session, an event queued during the takeover, which mochi numbers
// from 1 again, or ids wrapping past 65535). Refused, the subscriptions
// are not renewed and the console never reports ready.
//
// packetIDHook hides the client's id from that check: OnSubscribe, which
// mochi calls just before it, swaps the id for 0, which no message in
// flight ever has, and OnPacketEncode puts it back into the SUBACK, built
// from the same packet. The id travels in a user property of the packet
// (echoed into the SUBACK by mochi, and removed again before encoding), so
// no state is kept between the two calls. A real conflict, the client
// reusing the id of its own unfinished QoS 2 publish, is left to mochi.
//
// UNSUBSCRIBE has the same check but runs it before any hook; the station
// never unsubscribes.
type packetIDHook struct {
	mqtt.HookBase
}

// subscribeIDKey names the user property carrying the client's packet id.
const subscribeIDKey = "antt-subscribe-packet-id"

func (h *packetIDHook) ID() string { return "antt-packet-id" }

func (h *packetIDHook) Provides(b byte) bool {
	return b == mqtt.OnSubscribe || b == mqtt.OnPacketEncode
}

func (h *packetIDHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.PacketID == 0 {
		return pk
	}
	if held, ok := cl.State.Inflight.Get(pk.PacketID); ok && !outbound(held) {
		return pk
	}
	user := make([]packets.UserProperty, 0, len(pk.Properties.User)+1)
	user = append(user, pk.Properties.User...)
	pk.Properties.User = append(user, packets.UserProperty{Key: subscribeIDKey, Val: strconv.Itoa(int(pk.PacketID))})
	pk.PacketID = 0
	return pk
}

func (h *packetIDHook) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Suback || pk.PacketID != 0 {
		return pk
	}
	i := len(pk.Properties.User) - 1 // ours is last: a client may send the same key
	if i < 0 || pk.Properties.User[i].Key != subscribeIDKey {
		return pk
	}
	id, err := strconv.ParseUint(pk.Properties.User[i].Val, 10, 16)
	if err != nil {
		return pk
	}
	pk.PacketID = uint16(id)
	pk.Properties.User = slices.Delete(slices.Clone(pk.Properties.User), i, i+1)
	if len(pk.Properties.User) == 0 {
		pk.Properties.User = nil
	}
	return pk
}

// outbound reports whether an inflight packet belongs to a message the
// broker sends (a PUBLISH awaiting PUBACK or PUBREC, or its PUBREL), that
// is to the broker's id space rather than the client's.
func outbound(pk packets.Packet) bool {
	return pk.FixedHeader.Type == packets.Publish || pk.FixedHeader.Type == packets.Pubrel
}
