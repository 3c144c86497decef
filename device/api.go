package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/camera/record"
	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/live"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Status is the answer of GET /api/status.
type Status struct {
	Gateway string             `json:"gateway"`
	Site    string             `json:"site,omitempty"`
	Version string             `json:"version"`
	Boot    string             `json:"boot"`
	UptimeS float64            `json:"uptime_s"`
	Uplink  uplink.State       `json:"uplink"`
	Outbox  wire.OutboxStats   `json:"outbox"`
	Capture CaptureStatus      `json:"capture"` // events waiting for (or given up by) the outbox
	Sensors []sensors.Status   `json:"sensors"`
	Cameras []camera.HubStatus `json:"cameras"`
	// Live lists the live-view sessions (absent when there are none).
	Live []live.SessionStats `json:"live,omitempty"`
	// Alarm is the alarm logic's state (absent without an alarm).
	Alarm *alarm.Status `json:"alarm,omitempty"`
	// Outputs are the outputs' states (siren, strobe, relay).
	Outputs []output.State `json:"outputs,omitempty"`
	// Recording is the clip store's figures (absent when no camera records).
	Recording *record.StoreStats `json:"recording,omitempty"`
	// Upload is the clip uploader's daily budget and use (absent when no
	// camera records).
	Upload *clipupload.Stats `json:"upload,omitempty"`
}

// Status gathers the gateway's state for the local API and the status command.
func (g *Gateway) Status() Status {
	st := Status{
		Gateway: g.cfg.Gateway.ID,
		Site:    g.cfg.Gateway.Site,
		Version: Version,
		Boot:    g.boot,
		UptimeS: g.uptime().Seconds(),
		Uplink:  g.session.State(),
		Outbox:  g.outbox.Stats(),
		Capture: g.captures.status(),
		Sensors: make([]sensors.Status, 0, len(g.inputs)),
		Cameras: g.cameraStatuses(),
		Live:    g.liveStats(),
		Alarm:   g.alarmStatus(),
		Outputs: g.outputStates(),

		Recording: g.recordingStats(),
		Upload:    g.uploadStats(),
	}
	for _, in := range g.inputs {
		st.Sensors = append(st.Sensors, g.sensorStatus(in))
	}
	return st
}

// Telemetry is the periodic health report published by the uplink.
func (g *Gateway) Telemetry() wire.Telemetry {
	t := wire.Telemetry{
		UptimeS:        g.uptime().Seconds(),
		Outbox:         g.outbox.Stats(),
		DiskFree:       diskFree(g.cfg.Gateway.DataDir),
		CPUTempC:       cpuTemp(),
		Cameras:        g.cameraStates(),
		Viewers:        g.viewers(),
		LiveBytesToday: g.liveBytesToday(),
		Alarm:          g.alarmMode(),
		Outputs:        g.outputLevels(),

		RecordingBytesToday: g.recordingBytesToday(),
		ClipUpload:          g.uploadStats(),
	}
	return t
}

func diskFree(dir string) int64 {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return -1
	}
	return int64(s.Bavail) * int64(s.Bsize)
}

// cpuTemp reads the SoC temperature the way a Raspberry Pi exposes it; nil
// where the board has no thermal zone (a PC, a container).
func cpuTemp() *float64 {
	b, err := os.ReadFile("/sys/class/thermal/thermal_zone0/temp")
	if err != nil {
		return nil
	}
	milli, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return nil
	}
	c := milli / 1000
	return &c
}

// maxBody bounds every request body of the local API.
const maxBody = 64 << 10

// Handler serves the local API: GET /healthz, GET /api/status,
// POST /api/walktest, GET /api/outbox (the outbox as JSON lines) and, with
// live view on, WHEP at /api/cameras/{name}/whep (docs/live.md).
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	// Everything but /healthz tells or changes the site's state (armed or
	// not, events): loopback clients, or the API token (installerOnly).
	mux.HandleFunc("GET /api/status", g.installerOnly(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, g.Status())
	}))
	mux.HandleFunc("POST /api/walktest", g.installerOnly(g.walkTest))
	mux.HandleFunc("POST /api/test", g.installerOnly(g.apiTest))
	mux.HandleFunc("POST /api/arm", g.installerOnly(g.apiArm)) // docs/alarm.md
	mux.HandleFunc("GET /api/outbox", g.installerOnly(g.dumpOutbox))
	if g.live != nil {
		g.live.RegisterWHEP(mux) // /api/cameras/{name}/whep
	}
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WalkTestRequest is the body of POST /api/walktest.
type WalkTestRequest struct {
	Sensor string `json:"sensor"`
}

// WalkTestReply is its answer, sent only once the event is durable.
type WalkTestReply struct {
	Seq uint64 `json:"seq"`
	ID  string `json:"id"`
}

// walkTest captures a real event for a configured sensor, marked test:true,
// through the whole path: outbox, uplink, station.
func (g *Gateway) walkTest(w http.ResponseWriter, r *http.Request) {
	var req WalkTestRequest
	if err := DecodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"walktest: " + err.Error()})
		return
	}
	kind, ok := g.kinds[req.Sensor]
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("walktest: no sensor named %q (configured: %s)", req.Sensor, strings.Join(g.sensorNames(), ", "))})
		return
	}
	e := &wire.Event{Kind: kind, Source: req.Sensor, State: wire.StateActive, Test: true}
	var seq uint64
	var err error
	if cam, ok := g.snaps.bySensor[req.Sensor]; ok {
		// The installer walks to check the camera too: the test event
		// takes the snapshot a real edge of this sensor would.
		g.stamp(e)
		jpeg, fetchErr := g.snaps.take(r.Context(), cam)
		seq, err = g.storeSnapshot(r.Context(), e, cam.Name, jpeg, fetchErr)
	} else {
		seq, err = g.Capture(r.Context(), e)
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"walktest: event not stored: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, WalkTestReply{Seq: seq, ID: e.ID})
}

func (g *Gateway) sensorNames() []string {
	names := make([]string, 0, len(g.inputs))
	for _, in := range g.inputs {
		names = append(names, in.Name())
	}
	return names
}

// dumpOutbox streams the events still in the outbox, one JSON object a line,
// oldest first; ?after=SEQ starts later, ?limit=N stops early.
func (g *Gateway) dumpOutbox(w http.ResponseWriter, r *http.Request) {
	after, limit, err := dumpParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	const page = 512
	sent := 0
	for limit == 0 || sent < limit {
		n := page
		if limit > 0 && limit-sent < n {
			n = limit - sent
		}
		recs, err := g.outbox.Peek(after, n)
		if err != nil {
			// Headers are gone; the truncated stream and the log tell.
			g.log.Error("outbox dump", "err", err)
			return
		}
		for _, rec := range recs {
			w.Write(rec.Data)
			w.Write([]byte{'\n'})
			after = rec.Seq
		}
		sent += len(recs)
		if len(recs) < n {
			return
		}
	}
}

func dumpParams(r *http.Request) (after uint64, limit int, err error) {
	q := r.URL.Query()
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("after: %q is not a sequence number", s)
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 0 {
			return 0, 0, fmt.Errorf("limit: %q is not a count", s)
		}
	}
	return after, limit, nil
}

// DecodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data, and names what is wrong.
func DecodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body, want a JSON object")
		}
		return fmt.Errorf("bad JSON: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON: more than one value in body")
	}
	return nil
}
