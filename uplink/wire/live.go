package wire

// TopicLive is the level under which live-view sessions publish their
// trickled ICE candidates: {prefix}/{gateway}/live/{session}/candidate.
const TopicLive = "live"

// LiveCandidateLevels is the topic below the gateway's base on which the
// gateway publishes its ICE candidates for a live session.
func LiveCandidateLevels(session string) string { return TopicLive + "/" + session + "/candidate" }

// LiveCandidate is the full topic of session's gateway candidates.
func (t Topics) LiveCandidate(session string) string { return t.Base() + LiveCandidateLevels(session) }

// LiveCandidateFilter subscribes to the candidates of every live session
// of this gateway.
func (t Topics) LiveCandidateFilter() string { return t.Base() + TopicLive + "/+/candidate" }

// LiveCandidateMsg is the payload on a live candidate topic: one ICE
// candidate ("candidate:..." as in SDP) of the gateway for session, or an
// empty Candidate for the end of them.
type LiveCandidateMsg struct {
	Session       string `json:"session"`
	Candidate     string `json:"candidate"`
	SDPMid        string `json:"sdp_mid,omitempty"`
	SDPMLineIndex uint16 `json:"sdp_mline_index"`
}

// LiveEndLevels is the topic below the gateway's base on which a playback
// session (live.offer with "from") says why it closed by itself: the end
// of its range or of the recordings.
func LiveEndLevels(session string) string { return TopicLive + "/" + session + "/end" }

// LiveEnd is the full topic of session's end notice.
func (t Topics) LiveEnd(session string) string { return t.Base() + LiveEndLevels(session) }

// LiveEndMsg is the payload on a live end topic.
type LiveEndMsg struct {
	Session string `json:"session"`
	Reason  string `json:"reason"`
}
