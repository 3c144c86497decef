package live

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

// WHEP (draft-ietf-wish-whep) on the local API: an installer's laptop, or
// any WHEP player, watches a camera without the station.
//
//	POST    /api/cameras/{name}/whep            application/sdp offer → 201, answer, Location, ETag
//	OPTIONS /api/cameras/{name}/whep            → 204, Accept-Post, ICE servers as Link headers
//	PATCH   /api/cameras/{name}/whep/{session}  application/trickle-ice-sdpfrag → 204
//	DELETE  /api/cameras/{name}/whep/{session}  → 200
//
// The session id in the Location is 128 random bits: knowing it is what
// lets a client end or trickle into the session.
const whepBase = "/api/cameras/"

// RegisterWHEP adds the WHEP routes to mux.
// A client not on loopback must send Options.WHEPToken as a bearer token
// (and is refused when none is configured).
func (m *Manager) RegisterWHEP(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/cameras/{name}/whep", m.authorized(m.whepPost))
	mux.HandleFunc("OPTIONS /api/cameras/{name}/whep", m.authorized(m.whepOptions))
	mux.HandleFunc("PATCH /api/cameras/{name}/whep/{session}", m.authorized(m.whepPatch))
	mux.HandleFunc("DELETE /api/cameras/{name}/whep/{session}", m.authorized(m.whepDelete))
}

func whepError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// readBody checks the content type and reads at most limit bytes.
func readBody(w http.ResponseWriter, r *http.Request, want string, limit int64) ([]byte, bool) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != want {
		whepError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("whep: Content-Type %q: want %s", r.Header.Get("Content-Type"), want))
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			whepError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("whep: body over %d bytes", limit))
		} else {
			whepError(w, http.StatusBadRequest, "whep: reading the body: "+err.Error())
		}
		return nil, false
	}
	return b, true
}

func (m *Manager) whepPost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, ok := readBody(w, r, "application/sdp", MaxSDP)
	if !ok {
		return
	}
	// WHEP is on site (the local API): the main stream unless ?quality=low.
	q := r.URL.Query().Get("quality")
	req := OfferRequest{Camera: name, SDP: string(body), Quality: cmp.Or(q, "high"), Explicit: q != ""}
	if err := whepPlayback(&req, r.URL.Query()); err != nil {
		whepError(w, http.StatusBadRequest, "whep: "+err.Error())
		return
	}
	ans, err := m.Offer(r.Context(), req)
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrUnknownCamera), errors.Is(err, ErrNoRecording):
			code = http.StatusNotFound
		case errors.Is(err, ErrBadOffer), errors.Is(err, ErrUnsupportedCodec):
			code = http.StatusBadRequest
		case errors.Is(err, ErrTooManyViewers), errors.Is(err, ErrCameraNotReady), errors.Is(err, ErrClosed):
			code = http.StatusServiceUnavailable
		}
		whepError(w, code, "whep: "+err.Error())
		return
	}
	m.iceLinks(w)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", whepBase+url.PathEscape(name)+"/whep/"+ans.Session)
	w.Header().Set("ETag", `"`+ans.Session+`"`)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, ans.SDP)
}

// whepPlayback reads ?from=&to=&speed= (RFC 3339 times): a playback of the
// camera's recordings instead of its live stream.
func whepPlayback(req *OfferRequest, q url.Values) error {
	var err error
	if v := q.Get("from"); v != "" {
		if req.From, err = parseTime("from", v); err != nil {
			return err
		}
	}
	if v := q.Get("to"); v != "" {
		if req.To, err = parseTime("to", v); err != nil {
			return err
		}
	}
	if v := q.Get("speed"); v != "" {
		if req.Speed, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf(`argument "speed": %.10q is not a number`, v)
		}
	}
	return checkRange(req.From, req.To, req.Speed)
}

// iceLinks lists the configured ICE servers as the draft's Link headers.
// Servers with credentials (the gateway's own TURN account at the station)
// are left out: any client of the local API would otherwise learn them,
// and a viewer on the site's LAN does not need the station's relay.
func (m *Manager) iceLinks(w http.ResponseWriter) {
	for _, s := range m.opts.ICEServers {
		if s.Username != "" || s.Credential != "" {
			continue
		}
		for _, u := range s.URLs {
			w.Header().Add("Link", "<"+u+`>; rel="ice-server"`)
		}
	}
}

func (m *Manager) whepOptions(w http.ResponseWriter, r *http.Request) {
	if _, ok := m.opts.Cameras(r.PathValue("name")); !ok {
		whepError(w, http.StatusNotFound, fmt.Sprintf("whep: %v %q", ErrUnknownCamera, r.PathValue("name")))
		return
	}
	w.Header().Set("Allow", "OPTIONS, POST")
	w.Header().Set("Accept-Post", "application/sdp")
	m.iceLinks(w)
	w.WriteHeader(http.StatusNoContent)
}

// session finds the path's session and checks it belongs to the path's camera.
func (m *Manager) whepSession(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("session")
	if err := checkSessionID(id); err != nil {
		whepError(w, http.StatusNotFound, "whep: no such session")
		return "", false
	}
	s, err := m.lookup(id)
	if err != nil || s.camera != r.PathValue("name") {
		whepError(w, http.StatusNotFound, "whep: no such session")
		return "", false
	}
	return id, true
}

func (m *Manager) whepDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := m.whepSession(w, r)
	if !ok {
		return
	}
	if err := m.Close(id); err != nil {
		whepError(w, http.StatusNotFound, "whep: "+err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

// whepPatch applies trickled candidates, or with If-Match: * restarts
// ICE (whepRestart).
func (m *Manager) whepPatch(w http.ResponseWriter, r *http.Request) {
	id, ok := m.whepSession(w, r)
	if !ok {
		return
	}
	restart := r.Header.Get("If-Match") == "*"
	if im := r.Header.Get("If-Match"); im != "" && !restart {
		if s, err := m.lookup(id); err != nil || im != s.etag() {
			whepError(w, http.StatusPreconditionFailed, "whep: ETag does not match the session")
			return
		}
	}
	body, ok := readBody(w, r, "application/trickle-ice-sdpfrag", 16<<10)
	if !ok {
		return
	}
	cands, err := parseSDPFrag(string(body))
	if err != nil {
		whepError(w, http.StatusBadRequest, "whep: "+err.Error())
		return
	}
	if restart {
		m.whepRestart(w, r, id, string(body), cands)
		return
	}
	for _, c := range cands {
		if _, err := m.Candidate(id, c); err != nil {
			whepError(w, http.StatusBadRequest, "whep: "+err.Error())
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseSDPFrag reads the candidates of a trickle-ice-sdpfrag body (RFC
// 8840): a=candidate lines, each applied to the m-section (a=mid) above it.
// a=end-of-candidates gives an empty candidate.
func parseSDPFrag(body string) ([]webrtc.ICECandidateInit, error) {
	var out []webrtc.ICECandidateInit
	var mid *string
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=mid:"):
			v := strings.TrimPrefix(line, "a=mid:")
			mid = &v
		case strings.HasPrefix(line, "a=candidate:"):
			c := strings.TrimPrefix(line, "a=")
			if len(c) > 512 {
				return nil, fmt.Errorf("sdpfrag line %d: candidate longer than 512 bytes", i+1)
			}
			init := webrtc.ICECandidateInit{Candidate: c, SDPMid: mid}
			if mid == nil {
				zero := uint16(0)
				init.SDPMLineIndex = &zero
			}
			out = append(out, init)
		case line == "a=end-of-candidates":
			zero := uint16(0)
			out = append(out, webrtc.ICECandidateInit{SDPMid: mid, SDPMLineIndex: &zero})
		case len(line) > 1 && line[1] == '=' && strings.ContainsRune("amc", rune(line[0])):
			// a=ice-ufrag, a=ice-pwd, m=, c=: known lines this phase ignores
		default:
			return nil, fmt.Errorf("sdpfrag line %d: %.60q is not an SDP line", i+1, line)
		}
	}
	if len(out) > 64 {
		return nil, fmt.Errorf("sdpfrag: %d candidates, at most 64", len(out))
	}
	return out, nil
}

// whepRestart answers an ICE restart: the fragment's a=ice-ufrag and
// a=ice-pwd are the viewer's new credentials, its candidates (if any) are
// of the new generation. The answer is 200 with the gateway's new
// credentials and candidates as a fragment, and a new ETag.
func (m *Manager) whepRestart(w http.ResponseWriter, r *http.Request, id, body string, cands []webrtc.ICECandidateInit) {
	var ufrag, pwd string
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if v, ok := strings.CutPrefix(line, "a=ice-ufrag:"); ok {
			ufrag = v
		} else if v, ok := strings.CutPrefix(line, "a=ice-pwd:"); ok {
			pwd = v
		}
	}
	frag, err := m.Restart(r.Context(), id, ufrag, pwd)
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrBadOffer):
			code = http.StatusBadRequest
		case errors.Is(err, ErrUnknownSession):
			code = http.StatusNotFound
		}
		whepError(w, code, "whep: "+err.Error())
		return
	}
	for _, c := range cands {
		if _, err := m.Candidate(id, c); err != nil {
			whepError(w, http.StatusBadRequest, "whep: "+err.Error())
			return
		}
	}
	s, err := m.lookup(id)
	if err != nil {
		whepError(w, http.StatusNotFound, "whep: no such session")
		return
	}
	w.Header().Set("Content-Type", "application/trickle-ice-sdpfrag")
	w.Header().Set("ETag", s.etag())
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, frag)
}
