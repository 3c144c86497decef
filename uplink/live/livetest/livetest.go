// Package livetest makes the pion viewers that live view tests offer
// from, in every package that tests live view, so that each viewer keeps
// to loopback the same way: no mDNS, no STUN, no packet off the machine.
// It imports no package of this module, so any test may use it.
package livetest

import (
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Loopback is the setting engine of a viewer that stays on this machine:
// host candidates on the loopback interface "lo" only, over UDP4, with
// mDNS off (the tests send no mDNS).
func Loopback() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// Offer makes a peer connection of api with cfg that receives one track
// of each of kinds (video and audio when none is given), and returns it
// with its complete offer: gathering has ended, so every candidate is in
// the SDP and the offer can be sent without trickle. The connection is
// closed when the test ends; a gathering that does not end within 15 s
// fails the test.
func Offer(tb testing.TB, api *webrtc.API, cfg webrtc.Configuration, kinds ...webrtc.RTPCodecType) (*webrtc.PeerConnection, string) {
	tb.Helper()
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		tb.Fatalf("viewer: new peer connection: %v", err)
	}
	tb.Cleanup(func() { _ = pc.Close() })
	if len(kinds) == 0 {
		kinds = []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}
	}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			tb.Fatalf("viewer: add a %s transceiver: %v", k, err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatalf("viewer: create the offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		tb.Fatalf("viewer: set the offer: %v", err)
	}
	select {
	case <-gathered:
	case <-time.After(15 * time.Second):
		tb.Fatal("viewer: ICE gathering did not complete in 15 s")
	}
	return pc, pc.LocalDescription().SDP
}
