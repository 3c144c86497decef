package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/mqtttest"
)

// startExternalStation runs `station run -broker mqtt://broker` and waits
// until its store is open and its persistent session subscribed.
func startExternalStation(t testing.TB, data, broker string) *proc {
	t.Helper()
	bin, _ := binaries(t)
	p := startProc(t, "station", nil, bin, "run", "-data", data, "-broker", "mqtt://"+broker)
	devtest.WaitFor(t, 30*time.Second, "station: store open, subscribed", func() bool {
		if p.exited() {
			t.Fatalf("station exited during start (code %d):\n%s", p.cmd.ProcessState.ExitCode(), e2eTail(p.stderr))
		}
		out := p.stderr.String()
		return strings.Contains(out, "station: store open") && strings.Contains(out, "station: subscribed")
	})
	return p
}

// printed reports whether the station's console printed the event line of
// gw's seq (`... gw #seq kind ...` on stdout).
func (p *proc) printed(gw string, seq uint64) bool {
	b, err := os.ReadFile(p.stdout)
	if err != nil {
		return false
	}
	return regexp.MustCompile(`\s` + regexp.QuoteMeta(gw) + `\s+#` + fmt.Sprint(seq) + `\s`).Match(b)
}

// TestExternalMosquittoStationKill: with an external broker — Mosquitto
// with persistence, as docs/deploy.md configures it — the station's
// persistent QoS 1 session is the path, acknowledged only after the
// store's commit. A gateway drains a 5,000-event backlog (1,500 under
// -short) into Mosquitto; the station is killed with SIGKILL during the
// drain, so the rest queues in Mosquitto for the station's session;
// Mosquitto is restarted with that queue (saved at its clean stop), and
// the station started again. Every seq ends up in the store.
func TestExternalMosquittoStationKill(t *testing.T) {
	t.Parallel()
	backlog := 5000
	if testing.Short() {
		backlog = 1500
	}
	const gw = "truong-th-chi-dam"
	dir := t.TempDir()
	gwData, stData := filepath.Join(dir, "gw"), filepath.Join(dir, "station")
	prefill(t, filepath.Join(gwData, device.OutboxFile), gw, backlog, gatewayMaxBytes)
	br := mqtttest.Start(t, mqtttest.Options{Persistence: true,
		Extra: []string{"max_inflight_messages 64", "queue_qos0_messages false"}})
	// The station's session must exist before the gateway publishes:
	// Mosquitto queues only for subscriptions it knows.
	st := startExternalStation(t, stData, br.Addr())

	api := devtest.FreeAddr(t)
	cfg := writeGatewayConfig(t, dir, gw, gwData, br.Addr(), api, "", "")
	g := startBinGateway(t, cfg, api)
	total := backlog + 1 // and the boot event
	delivered := func() int { return total - g.status(t).Outbox.Depth }

	devtest.WaitFor(t, 3*time.Minute, "a third delivered to Mosquitto", func() bool { return delivered() >= total/3 })
	st.kill()
	atKill := delivered()
	t.Logf("station killed (SIGKILL) with %d of %d delivered to Mosquitto", atKill, total)
	if atKill >= total {
		t.Fatalf("the backlog had drained before the kill: nothing was tested")
	}
	var last uint64
	devtest.WaitFor(t, 3*time.Minute, "the gateway's outbox to drain into Mosquitto", func() bool {
		s := g.status(t).Outbox
		last = s.NextSeq - 1
		return s.Depth == 0
	})
	g.term(t)
	// At least the events after the kill wait in Mosquitto for the
	// station's session; they must survive Mosquitto's restart.
	br.Restart()
	st = startExternalStation(t, stData, br.Addr())
	devtest.WaitFor(t, 3*time.Minute, fmt.Sprintf("the station to print seq %d", last), func() bool { return st.printed(gw, last) })
	st.term(t)

	s := dump(t, stData)
	ep := oneEpoch(t, s, gw)
	checkAllStored(t, s, gw, ep, last)
	t.Logf("%d events stored for %s through Mosquitto, seqs 1..%d", len(s.events[gw][ep]), gw, last)
}
