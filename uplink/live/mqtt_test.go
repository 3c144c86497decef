package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/pion/webrtc/v4"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/mqtttest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// noEvents is an event queue that stays empty: these tests are about
// commands, not events.
type noEvents struct{}

func (noEvents) Peek(uint64, int, int64) ([]uplink.Message, error) { return nil, nil }
func (noEvents) Ack(...uint64) error                               { return nil }
func (noEvents) Notify() <-chan struct{}                           { return nil }

// runUplink runs, until the test ends, a real uplink session of gateway
// "cong-khu-3" to brokerURL (logging in with user and password when
// login holds them) that serves m's commands, has no events to send and
// reports m's viewers in its telemetry.
func runUplink(t *testing.T, brokerURL string, m *Manager, login ...string) *uplink.Session {
	t.Helper()
	bu, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := uplink.Config{Broker: bu, Prefix: "antt", Gateway: "cong-khu-3", KeepAlive: 5 * time.Second,
		TelemetryInterval: time.Hour, ConnectTimeout: 5 * time.Second, Window: 8, Started: time.Now()}
	if len(login) == 2 {
		cfg.Username, cfg.Password = login[0], login[1]
	}
	r := uplink.NewRouter()
	m.Register(r)
	sess := uplink.New(cfg, noEvents{}, r, func() wire.Telemetry { return wire.Telemetry{Viewers: m.Viewers()} }, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sess.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return sess
}

// station is the station's side of the commands: a paho client that
// publishes cmd/{name} and waits for reply/{id}.
type station struct {
	c       mqtt.Client
	topics  wire.Topics
	replies chan mqtt.Message
}

func newStation(t *testing.T, broker string, topics wire.Topics, login ...string) *station {
	t.Helper()
	s := &station{topics: topics, replies: make(chan mqtt.Message, 16)}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID("station").SetAutoReconnect(false)
	if len(login) == 2 {
		o.SetUsername(login[0]).SetPassword(login[1])
	}
	s.c = mqtt.NewClient(o)
	if tok := s.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("station connect: %v", tok.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(100) })
	if tok := s.c.Subscribe(topics.Base()+wire.TopicReply+"/#", 1, func(_ mqtt.Client, m mqtt.Message) { s.replies <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("station subscribe: %v", tok.Error())
	}
	return s
}

// call sends a command and returns the reply's fields.
func (s *station) call(t *testing.T, name, id string, args map[string]any) map[string]json.RawMessage {
	t.Helper()
	args["id"] = id
	b, _ := json.Marshal(args)
	if tok := s.c.Publish(s.topics.Cmd(name), 1, false, b); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", name, tok.Error())
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-s.replies:
			if m.Topic() != s.topics.Reply(id) {
				continue
			}
			var r map[string]json.RawMessage
			if err := json.Unmarshal(m.Payload(), &r); err != nil {
				t.Fatalf("reply %s: %v", m.Payload(), err)
			}
			return r
		case <-deadline:
			t.Fatalf("no reply to %s %s", name, id)
		}
	}
}

// Signaling over MQTT through a real Mosquitto: the station sends
// live.offer for a pion viewer, the gateway's uplink session runs the
// handler, and the reply's answer connects; the same request id again
// gets the same answer; live.stats, live.renew and live.close work by
// session id; bad commands get ok:false naming the problem.
func TestLiveSignalingOverMQTT(t *testing.T) {
	t.Parallel()
	hub := startHub(t, "gate", digestCamera(t))
	m := startManager(t, Options{}, hub)
	broker := mqtttest.Start(t, mqtttest.Options{})
	topics := wire.Topics{Prefix: "antt", Gateway: "cong-khu-3"}
	sess := runUplink(t, broker.URL(), m)
	st := newStation(t, broker.URL(), topics)
	// Connected means subscribed to cmd/#: a command sent before would be lost.
	devtest.WaitFor(t, 10*time.Second, "the gateway's uplink", func() bool { return sess.State().Connected })

	v, offer := newPionViewer(t)
	ans := st.call(t, CmdOffer, "offer-1", map[string]any{"camera": "gate", "sdp": offer})
	if string(ans["ok"]) != "true" {
		t.Fatalf("live.offer: %s", ans["error"])
	}
	var session, sdp string
	_ = json.Unmarshal(ans["session"], &session)
	_ = json.Unmarshal(ans["sdp"], &sdp)
	v.session = session
	checkLoopbackSDP(t, sdp)
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		t.Fatal(err)
	}
	waitFrames(t, v, 25)
	v.check(t, 320, 180)

	again := st.call(t, CmdOffer, "offer-1", map[string]any{"camera": "gate", "sdp": offer})
	if string(again["session"]) != string(ans["session"]) || m.Viewers() != 1 {
		t.Errorf("repeated request id: session %s (first %s), %d viewers", again["session"], ans["session"], m.Viewers())
	}
	stats := st.call(t, CmdStats, "stats-1", map[string]any{"session": session})
	if string(stats["ok"]) != "true" || string(stats["camera"]) != `"gate"` {
		t.Errorf("live.stats: %v", stats)
	}
	renew := st.call(t, CmdRenew, "renew-1", map[string]any{"session": session})
	if string(renew["ok"]) != "true" || renew["expires"] == nil {
		t.Errorf("live.renew: %v", renew)
	}
	for i, bad := range []struct {
		name string
		args map[string]any
		text string
	}{
		{CmdOffer, map[string]any{"camera": "nope", "sdp": offer}, `unknown camera "nope"`},
		{CmdOffer, map[string]any{"camera": "gate", "sdp": "v=0"}, "bad offer"},
		{CmdOffer, map[string]any{"camera": "gate"}, `missing argument "sdp"`},
		{CmdOffer, map[string]any{"camera": "gate", "sdp": offer, "colour": "red"}, `unknown argument "colour"`},
		{CmdCandidate, map[string]any{"session": session, "candidate": "not a candidate"}, `does not start with "candidate:"`},
		{CmdCandidate, map[string]any{"session": session, "candidate": "candidate:1 1 udp x"}, "candidate"},
		{CmdClose, map[string]any{"session": "../x"}, "not a session id"},
		{CmdRenew, map[string]any{"session": strings.Repeat("0", 32)}, "unknown session"},
		{CmdOffer, map[string]any{"camera": "gate", "sdp": offer, "from": "yesterday"}, "not an RFC 3339 time"},
		{CmdOffer, map[string]any{"camera": "gate", "sdp": offer, "from": "2026-12-01T08:00:00Z"}, "no recording"},
		{CmdSeek, map[string]any{"session": session, "time": "noon"}, "not an RFC 3339 time"},
		{CmdSeek, map[string]any{"session": session, "time": "2026-12-01T08:00:00Z"}, "not a playback session"},
	} {
		r := st.call(t, bad.name, fmt.Sprintf("bad-%d", i), bad.args)
		var msg string
		_ = json.Unmarshal(r["error"], &msg)
		if string(r["ok"]) != "false" || !strings.Contains(msg, bad.text) {
			t.Errorf("%s %v: reply %v, want an error mentioning %q", bad.name, bad.args, r, bad.text)
		}
	}
	closed := st.call(t, CmdClose, "close-1", map[string]any{"session": session})
	if string(closed["ok"]) != "true" || m.Viewers() != 0 {
		t.Errorf("live.close: %v, %d viewers", closed, m.Viewers())
	}
}
