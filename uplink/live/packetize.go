package live

import (
	"time"

	"github.com/antt-gateway/antt/device/camera"
)

// MaxPayload is the largest RTP payload sent: 1200 bytes of RTP packet (the
// size pion and the browsers use) less the 12-byte header and room for
// header extensions, so that SRTP, a TURN channel and an IPv6 header still
// fit a 1280-byte path MTU.
const MaxPayload = 1140

// H.264 NAL unit types and RFC 6184 payload types used here.
const (
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9
	nalSTAPA = 24
	nalFUA   = 28
)

// unit is one access unit (or audio packet) as every viewer sends it: its
// RTP payloads, cut once by the feed and shared, read-only, by all viewers
// and their retransmission buffers. Only the RTP header differs per viewer.
type unit struct {
	n      uint64 // the feed's running number, to tell cached from live copies
	epoch  uint64 // camera session (camera.HubFrame.Epoch)
	kind   camera.Kind
	codec  camera.Codec
	key    bool
	rtp    uint32        // the camera's RTP time
	pts    time.Duration // the camera's presentation time (within the epoch)
	marker bool          // the RTP marker of the last packet
	pkts   [][]byte
	size   int // payload bytes in pkts
}

// packetizeH264 cuts an access unit into RFC 6184 packetization-mode 1
// payloads: SPS and PPS together in one STAP-A in front of a key frame (from
// the access unit, else from the track's), every other NAL unit alone when
// it fits and in FU-A fragments when it does not. Access unit delimiters are
// dropped (browsers do not need them). All payloads share one buffer.
func packetizeH264(nalus [][]byte, key bool, sps, pps []byte, maxPayload int) [][]byte {
	var inSPS, inPPS []byte
	size, count := 0, 0
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case nalSPS:
			inSPS = n
			continue
		case nalPPS:
			inPPS = n
			continue
		case nalAUD:
			continue
		}
		if len(n) <= maxPayload {
			size += len(n)
			count++
			continue
		}
		frags := (len(n) - 1 + maxPayload - 3) / (maxPayload - 2)
		size += len(n) - 1 + 2*frags
		count += frags
	}
	if inSPS != nil {
		sps = inSPS
	}
	if inPPS != nil {
		pps = inPPS
	}
	stap := (key || inSPS != nil) && len(sps) > 0 && len(pps) > 0
	if stap {
		if 1+2+len(sps)+2+len(pps) <= maxPayload {
			size += 1 + 2 + len(sps) + 2 + len(pps)
			count++
		} else { // huge parameter sets: each alone (FU-A is not worth it here)
			size += len(sps) + len(pps)
			count += 2
		}
	}
	buf := make([]byte, 0, size)
	pkts := make([][]byte, 0, count)
	take := func(start int) {
		pkts = append(pkts, buf[start:len(buf):len(buf)])
	}
	if stap {
		start := len(buf)
		if 1+2+len(sps)+2+len(pps) <= maxPayload {
			// F=0, NRI the highest of the two, type 24.
			nri := max(sps[0]&0x60, pps[0]&0x60)
			buf = append(buf, nri|nalSTAPA)
			buf = append(buf, byte(len(sps)>>8), byte(len(sps)))
			buf = append(buf, sps...)
			buf = append(buf, byte(len(pps)>>8), byte(len(pps)))
			buf = append(buf, pps...)
			take(start)
		} else {
			buf = append(buf, sps...)
			take(start)
			start = len(buf)
			buf = append(buf, pps...)
			take(start)
		}
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case nalSPS, nalPPS, nalAUD:
			continue
		}
		if len(n) <= maxPayload {
			start := len(buf)
			buf = append(buf, n...)
			take(start)
			continue
		}
		indicator := n[0]&0xe0 | nalFUA
		typ := n[0] & 0x1f
		rest := n[1:]
		for first := true; len(rest) > 0; first = false {
			chunk := min(len(rest), maxPayload-2)
			hdr := typ
			if first {
				hdr |= 0x80 // S
			}
			if chunk == len(rest) {
				hdr |= 0x40 // E
			}
			start := len(buf)
			buf = append(buf, indicator, hdr)
			buf = append(buf, rest[:chunk]...)
			take(start)
			rest = rest[chunk:]
		}
	}
	return pkts
}

// newUnit turns a hub frame into a unit: H.264 is packetised, H.265 and
// audio payloads go out as the camera sent them.
func newUnit(n uint64, f *camera.HubFrame, sps, pps []byte) *unit {
	u := &unit{n: n, epoch: f.Epoch, codec: f.Codec, key: f.Key, rtp: f.RTPTime, pts: f.PTS, marker: f.Marker}
	switch f.Codec {
	case camera.H264:
		u.kind = camera.Video
		u.marker = true
		u.pkts = packetizeH264(f.NALUs, f.Key, sps, pps, MaxPayload)
	case camera.H265:
		u.kind = camera.Video
		u.pkts = [][]byte{f.Payload}
	default:
		u.kind = camera.Audio
		u.pkts = [][]byte{f.Payload}
	}
	for _, p := range u.pkts {
		u.size += len(p)
	}
	return u
}
