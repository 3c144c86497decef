package rtsp

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Description is a camera's DESCRIBE answer with every control URL resolved.
type Description struct {
	// Base is the URL relative controls were resolved against (Content-Base,
	// else Content-Location, else the request URL), without user information.
	Base *url.URL
	// Control is the aggregate control URL used for PLAY and TEARDOWN.
	Control *url.URL
	Medias  []Media
	// SDP is the raw session description as the camera sent it.
	SDP []byte
}

// Media is one m= section: its first payload format, which is the one a
// camera sends.
type Media struct {
	Index       int    // position in the SDP
	Type        string // "video", "audio", ...
	PayloadType uint8
	Codec       string // encoding name in upper case: H264, H265, PCMA, PCMU, ...
	ClockRate   int
	Channels    int
	FMTP        map[string]string // fmtp parameters, keys in lower case
	Control     *url.URL
}

// Static payload types of RFC 3551 that cameras use without an rtpmap.
var staticPT = map[uint8]struct {
	codec string
	rate  int
}{0: {"PCMU", 8000}, 8: {"PCMA", 8000}, 26: {"JPEG", 90000}}

// ParseDescription decodes an SDP body and resolves its control URLs
// against base (RFC 2326 §C.1.1).
func ParseDescription(body []byte, base *url.URL) (*Description, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: sdp: %v", ErrMalformed, err)
	}
	d := &Description{Base: base, SDP: body}
	agg := base
	if c, ok := s.Attribute("control"); ok {
		u, err := resolveControl(base, c)
		if err != nil {
			return nil, err
		}
		agg = u
	}
	d.Control = agg
	for i, md := range s.MediaDescriptions {
		if md == nil || len(md.MediaName.Formats) == 0 {
			continue
		}
		pt, err := strconv.ParseUint(md.MediaName.Formats[0], 10, 7)
		if err != nil {
			// Not RTP (or nonsense): not something this client can receive.
			continue
		}
		m := Media{Index: i, Type: md.MediaName.Media, PayloadType: uint8(pt), FMTP: map[string]string{}}
		if st, ok := staticPT[m.PayloadType]; ok {
			m.Codec, m.ClockRate, m.Channels = st.codec, st.rate, 1
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				p, enc, ok := strings.Cut(a.Value, " ")
				if !ok || p != md.MediaName.Formats[0] {
					continue
				}
				parts := strings.Split(strings.TrimSpace(enc), "/")
				m.Codec = strings.ToUpper(parts[0])
				if len(parts) > 1 {
					r, err := strconv.Atoi(parts[1])
					if err != nil || r <= 0 || r > 1_000_000 {
						return nil, fmt.Errorf("%w: sdp media %d: clock rate in rtpmap %.60q", ErrMalformed, i, a.Value)
					}
					m.ClockRate = r
				}
				m.Channels = 1
				if len(parts) > 2 {
					if c, err := strconv.Atoi(parts[2]); err == nil && c > 0 && c < 256 {
						m.Channels = c
					}
				}
			case "fmtp":
				p, params, ok := strings.Cut(a.Value, " ")
				if !ok || p != md.MediaName.Formats[0] {
					continue
				}
				for _, kv := range strings.Split(params, ";") {
					k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
					if k != "" {
						m.FMTP[strings.ToLower(k)] = strings.TrimSpace(v)
					}
				}
			}
		}
		if m.ClockRate == 0 {
			// Without a clock rate timestamps mean nothing; skip the media.
			continue
		}
		ctl, _ := md.Attribute("control")
		if ctl == "" && len(s.MediaDescriptions) > 1 {
			return nil, fmt.Errorf("%w: sdp media %d has no control attribute", ErrMalformed, i)
		}
		cbase := agg
		u, err := resolveControl(cbase, ctl)
		if err != nil {
			return nil, err
		}
		m.Control = u
		d.Medias = append(d.Medias, m)
	}
	if len(d.Medias) == 0 {
		return nil, fmt.Errorf("%w: sdp has no usable RTP media", ErrMalformed)
	}
	return d, nil
}
