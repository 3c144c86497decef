package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/camera/rtsp/rtsptest"
	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/uplink/wire"
)

// clipCompleteLine is the station's log line for a clip that became
// available (cmd/station/internal/clips), as the text handler prints it.
var clipCompleteLine = regexp.MustCompile(`msg="clip complete".* gateway=(\S+) clip=(\S+) .*upload=auto done=(\S+)`)

// BenchmarkEventToClipAtStation measures, end to end on loopback, the
// time from an armed-mode alarm's event (a tamper, which alarms in every
// mode) to its clip complete in the station's clip store: the real gateway
// binary recording the GStreamer camera (pre-roll 2 s, post-roll 3 s),
// uploading the clip unasked once its clip event is delivered, into the
// real station binary with its embedded broker. The event's time is the
// one the gateway stamped (stored by the station, read with station dump
// after the run); the completion's is the station's "clip complete" log
// line's done. Both clocks are this machine's. Target (docs/performance.md):
// event-to-clip-s ≤ post-roll + 2 s, i.e. over-post-roll-s ≤ 2.
func BenchmarkEventToClipAtStation(b *testing.B) {
	const postRoll = 3 * time.Second
	cam := rtsptest.StartCamera(b, "--width", "640", "--height", "360", "--fps", "25", "--key-int-max", "25")
	var lat []float64
	var bytes float64
	for i := 0; b.Loop(); i++ {
		dir := b.TempDir()
		data := filepath.Join(dir, "station")
		st := startStation(b, data, devtest.FreeAddr(b))
		gw := fmt.Sprintf("cong-chot-%d", i)
		api := devtest.FreeAddr(b)
		cfg := writeGatewayConfig(b, dir, gw, filepath.Join(dir, "gw"), st.addr, api, "", fmt.Sprintf(`alarm:
  trigger_time: 2s
  trigger: [{output: siren}]
sensors:
  - {name: hop-tu, kind: tamper, driver: sim, debounce: 0s, always: true,
     script: [{at: 6s, level: high}, {at: 6200ms, level: low}]}
outputs:
  - {name: siren, driver: sim, max_on: 10s}
cameras:
  - {name: cam-chot, url: %q, record: clips, pre_roll: 2s, post_roll: %s}
`, cam.URL, postRoll))
		g := startBinGateway(b, cfg, api)
		var done time.Time
		devtest.WaitFor(b, 60*time.Second, "the alarm's clip complete at the station", func() bool {
			for _, m := range clipCompleteLine.FindAllStringSubmatch(st.stderr.String(), -1) {
				if m[1] == gw {
					t, err := time.Parse(time.RFC3339Nano, m[3])
					if err != nil {
						b.Fatalf("clip complete line: done %q: %v", m[3], err)
					}
					done = t
					return true
				}
			}
			return false
		})
		g.term(b)
		st.stop(b)
		var tamper, clip *wire.Event
		for _, epoch := range dump(b, data).events[gw] {
			for _, l := range epoch {
				var ev wire.Event
				if err := json.Unmarshal(l.Event, &ev); err != nil {
					b.Fatal(err)
				}
				switch {
				case ev.Kind == wire.KindTamper && (tamper == nil || ev.Time.Before(tamper.Time)):
					tamper = &ev
				case ev.Kind == wire.KindClip:
					clip = &ev
				}
			}
		}
		if tamper == nil || clip == nil {
			b.Fatalf("station holds no tamper event or no clip event of %s", gw)
		}
		lat = append(lat, done.Sub(tamper.Time).Seconds())
		n, _ := clip.Attrs[wire.ClipAttrBytes].(float64)
		bytes += n
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "event-to-clip-s")
	b.ReportMetric(lat[len(lat)/2]-postRoll.Seconds(), "over-post-roll-s")
	b.ReportMetric(postRoll.Seconds(), "post-roll-s")
	b.ReportMetric(bytes/float64(len(lat)), "clip-bytes")
}
