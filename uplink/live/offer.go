package live

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/antt-gateway/antt/device/camera"
)

// Errors an offer or a session command can fail with; the returned errors
// wrap them with the detail (errors.Is tells them apart).
var (
	ErrUnknownCamera    = errors.New("unknown camera")
	ErrBadOffer         = errors.New("bad offer")
	ErrUnsupportedCodec = errors.New("unsupported codec")
	ErrTooManyViewers   = errors.New("too many viewers")
	ErrUnknownSession   = errors.New("unknown session")
	ErrCameraNotReady   = errors.New("camera not ready")
	ErrClosed           = errors.New("live view stopped")
)

// MaxSDP bounds an offer's size.
const MaxSDP = 64 << 10

// offered is one codec of an offer's m-section.
type offered struct {
	pt      uint8
	name    string // upper case: H264, PCMA, ...
	clock   uint32
	chans   uint16
	fmtp    string
	mode1   bool   // H.264 packetization-mode=1
	profile []byte // H.264 profile-level-id (3 bytes)
}

// choice is what a session will send: the offer's payload types for the
// camera's codecs.
type choice struct {
	video, audio   *offered
	vcodec, acodec camera.Codec
}

// parseOffer checks an SDP offer and returns, per media kind, the codecs
// the viewer can receive (m-sections it sends only, or rejected, are left out).
func parseOffer(raw string) (map[string][]offered, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("%w: empty SDP", ErrBadOffer)
	}
	if len(raw) > MaxSDP {
		return nil, fmt.Errorf("%w: SDP of %d bytes is over the %d-byte limit", ErrBadOffer, len(raw), MaxSDP)
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return nil, fmt.Errorf("%w: SDP does not parse: %v", ErrBadOffer, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: SDP has no media section", ErrBadOffer)
	}
	out := map[string][]offered{}
	for i, m := range d.MediaDescriptions {
		kind := m.MediaName.Media
		if kind != "video" && kind != "audio" {
			continue
		}
		if m.MediaName.Port.Value == 0 {
			continue
		}
		if _, ok := m.Attribute("sendonly"); ok {
			continue
		}
		if _, ok := m.Attribute("inactive"); ok {
			continue
		}
		if _, ok := m.Attribute("mid"); !ok {
			return nil, fmt.Errorf("%w: %s m-section %d has no a=mid (bundled WebRTC offers need it)", ErrBadOffer, kind, i)
		}
		codecs := map[uint8]*offered{}
		var order []uint8
		for _, f := range m.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				return nil, fmt.Errorf("%w: %s m-section %d: payload type %q is not a number from 0 to 127", ErrBadOffer, kind, i, f)
			}
			c := &offered{pt: uint8(pt)}
			switch pt { // static payload types may come without rtpmap
			case 0:
				c.name, c.clock, c.chans = "PCMU", 8000, 1
			case 8:
				c.name, c.clock, c.chans = "PCMA", 8000, 1
			}
			codecs[uint8(pt)] = c
			order = append(order, uint8(pt))
		}
		for _, a := range m.Attributes {
			switch a.Key {
			case "rtpmap":
				ptS, enc, ok := strings.Cut(a.Value, " ")
				pt, err := strconv.ParseUint(ptS, 10, 7)
				if !ok || err != nil {
					return nil, fmt.Errorf("%w: bad a=rtpmap:%s", ErrBadOffer, a.Value)
				}
				c := codecs[uint8(pt)]
				if c == nil {
					continue
				}
				parts := strings.Split(enc, "/")
				c.name = strings.ToUpper(parts[0])
				if len(parts) > 1 {
					n, err := strconv.ParseUint(parts[1], 10, 32)
					if err != nil {
						return nil, fmt.Errorf("%w: bad clock rate in a=rtpmap:%s", ErrBadOffer, a.Value)
					}
					c.clock = uint32(n)
				}
				c.chans = 1
				if len(parts) > 2 {
					n, err := strconv.ParseUint(parts[2], 10, 16)
					if err != nil {
						return nil, fmt.Errorf("%w: bad channels in a=rtpmap:%s", ErrBadOffer, a.Value)
					}
					c.chans = uint16(n)
				}
			case "fmtp":
				ptS, params, _ := strings.Cut(a.Value, " ")
				pt, err := strconv.ParseUint(ptS, 10, 7)
				if err != nil {
					return nil, fmt.Errorf("%w: bad a=fmtp:%s", ErrBadOffer, a.Value)
				}
				c := codecs[uint8(pt)]
				if c == nil {
					continue
				}
				c.fmtp = strings.TrimSpace(params)
				for _, p := range strings.Split(c.fmtp, ";") {
					k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
					switch strings.ToLower(k) {
					case "packetization-mode":
						c.mode1 = v == "1"
					case "profile-level-id":
						if b, err := hex.DecodeString(v); err == nil && len(b) == 3 {
							c.profile = b
						}
					}
				}
			}
		}
		for _, pt := range order {
			if c := codecs[pt]; c.name != "" {
				out[kind] = append(out[kind], *c)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: SDP has no audio or video section the viewer receives", ErrBadOffer)
	}
	return out, nil
}

// choose picks the offer's codecs for the camera's tracks. H.264 needs
// packetization-mode 1 (FU-A, STAP-A); among those, the offered profile
// equal to the camera's is preferred, else the first. A browser decodes
// any profile the camera sends whatever was negotiated (MediaMTX and
// go2rtc rely on the same), so the profile never refuses a viewer. H.265
// needs the offer to list H265. Audio is optional: a viewer that does not
// take the camera's G.711 gets video only.
func choose(cam string, tracks []camera.Track, off map[string][]offered) (choice, error) {
	var ch choice
	var vt *camera.Track
	for i := range tracks {
		t := &tracks[i]
		switch {
		case t.Kind == camera.Video && vt == nil:
			vt = t
		case t.Kind == camera.Audio && ch.audio == nil:
			for _, c := range off["audio"] {
				if c.name == string(t.Codec) && c.clock == uint32(t.ClockRate) {
					ch.audio, ch.acodec = &c, t.Codec
					break
				}
			}
		}
	}
	if vt != nil && (len(off["video"]) > 0 || ch.audio == nil) {
		names := func() string {
			var n []string
			for _, c := range off["video"] {
				if !slices.Contains(n, c.name) {
					n = append(n, c.name)
				}
			}
			if len(n) == 0 {
				return "no video"
			}
			return strings.Join(n, ", ")
		}
		switch vt.Codec {
		case camera.H264:
			var best *offered
			for _, c := range off["video"] {
				if c.name != "H264" || !c.mode1 {
					continue
				}
				if best == nil || (len(vt.SPS) > 1 && len(c.profile) == 3 && c.profile[0] == vt.SPS[1] && (len(best.profile) != 3 || best.profile[0] != vt.SPS[1])) {
					best = &c
				}
			}
			if best == nil {
				return ch, fmt.Errorf("%w: camera %s sends H.264 and the offer's video takes %s (H.264 needs packetization-mode=1)", ErrUnsupportedCodec, cam, names())
			}
			ch.video, ch.vcodec = best, camera.H264
		case camera.H265:
			for _, c := range off["video"] {
				if c.name == "H265" {
					ch.video, ch.vcodec = &c, camera.H265
					break
				}
			}
			if ch.video == nil {
				return ch, fmt.Errorf("%w: camera %s sends H.265 and the offer's video takes %s (most browsers cannot play H.265: use the camera's H.264 stream)", ErrUnsupportedCodec, cam, names())
			}
		default:
			return ch, fmt.Errorf("%w: camera %s sends %s video, which live view does not carry", ErrUnsupportedCodec, cam, vt.Codec)
		}
	}
	if ch.video == nil && ch.audio == nil {
		return ch, fmt.Errorf("%w: the offer takes none of camera %s's streams", ErrUnsupportedCodec, cam)
	}
	return ch, nil
}
