package live

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/antt-gateway/antt/device/camera"
)

// The seeds in testdata/fuzz hold real offers (Chromium's and pion's) and
// the commands a station sends; these add the edge cases.

var fuzzTracks = []camera.Track{
	{Kind: camera.Video, Codec: camera.H264, ClockRate: 90000, SPS: []byte{0x67, 0x64, 0x00, 0x1f}},
	{Kind: camera.Audio, Codec: camera.PCMA, ClockRate: 8000, Channels: 1},
}

// checkChoice asserts what choose promises for any offer it accepts.
func checkChoice(t *testing.T, off map[string][]offered, ch choice) {
	if ch.video == nil && ch.audio == nil {
		t.Fatal("choose accepted an offer and chose nothing")
	}
	if ch.video != nil && (ch.video.name != "H264" || !ch.video.mode1) {
		t.Fatalf("chose video %+v for an H.264 camera", ch.video)
	}
	if ch.audio != nil && ch.audio.name != "PCMA" {
		t.Fatalf("chose audio %+v for a PCMA camera", ch.audio)
	}
	_ = off
}

// FuzzParseOffer: any SDP is refused with ErrBadOffer or parsed; what
// parses either yields codecs for the camera or a clear refusal.
func FuzzParseOffer(f *testing.F) {
	f.Add("")
	f.Add("v=0\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=640c1f\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 8 0\r\na=mid:0\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		off, err := parseOffer(sdp)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		ch, err := choose("cam", fuzzTracks, off)
		if err == nil {
			checkChoice(t, off, ch)
		}
	})
}

// FuzzDecodeOffer: live.offer's arguments, as the station sends them.
func FuzzDecodeOffer(f *testing.F) {
	f.Add([]byte(`{"camera":"gate","sdp":"v=0\r\n"}`))
	f.Add([]byte(`{"camera":"gate","sdp":"v=0","quality":"low","ice_servers":[{"urls":["turn:station.local:3478"],"username":"1700000000:gw","credential":"x"}]}`))
	f.Add([]byte(`{"camera":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, args []byte) {
		req, err := decodeOffer(json.RawMessage(args))
		if err != nil {
			return
		}
		if req.Camera == "" || req.SDP == "" || len(req.ICEServers) > maxICEServers {
			t.Fatalf("accepted %+v", req)
		}
		if off, err := parseOffer(req.SDP); err == nil {
			if ch, err := choose(req.Camera, fuzzTracks, off); err == nil {
				checkChoice(t, off, ch)
			}
		}
	})
}

// FuzzSessionCommands: live.candidate, live.close, live.renew arguments.
func FuzzSessionCommands(f *testing.F) {
	f.Add([]byte(`{"session":"0123456789abcdef0123456789abcdef","candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}`))
	f.Add([]byte(`{"session":"0123456789abcdef0123456789abcdef","candidate":"","sdp_mid":"0"}`))
	f.Add([]byte(`{"session":"../../x"}`))
	f.Fuzz(func(t *testing.T, args []byte) {
		if id, c, err := decodeCandidate(json.RawMessage(args)); err == nil {
			if checkSessionID(id) != nil || (c.Candidate != "" && !strings.HasPrefix(c.Candidate, "candidate:")) {
				t.Fatalf("accepted %q %+v", id, c)
			}
		}
		if id, err := decodeSession(json.RawMessage(args)); err == nil && checkSessionID(id) != nil {
			t.Fatalf("accepted session %q", id)
		}
	})
}

// FuzzSDPFrag: the body of a WHEP PATCH.
func FuzzSDPFrag(f *testing.F) {
	f.Add("a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n")
	f.Add("a=ice-ufrag:abcd\r\na=ice-pwd:x\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=end-of-candidates\r\n")
	f.Add("hello")
	f.Fuzz(func(t *testing.T, body string) {
		cs, err := parseSDPFrag(body)
		if err != nil {
			return
		}
		if len(cs) > 64 {
			t.Fatalf("%d candidates accepted", len(cs))
		}
		for _, c := range cs {
			if c.Candidate != "" && !strings.HasPrefix(c.Candidate, "candidate:") {
				t.Fatalf("candidate %q", c.Candidate)
			}
		}
	})
}

var (
	fuzzManagerOnce sync.Once
	fuzzManager     *Manager
	fuzzMux         *http.ServeMux
)

// FuzzWHEP sends any request to the WHEP routes of a Manager with no
// cameras: every answer is one of the documented statuses, with a reason.
func FuzzWHEP(f *testing.F) {
	f.Add("POST", "/api/cameras/gate/whep", "application/sdp", []byte("v=0\r\n"))
	f.Add("OPTIONS", "/api/cameras/gate/whep", "", []byte(nil))
	f.Add("PATCH", "/api/cameras/gate/whep/0123456789abcdef0123456789abcdef", "application/trickle-ice-sdpfrag", []byte("a=mid:0\r\n"))
	f.Add("DELETE", "/api/cameras/gate/whep/zz", "", []byte(nil))
	f.Add("POST", "/api/cameras/gate/whep", "text/plain", []byte("x"))
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte) {
		fuzzManagerOnce.Do(func() {
			m, err := New(Options{Cameras: func(string) (*camera.Hub, bool) { return nil, false },
				LoopbackCandidates: true, Interfaces: []string{"lo"}, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			fuzzManager, fuzzMux = m, http.NewServeMux()
			m.RegisterWHEP(fuzzMux)
		})
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t") || strings.ContainsAny(method, " \r\n\t/") || method == "" {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path = path
		req.RemoteAddr = "127.0.0.1:40000" // a loopback client: the handlers, not the token check, are fuzzed
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		fuzzMux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusNoContent, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusNotImplemented, http.StatusPreconditionFailed:
			if rec.Body.Len() == 0 {
				t.Fatalf("%s %s: %d without a reason", method, path, rec.Code)
			}
		default:
			t.Fatalf("%s %s (%s): status %d: %s", method, path, ctype, rec.Code, rec.Body)
		}
	})
}
