package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Bounds of the candidates kept for sessions whose offer has not been
// answered yet (the station's live.candidate commands may be handled
// before its live.offer: the gateway runs commands concurrently).
const (
	// maxEarlySessions bounds the session ids with buffered candidates.
	maxEarlySessions = 16
	// maxEarlyCandidates bounds the candidates buffered per session: a
	// browser gathers a few host, srflx and relay candidates per network.
	maxEarlyCandidates = 32
	// earlyTTL is how long buffered candidates wait for their offer.
	earlyTTL = 30 * time.Second
	// trickleQueue bounds the gateway's candidates waiting to be published.
	trickleQueue = 64
	// CandidateQoS is the QoS of the gateway's trickled candidates: a lost
	// candidate can lose the only working path, and QoS 0 is lost on any
	// reconnect of a 4G link.
	CandidateQoS = 1
)

// early holds a session's candidates that came before its offer.
type early struct {
	cands   []webrtc.ICECandidateInit
	expires time.Time
}

// checkCandidate parses a candidate's syntax, so that a bad one is refused
// when it arrives, not when (and if) its offer comes. It returns the
// candidate's ufrag extension, if it has one.
func checkCandidate(c webrtc.ICECandidateInit) (ufrag string, err error) {
	if c.Candidate == "" {
		return "", nil
	}
	cand, err := ice.UnmarshalCandidate(c.Candidate)
	if err != nil {
		return "", fmt.Errorf("candidate %.60q: %w", c.Candidate, err)
	}
	if e, ok := cand.GetExtension("ufrag"); ok {
		ufrag = e.Value
	}
	return ufrag, nil
}

// stale reports whether a candidate with ufrag belongs to another
// generation than the session's remote description: a reloaded viewer
// sending for its next offer under the same session id.
func (s *session) stale(ufrag string) bool {
	if ufrag == "" {
		return false
	}
	rd := s.pc.RemoteDescription()
	return rd != nil && !strings.Contains(rd.SDP, "a=ice-ufrag:"+ufrag+"\r\n") && !strings.Contains(rd.SDP, "a=ice-ufrag:"+ufrag+"\n")
}

// buffer keeps c for session id until its offer is answered. Called with
// m.mu held.
func (m *Manager) buffer(id string, c webrtc.ICECandidateInit, now time.Time) error {
	for k, e := range m.early {
		if now.After(e.expires) {
			delete(m.early, k)
		}
	}
	e := m.early[id]
	if e == nil {
		if len(m.early) >= maxEarlySessions {
			return fmt.Errorf("%w %q: and %d sessions already wait for their offer", ErrUnknownSession, id, maxEarlySessions)
		}
		e = &early{expires: now.Add(earlyTTL)}
		m.early[id] = e
	}
	if len(e.cands) >= maxEarlyCandidates {
		return fmt.Errorf("session %s: %d candidates already wait for its offer", id, maxEarlyCandidates)
	}
	e.cands = append(e.cands, c)
	return nil
}

// takeEarly returns and forgets the candidates buffered for id. Called
// with m.mu held.
func (m *Manager) takeEarly(id string) []webrtc.ICECandidateInit {
	e := m.early[id]
	delete(m.early, id)
	if e == nil || time.Now().After(e.expires) {
		return nil
	}
	return e.cands
}

// applyEarly adds candidates that came before the session's offer.
func (s *session) applyEarly(cands []webrtc.ICECandidateInit) {
	for _, c := range cands {
		if err := s.pc.AddICECandidate(c); err != nil {
			s.m.log.Warn("live: early candidate refused", "session", s.id, "err", err)
		}
	}
}

// gatherTrickle makes pc hand each gathered candidate to the session's
// queue (nil at the end); trickle publishes them. Set before
// SetLocalDescription so that none is missed.
func (s *session) gatherTrickle() {
	s.cands = make(chan *webrtc.ICECandidate, trickleQueue)
	s.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		select {
		case s.cands <- c:
		default:
			s.m.log.Warn("live: trickle queue full, candidate dropped", "session", s.id)
		}
	})
}

// trickle publishes the session's gathered candidates on
// {prefix}/{gateway}/live/{session}/candidate until the end of them, the
// session's end or ctx's.
func (s *session) trickle(ctx context.Context) {
	topic := wire.LiveCandidateLevels(s.id)
	for {
		var c *webrtc.ICECandidate
		select {
		case c = <-s.cands:
		case <-s.done:
			return
		case <-ctx.Done():
			return
		}
		msg := wire.LiveCandidateMsg{Session: s.id}
		if c != nil {
			init := c.ToJSON()
			msg.Candidate = init.Candidate
			if init.SDPMid != nil {
				msg.SDPMid = *init.SDPMid
			}
			if init.SDPMLineIndex != nil {
				msg.SDPMLineIndex = *init.SDPMLineIndex
			}
			if c.Typ == webrtc.ICECandidateTypeRelay {
				s.relayed.Store(true)
			}
		} else if s.m.opts.ForceRelay && !s.relayed.Load() {
			s.m.log.Warn("live: force_relay is set but no relay candidate was gathered: check live.ice_servers", "session", s.id)
		}
		b, err := json.Marshal(msg)
		if err == nil {
			err = s.m.opts.Publish(ctx, topic, CandidateQoS, b)
		}
		if err != nil {
			s.m.log.Warn("live: publish candidate", "session", s.id, "err", err)
		}
		if c == nil {
			return
		}
	}
}

// Restart answers a viewer's ICE restart (WHEP PATCH with If-Match: *):
// the viewer's new ICE username fragment and password replace the old
// ones in its offer, the PeerConnection renegotiates (pion restarts ICE
// when the remote credentials change) and the gateway's new credentials
// and candidates come back as an RFC 8840 fragment. The media, the DTLS
// association and the session id stay.
func (m *Manager) Restart(ctx context.Context, id, ufrag, pwd string) (string, error) {
	if ufrag == "" || pwd == "" {
		return "", fmt.Errorf("%w: an ICE restart needs a=ice-ufrag and a=ice-pwd", ErrBadOffer)
	}
	s, err := m.lookup(id)
	if err != nil {
		return "", err
	}
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	rd := s.pc.RemoteDescription()
	if rd == nil {
		return "", errors.New("live: ICE restart: the session has no remote description")
	}
	var b strings.Builder
	for line := range strings.SplitSeq(rd.SDP, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + ufrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + pwd
		case strings.HasPrefix(line, "a=candidate:"), line == "a=end-of-candidates":
			continue // the old generation's; new ones are trickled
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	if err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: b.String()}); err != nil {
		return "", fmt.Errorf("%w: ICE restart: %v", ErrBadOffer, err)
	}
	ans, err := s.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("live: ICE restart: answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(s.pc)
	if err := s.pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("live: ICE restart: set answer: %w", err)
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-gathered:
	case <-gctx.Done():
		return "", fmt.Errorf("live: ICE restart: gathering candidates: %w", gctx.Err())
	}
	s.generation.Add(1)
	return sdpFrag(s.pc.LocalDescription().SDP), nil
}

// sdpFrag cuts the ICE part of a local description into an RFC 8840
// fragment: credentials, then the first m-section's mid and candidates
// (the session is bundled: every section shares that transport).
func sdpFrag(sdp string) string {
	var ufrag, pwd, mline, mid string
	var cands []string
	media := 0
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "m="):
			media++
			if media == 1 {
				mline = line
			}
		case strings.HasPrefix(line, "a=ice-ufrag:") && ufrag == "":
			ufrag = line
		case strings.HasPrefix(line, "a=ice-pwd:") && pwd == "":
			pwd = line
		case media == 1 && strings.HasPrefix(line, "a=mid:") && mid == "":
			mid = line
		case media == 1 && strings.HasPrefix(line, "a=candidate:"):
			cands = append(cands, line)
		}
	}
	var b strings.Builder
	for _, l := range append([]string{ufrag, pwd, mline, mid}, cands...) {
		if l != "" {
			b.WriteString(l + "\r\n")
		}
	}
	b.WriteString("a=end-of-candidates\r\n")
	return b.String()
}
