package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// splitCandidates returns sdp without its candidate lines, and those
// candidates ("candidate:..." values).
func splitCandidates(sdp string) (string, []string) {
	var b strings.Builder
	var cands []string
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if c, ok := strings.CutPrefix(line, "a="); ok && strings.HasPrefix(c, "candidate:") {
			cands = append(cands, c)
			continue
		}
		if line == "a=end-of-candidates" {
			continue
		}
		b.WriteString(line + "\r\n")
	}
	return b.String(), cands
}

// gatewayOverMQTT starts a Mosquitto, a Manager whose candidates go out
// through a real uplink session, and the station's client, which also
// collects the gateway's trickled candidates by session.
func gatewayOverMQTT(t *testing.T) (*Manager, *station, func(session string) []wire.LiveCandidateMsg) {
	hub := startHub(t, "gate", digestCamera(t))
	var sess *uplink.Session
	m := startManager(t, Options{Publish: func(ctx context.Context, levels string, qos byte, b []byte) error {
		return sess.Publish(ctx, levels, qos, b)
	}}, hub)
	// The documented Mosquitto ACL, with passwords: the candidate topic
	// must be one the gateway may publish and the station may read.
	acl, err := os.ReadFile(moduleFile(t, "docs/mosquitto/acl"))
	if err != nil {
		t.Fatal(err)
	}
	broker := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"station": "st-pw", "cong-khu-3": "gw-pw"}, ACL: string(acl)})
	topics := wire.Topics{Prefix: "antt", Gateway: "cong-khu-3"}
	sess = runUplink(t, broker.URL(), m, "cong-khu-3", "gw-pw")
	st := newStation(t, broker.URL(), topics, "station", "st-pw")
	var mu sync.Mutex
	got := map[string][]wire.LiveCandidateMsg{}
	tok := st.c.Subscribe(topics.LiveCandidateFilter(), 1, func(_ mqtt.Client, msg mqtt.Message) {
		var c wire.LiveCandidateMsg
		if err := json.Unmarshal(msg.Payload(), &c); err != nil || msg.Topic() != topics.LiveCandidate(c.Session) {
			t.Errorf("candidate message %s on %s: %v", msg.Payload(), msg.Topic(), err)
			return
		}
		mu.Lock()
		got[c.Session] = append(got[c.Session], c)
		mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe candidates: %v", tok.Error())
	}
	devtest.WaitFor(t, 10*time.Second, "the gateway's uplink", func() bool { return sess.State().Connected })
	return m, st, func(s string) []wire.LiveCandidateMsg {
		mu.Lock()
		defer mu.Unlock()
		return append([]wire.LiveCandidateMsg(nil), got[s]...)
	}
}

// trickleViewer offers through st under session id with trickle, its
// candidates sent before the offer (so the gateway must buffer them), and
// connects with the gateway's candidates from the topic only.
func trickleViewer(t *testing.T, st *station, cands func(string) []wire.LiveCandidateMsg, session, req string) *pionViewer {
	t.Helper()
	v, full := newPionViewer(t)
	v.session = session
	offer, mine := splitCandidates(full)
	if len(mine) == 0 {
		t.Fatal("the viewer gathered no candidate")
	}
	for i, c := range mine {
		r := st.call(t, CmdCandidate, fmt.Sprintf("%s-c%d", req, i), map[string]any{"session": session, "candidate": c, "sdp_mid": "0"})
		if string(r["ok"]) != "true" || string(r["buffered"]) != "true" {
			t.Fatalf("early live.candidate: %v, want ok and buffered", r)
		}
	}
	ans := st.call(t, CmdOffer, req, map[string]any{"camera": "gate", "sdp": offer, "session": session, "trickle": true})
	if string(ans["ok"]) != "true" || string(ans["session"]) != `"`+session+`"` {
		t.Fatalf("live.offer: %v", ans)
	}
	var sdp string
	_ = json.Unmarshal(ans["sdp"], &sdp)
	answer, _ := splitCandidates(sdp) // only the trickled candidates may connect
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	var msgs []wire.LiveCandidateMsg
	devtest.WaitFor(t, 15*time.Second, "the gateway's end of candidates", func() bool {
		msgs = cands(session)
		return len(msgs) > 0 && msgs[len(msgs)-1].Candidate == ""
	})
	var sdpCands []string
	for _, c := range msgs[:len(msgs)-1] {
		sdpCands = append(sdpCands, "a="+c.Candidate)
		mid := c.SDPMid
		if err := v.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: &mid}); err != nil {
			t.Fatalf("gateway candidate %q: %v", c.Candidate, err)
		}
	}
	checkLoopbackSDP(t, strings.Join(sdpCands, "\n"))
	return v
}

// Trickle both ways over MQTT: the viewer's candidates reach the gateway
// before its offer (buffered, then applied), the answer comes without
// waiting for gathering and the gateway's candidates follow on
// live/{session}/candidate, ending with an empty one; only trickled
// candidates are used, and the picture arrives. A new offer for the same
// session replaces the old one: still one viewer, and the new one plays.
func TestLiveTrickleOverMQTT(t *testing.T) {
	t.Parallel()
	m, st, cands := gatewayOverMQTT(t)
	session := strings.Repeat("ab", 16)
	v := trickleViewer(t, st, cands, session, "offer-t1")
	waitFrames(t, v, 25)
	v.check(t, 320, 180)

	// The viewer reloads: a new PeerConnection, the same session id.
	st2 := st
	v2 := trickleViewer(t, st2, func(s string) []wire.LiveCandidateMsg {
		all := cands(s)
		// The first offer's candidates end with its end marker: skip them.
		for i, c := range all {
			if c.Candidate == "" {
				return all[i+1:]
			}
		}
		return nil
	}, session, "offer-t2")
	waitFrames(t, v2, 25)
	if n := m.Viewers(); n != 1 {
		t.Errorf("after the replacing offer: %d viewers, want 1", n)
	}
	stats, err := m.Stats(session)
	if err != nil || stats.Frames == 0 {
		t.Errorf("stats of the new session: %+v, %v", stats, err)
	}

	// Bad early candidates are refused at once, not when an offer comes.
	r := st.call(t, CmdCandidate, "bad-early", map[string]any{"session": strings.Repeat("cd", 16), "candidate": "candidate:1 1 udp x"})
	if string(r["ok"]) != "false" {
		t.Errorf("malformed early candidate: %v, want ok:false", r)
	}
	// Trickle without a publisher is refused (the Manager in another test
	// has none); with bad session ids too.
	r = st.call(t, CmdOffer, "bad-session", map[string]any{"camera": "gate", "sdp": "v=0", "session": "xyz"})
	var msg string
	_ = json.Unmarshal(r["error"], &msg)
	if string(r["ok"]) != "false" || !strings.Contains(msg, "not a session id") {
		t.Errorf("offer with a bad session id: %v", r)
	}
}

// The early buffer is bounded: per session and in session ids, with
// errors naming the bound.
func TestLiveEarlyCandidatesBounded(t *testing.T) {
	t.Parallel()
	m := startManager(t, Options{}, fileHub(t, "gate"))
	c := webrtc.ICECandidateInit{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"}
	id := strings.Repeat("0", 31)
	for i := range maxEarlyCandidates {
		if b, err := m.Candidate(id+"1", c); err != nil || !b {
			t.Fatalf("candidate %d: buffered %v, %v", i, b, err)
		}
	}
	if _, err := m.Candidate(id+"1", c); err == nil || !strings.Contains(err.Error(), "wait for its offer") {
		t.Errorf("candidate over the per-session bound: %v", err)
	}
	for i := 2; i <= maxEarlySessions; i++ {
		if _, err := m.Candidate(fmt.Sprintf("%031x%x", 0, i), c); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	if _, err := m.Candidate(strings.Repeat("f", 32), c); err == nil || !strings.Contains(err.Error(), "wait for their offer") {
		t.Errorf("one session id over the bound: %v", err)
	}
	if _, err := m.Offer(context.Background(), OfferRequest{Camera: "gate", SDP: "v=0", Trickle: true}); err == nil {
		t.Error("trickle without Options.Publish: no error")
	}
}

// WHEP ICE restart: PATCH with If-Match: * and the viewer's new
// credentials gets 200, the gateway's new credentials and candidates and
// a new ETag; the viewer applies them and video goes on in the same
// session.
func TestLiveWHEPICERestart(t *testing.T) {
	t.Parallel()
	m := startManager(t, Options{}, startHub(t, "gate", digestCamera(t)))
	mux := http.NewServeMux()
	m.RegisterWHEP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	v, offer := newPionViewer(t)
	pc := v.pc
	resp, err := http.Post(srv.URL+"/api/cameras/gate/whep", "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	ans, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s %s", resp.Status, ans)
	}
	loc, etag := resp.Header.Get("Location"), resp.Header.Get("ETag")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(ans)}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, v, 10)

	// The viewer restarts ICE: new credentials, new candidates.
	re, err := pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(re); err != nil {
		t.Fatal(err)
	}
	<-gathered
	frag := sdpFrag(pc.LocalDescription().SDP)
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+loc, bytes.NewBufferString(frag))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("If-Match", "*")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag" {
		t.Fatalf("restart PATCH: %s %s", resp.Status, back)
	}
	if e := resp.Header.Get("ETag"); e == "" || e == etag {
		t.Errorf("ETag after restart %q, before %q: want a new one", e, etag)
	}
	oldUfrag := lineValue(string(ans), "a=ice-ufrag:")
	newUfrag, newPwd := lineValue(string(back), "a=ice-ufrag:"), lineValue(string(back), "a=ice-pwd:")
	if newUfrag == "" || newPwd == "" || newUfrag == oldUfrag {
		t.Fatalf("restart fragment %q: want new credentials (old ufrag %q)", back, oldUfrag)
	}
	// The viewer's answer: the old one with the new credentials and candidates.
	base, _ := splitCandidates(string(ans))
	var b strings.Builder
	for line := range strings.SplitSeq(base, "\r\n") {
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			line = "a=ice-ufrag:" + newUfrag
		case strings.HasPrefix(line, "a=ice-pwd:"):
			line = "a=ice-pwd:" + newPwd
		}
		b.WriteString(line + "\r\n")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: b.String()}); err != nil {
		t.Fatalf("restart answer: %v", err)
	}
	_, cs := splitCandidates(string(back))
	if len(cs) == 0 {
		t.Fatalf("restart fragment without candidates: %q", back)
	}
	checkLoopbackSDP(t, "a="+strings.Join(cs, "\na="))
	zero := "0"
	for _, c := range cs {
		if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c, SDPMid: &zero}); err != nil {
			t.Fatal(err)
		}
	}
	// The new generation is the one in use: its pair is selected and
	// frames keep coming in the same session.
	devtest.WaitFor(t, 15*time.Second, "a pair of the new ICE generation", func() bool {
		p, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		return err == nil && p != nil && pc.ICEConnectionState() == webrtc.ICEConnectionStateConnected &&
			strings.Contains(pc.RemoteDescription().SDP, newUfrag)
	})
	n := v.frames()
	waitFrames(t, v, n+25)
	if m.Viewers() != 1 {
		t.Errorf("%d viewers after the restart, want 1", m.Viewers())
	}
	// A stale ETag is refused now.
	req, _ = http.NewRequest(http.MethodPatch, srv.URL+loc, strings.NewReader("a=end-of-candidates\r\n"))
	req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
	req.Header.Set("If-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PATCH with the old ETag: %s, want 412", resp.Status)
	}
}

func lineValue(sdp, prefix string) string {
	for line := range strings.SplitSeq(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), prefix); ok {
			return v
		}
	}
	return ""
}
