package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/console"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

const testSession = "0123456789abcdef0123456789abcdef"

// The candidates the gateways publish are read from outside: the decoder
// refuses what is not a candidate of the topic's own session.
func TestDecodeCandidate(t *testing.T) {
	topic := "antt/cong-khu-3/live/" + testSession + "/candidate"
	gw, m, err := decodeCandidate("antt", topic, []byte(`{"session":"`+testSession+`","candidate":"candidate:1 1 udp 1 127.0.0.1 5 typ host","sdp_mid":"0","sdp_mline_index":0}`))
	if err != nil || gw != "cong-khu-3" || m.SDPMid != "0" || !strings.HasPrefix(m.Candidate, "candidate:1") {
		t.Fatalf("%s %+v %v", gw, m, err)
	}
	if _, m, err := decodeCandidate("antt", topic, []byte(`{"session":"`+testSession+`","candidate":""}`)); err != nil || m.Candidate != "" {
		t.Errorf("end of candidates: %+v %v", m, err)
	}
	for _, tc := range []struct{ topic, payload, want string }{
		{"other/cong-khu-3/live/" + testSession + "/candidate", `{}`, "not under"},
		{"antt/cong-khu-3/live/xyz/candidate", `{}`, "not a session id"},
		{"antt/cong-khu-3/event", `{}`, "not a live candidate topic"},
		{topic, `{"session":"ffffffffffffffffffffffffffffffff"}`, "on the topic of"},
		{topic, `not json`, "candidate of cong-khu-3"},
		{topic, `{"session":"` + testSession + `","candidate":"a=evil"}`, "not an ICE candidate"},
		{topic, `{"session":"` + testSession + `","candidate":"candidate:1\r\na=x"}`, "not an ICE candidate"},
		{topic, `{"session":"` + testSession + `","candidate":"","sdp_mid":"a b"}`, "sdp_mid"},
		{topic, strings.Repeat(" ", maxCandidatePayload+1), "over"},
	} {
		if _, _, err := decodeCandidate("antt", tc.topic, []byte(tc.payload)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want %q", tc.topic, tc.payload, err, tc.want)
		}
	}
}

func FuzzDecodeCandidate(f *testing.F) {
	f.Add("antt/cong-khu-3/live/"+testSession+"/candidate", []byte(`{"session":"`+testSession+`","candidate":"candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host","sdp_mid":"0","sdp_mline_index":0}`))
	f.Add("antt/cong-khu-3/live/"+testSession+"/candidate", []byte(`{"session":"`+testSession+`","candidate":""}`))
	f.Add("antt/x/live//candidate", []byte(`{}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		gw, m, err := decodeCandidate("antt", topic, payload)
		if err != nil {
			return
		}
		if gw == "" || len(m.Session) != 32 || !strings.Contains(topic, "/"+m.Session+"/") ||
			(m.Candidate != "" && !strings.HasPrefix(m.Candidate, "candidate:")) || strings.ContainsAny(m.Candidate, "\r\n") {
			t.Fatalf("accepted %q %q as %s %+v", topic, payload, gw, m)
		}
	})
}

// Bad TURN flags are errors naming the flag; -turn "" is no TURN server.
func TestTURNFlags(t *testing.T) {
	parse := func(args ...string) *liveFlags {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := registerLiveFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}
	log := slog.New(slog.DiscardHandler)
	if ts, err := startTURN(parse("-turn", ""), "127.0.0.1", nil, log, io.Discard); ts != nil || err != nil {
		t.Errorf(`-turn "": %v %v`, ts, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-turn", "nohost", "-turn-tls", ""}, "-turn/-turn-tls"},
		{[]string{"-turn", "127.0.0.1:0", "-turn-tls", "", "-turn-ports", "9-1"}, "-turn-ports"},
		{[]string{"-turn", "127.0.0.1:0", "-turn-tls", "", "-turn-per-user", "0"}, "-turn-per-user"},
		{[]string{"-turn", "127.0.0.1:0", "-turn-tls", "", "-turn-relay-ip", "0.0.0.0"}, "-turn-relay-ip"},
	} {
		ts, err := startTURN(parse(tc.args...), "127.0.0.1", nil, log, io.Discard)
		if ts != nil {
			_ = ts.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
	ts, err := startTURN(parse("-turn", "127.0.0.1:0", "-turn-tls", ""), "127.0.0.1", nil, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	if ice := (&stationLive{turn: ts}).ICEServers("an", 60e9); len(ice) != 1 || !strings.HasPrefix(ice[0].URLs[0], "turn:127.0.0.1:") ||
		!strings.HasSuffix(ice[0].Username, ":an") {
		t.Errorf("ICE servers %+v", ice)
	}
}

// With an external broker (Mosquitto with the project's ACL, the station's
// own user) the gateways' candidates reach the live view waiting for
// them through the station's second client; a gateway cannot publish
// candidates under another gateway's id.
func TestLiveCandidatesExternalMosquitto(t *testing.T) {
	acl, err := os.ReadFile(filepath.Join("..", "..", "docs", "mosquitto", "acl"))
	if err != nil {
		t.Fatal(err)
	}
	b := mqtttest.Start(t, mqtttest.Options{ACL: string(acl),
		Users: map[string]string{"station": "st-pw", "cong-khu-3": "gw-pw", "truong": "gw2-pw"}})
	c := &candidates{prefix: "antt", log: slog.New(slog.DiscardHandler), watchers: map[string]func(wire.LiveCandidateMsg){}}
	got := make(chan wire.LiveCandidateMsg, 16)
	defer c.watch("cong-khu-3", testSession, func(m wire.LiveCandidateMsg) { got <- m })()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx, console.Config{Broker: b.URL(), Username: "station", Password: "st-pw", ClientID: "antt-station"})
	}()
	defer func() { cancel(); <-done }()

	pub := func(user, pw, gw, cand string) {
		cl := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID(user).SetUsername(user).SetPassword(pw))
		if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", user, tok.Error())
		}
		defer cl.Disconnect(100)
		body := `{"session":"` + testSession + `","candidate":"` + cand + `","sdp_mid":"0","sdp_mline_index":0}`
		cl.Publish("antt/"+gw+"/live/"+testSession+"/candidate", 1, false, body).WaitTimeout(5 * time.Second)
	}
	const forged = "candidate:9 1 udp 1 10.9.9.9 9 typ host"
	const real = "candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host"
	var first wire.LiveCandidateMsg
	devtest.WaitFor(t, 20*time.Second, "a candidate through Mosquitto", func() bool {
		pub("truong", "gw2-pw", "cong-khu-3", forged) // refused by the ACL
		pub("cong-khu-3", "gw-pw", "cong-khu-3", real)
		select {
		case first = <-got:
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})
	// Everything that arrived is the gateway's own candidate: the forged
	// ones, published before each, never came through.
	msgs := []wire.LiveCandidateMsg{first}
	for drained := false; !drained; {
		select {
		case m := <-got:
			msgs = append(msgs, m)
		case <-time.After(300 * time.Millisecond):
			drained = true
		}
	}
	for _, m := range msgs {
		if m.Candidate != real || m.Session != testSession {
			t.Fatalf("candidate %+v", m)
		}
	}

	// A playback's end notice comes through the same client; a forged
	// one of another gateway does not.
	ends := make(chan wire.LiveEndMsg, 16)
	defer c.watchEnd("cong-khu-3", testSession, func(m wire.LiveEndMsg) { ends <- m })()
	pubEnd := func(user, pw, reason string) {
		cl := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID(user).SetUsername(user).SetPassword(pw))
		if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", user, tok.Error())
		}
		defer cl.Disconnect(100)
		cl.Publish("antt/cong-khu-3/live/"+testSession+"/end", 1, false, `{"session":"`+testSession+`","reason":"`+reason+`"}`).WaitTimeout(5 * time.Second)
	}
	pubEnd("truong", "gw2-pw", "forged")
	pubEnd("cong-khu-3", "gw-pw", "playback reached the end of the recordings")
	select {
	case m := <-ends:
		if m.Reason != "playback reached the end of the recordings" {
			t.Fatalf("end notice %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no end notice through Mosquitto")
	}
	select {
	case m := <-ends:
		t.Fatalf("a second end notice %+v", m)
	case <-time.After(300 * time.Millisecond):
	}
}

// The playbacks' end notices are read from outside too: the decoder
// refuses what is not a notice of the topic's own session.
func TestDecodeEnd(t *testing.T) {
	topic := "antt/cong-khu-3/live/" + testSession + "/end"
	gw, m, err := decodeEnd("antt", topic, []byte(`{"session":"`+testSession+`","reason":"playback reached the end of the asked range"}`))
	if err != nil || gw != "cong-khu-3" || m.Reason != "playback reached the end of the asked range" {
		t.Fatalf("%s %+v %v", gw, m, err)
	}
	for _, tc := range []struct{ topic, payload, want string }{
		{"other/cong-khu-3/live/" + testSession + "/end", `{}`, "not under"},
		{"antt/cong-khu-3/live/xyz/end", `{}`, "not a session id"},
		{"antt/cong-khu-3/live/" + testSession + "/candidate", `{}`, "not a live end topic"},
		{topic, `{"session":"ffffffffffffffffffffffffffffffff"}`, "on the topic of"},
		{topic, `not json`, "end notice of cong-khu-3"},
		{topic, `{"session":"` + testSession + `","reason":"a\nb"}`, "line breaks"},
		{topic, `{"session":"` + testSession + `","reason":"` + strings.Repeat("x", 301) + `"}`, "reason of 301 bytes"},
		{topic, strings.Repeat(" ", maxEndPayload+1), "over"},
	} {
		if _, _, err := decodeEnd("antt", tc.topic, []byte(tc.payload)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want %q", tc.topic, tc.payload, err, tc.want)
		}
	}
}

func FuzzDecodeEnd(f *testing.F) {
	f.Add("antt/cong-khu-3/live/"+testSession+"/end", []byte(`{"session":"`+testSession+`","reason":"playback reached the end of the recordings"}`))
	f.Add("antt/x/live//end", []byte(`{}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		gw, m, err := decodeEnd("antt", topic, payload)
		if err != nil {
			return
		}
		if gw == "" || len(m.Session) != 32 || !strings.HasSuffix(topic, "/"+m.Session+"/end") || len(m.Reason) > 300 || strings.ContainsAny(m.Reason, "\r\n") {
			t.Fatalf("accepted %q %q as %s %+v", topic, payload, gw, m)
		}
	})
}
