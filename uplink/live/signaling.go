package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/uplink"
)

// Commands served over MQTT (docs/protocol.md).
const (
	CmdOffer     = "live.offer"
	CmdCandidate = "live.candidate"
	CmdClose     = "live.close"
	CmdRenew     = "live.renew"
	CmdStats     = "live.stats"
)

// maxICEServers bounds the servers one offer may bring.
const maxICEServers = 4

// Register adds the live.* command handlers to r.
func (m *Manager) Register(r *uplink.Router) {
	r.Handle(CmdOffer, m.handleOffer)
	r.Handle(CmdCandidate, m.handleCandidate)
	r.Handle(CmdClose, m.handleClose)
	r.Handle(CmdRenew, m.handleRenew)
	r.Handle(CmdStats, m.handleStats)
	r.Handle(CmdSeek, m.handleSeek)
}

type offerArgs struct {
	Camera     string      `json:"camera"`
	SDP        string      `json:"sdp"`
	Quality    string      `json:"quality"`
	ICEServers []ICEServer `json:"ice_servers"`
	Session    string      `json:"session"`
	Trickle    bool        `json:"trickle"`
	From       string      `json:"from"`
	To         string      `json:"to"`
	Speed      int         `json:"speed"`
}

// decodeOffer reads live.offer's arguments strictly; the SDP itself is
// checked by the Manager.
func decodeOffer(args json.RawMessage) (OfferRequest, error) {
	var a offerArgs
	if err := uplink.DecodeArgs(args, &a); err != nil {
		return OfferRequest{}, err
	}
	switch {
	case a.Camera == "":
		return OfferRequest{}, errors.New(`missing argument "camera"`)
	case a.SDP == "":
		return OfferRequest{}, errors.New(`missing argument "sdp"`)
	case len(a.SDP) > MaxSDP:
		return OfferRequest{}, fmt.Errorf(`argument "sdp": %d bytes, over the %d-byte limit`, len(a.SDP), MaxSDP)
	}
	if err := checkICEServers(a.ICEServers); err != nil {
		return OfferRequest{}, err
	}
	if a.Session != "" {
		if err := checkSessionID(a.Session); err != nil {
			return OfferRequest{}, err
		}
	}
	req := OfferRequest{Camera: a.Camera, SDP: a.SDP, Quality: a.Quality, Explicit: a.Quality != "", ICEServers: a.ICEServers,
		Session: a.Session, Trickle: a.Trickle, Speed: a.Speed}
	var err error
	if a.From != "" {
		if req.From, err = parseTime("from", a.From); err != nil {
			return OfferRequest{}, err
		}
	}
	if a.To != "" {
		if req.To, err = parseTime("to", a.To); err != nil {
			return OfferRequest{}, err
		}
	}
	if err := checkRange(req.From, req.To, req.Speed); err != nil {
		return OfferRequest{}, err
	}
	if req.Quality == "" {
		// A viewer over MQTT is remote, most likely through the board's
		// 4G: the substream unless it asks for more.
		req.Quality = "low"
	}
	return req, nil
}

func checkICEServers(ss []ICEServer) error {
	if len(ss) > maxICEServers {
		return fmt.Errorf(`argument "ice_servers": %d servers, at most %d`, len(ss), maxICEServers)
	}
	for i, s := range ss {
		if len(s.URLs) == 0 {
			return fmt.Errorf(`argument "ice_servers"[%d]: no urls`, i)
		}
		for _, u := range s.URLs {
			scheme, _, _ := strings.Cut(u, ":")
			switch scheme {
			case "stun", "stuns":
			case "turn", "turns":
				if s.Username == "" || s.Credential == "" {
					return fmt.Errorf(`argument "ice_servers"[%d]: %s needs username and credential`, i, scheme)
				}
			default:
				return fmt.Errorf(`argument "ice_servers"[%d]: url %q: want a stun, stuns, turn or turns URL`, i, u)
			}
		}
	}
	return nil
}

type sessionArgs struct {
	Session string `json:"session"`
}

type candidateArgs struct {
	Session       string  `json:"session"`
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdp_mid"`
	SDPMLineIndex *uint16 `json:"sdp_mline_index"`
}

// checkSessionID refuses what cannot be one of our ids (32 hex digits)
// before it reaches a map or a log line.
func checkSessionID(id string) error {
	if id == "" {
		return errors.New(`missing argument "session"`)
	}
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return fmt.Errorf(`argument "session": %.40q is not a session id (32 hex digits)`, id)
	}
	return nil
}

func decodeSession(args json.RawMessage) (string, error) {
	var a sessionArgs
	if err := uplink.DecodeArgs(args, &a); err != nil {
		return "", err
	}
	return a.Session, checkSessionID(a.Session)
}

// decodeCandidate reads live.candidate: the candidate is an SDP
// "candidate:..." attribute value (an "a=" in front is accepted); empty
// means the viewer has no more.
func decodeCandidate(args json.RawMessage) (string, webrtc.ICECandidateInit, error) {
	var a candidateArgs
	if err := uplink.DecodeArgs(args, &a); err != nil {
		return "", webrtc.ICECandidateInit{}, err
	}
	if err := checkSessionID(a.Session); err != nil {
		return "", webrtc.ICECandidateInit{}, err
	}
	c := strings.TrimSpace(strings.TrimPrefix(a.Candidate, "a="))
	if len(c) > 512 {
		return "", webrtc.ICECandidateInit{}, errors.New(`argument "candidate": longer than 512 bytes`)
	}
	if c != "" && !strings.HasPrefix(c, "candidate:") {
		return "", webrtc.ICECandidateInit{}, fmt.Errorf(`argument "candidate": %.60q does not start with "candidate:"`, c)
	}
	init := webrtc.ICECandidateInit{Candidate: c, SDPMid: a.SDPMid, SDPMLineIndex: a.SDPMLineIndex}
	if init.SDPMid == nil && init.SDPMLineIndex == nil {
		zero := uint16(0) // bundled: every m-section shares the first one's transport
		init.SDPMLineIndex = &zero
	}
	return a.Session, init, nil
}

func (m *Manager) handleOffer(ctx context.Context, args json.RawMessage) (any, error) {
	req, err := decodeOffer(args)
	if err != nil {
		return nil, err
	}
	req.RequestID = uplink.RequestID(ctx)
	return m.Offer(ctx, req)
}

func (m *Manager) handleCandidate(_ context.Context, args json.RawMessage) (any, error) {
	id, c, err := decodeCandidate(args)
	if err != nil {
		return nil, err
	}
	buffered, err := m.Candidate(id, c)
	if err != nil || !buffered {
		return nil, err
	}
	// The session's offer has not been answered (yet): the candidate
	// waits for it (at most 30 s).
	return map[string]bool{"buffered": true}, nil
}

func (m *Manager) handleClose(_ context.Context, args json.RawMessage) (any, error) {
	id, err := decodeSession(args)
	if err != nil {
		return nil, err
	}
	if err := m.Close(id); err != nil {
		return nil, err
	}
	return map[string]any{"closed": true}, nil
}

func (m *Manager) handleRenew(_ context.Context, args json.RawMessage) (any, error) {
	id, err := decodeSession(args)
	if err != nil {
		return nil, err
	}
	t, err := m.Renew(id)
	if err != nil {
		return nil, err
	}
	return map[string]time.Time{"expires": t}, nil
}

// handleStats answers one session's figures ({session}) or every
// session's ({} → {"sessions":[...]}).
func (m *Manager) handleStats(_ context.Context, args json.RawMessage) (any, error) {
	var a sessionArgs
	if err := uplink.DecodeArgs(args, &a); err != nil {
		return nil, err
	}
	if a.Session == "" {
		return map[string]any{"sessions": m.AllStats()}, nil
	}
	if err := checkSessionID(a.Session); err != nil {
		return nil, err
	}
	return m.Stats(a.Session)
}
