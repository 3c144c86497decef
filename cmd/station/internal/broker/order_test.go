package broker

import (
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestKeepOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ids     []uint16 // in the order they were queued
		created int64
	}{
		{"same second", []uint16{7, 8, 9, 10, 11, 12}, 1_800_000_000},
		{"ids wrap", []uint16{65533, 65534, 65535, 1, 2, 3}, 1_800_000_000},
		{"ids skip", []uint16{100, 101, 103, 110}, 1_800_000_000},
	} {
		in := mqtt.NewInflights()
		for _, id := range tc.ids {
			in.Set(packets.Packet{PacketID: id, Created: tc.created, FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}})
		}
		keepOrder(in)
		got := in.GetAll(false)
		if len(got) != len(tc.ids) {
			t.Fatalf("%s: %d packets", tc.name, len(got))
		}
		for i, p := range got {
			if p.PacketID != tc.ids[i] {
				t.Fatalf("%s: position %d has id %d, want %d", tc.name, i, p.PacketID, tc.ids[i])
			}
			if p.Created >= time.Now().Unix() {
				t.Fatalf("%s: created %d not before now", tc.name, p.Created)
			}
		}
	}
}
