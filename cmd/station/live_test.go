package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
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
