package device

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/antt-gateway/antt/device/alarm"
	"github.com/antt-gateway/antt/device/output"
	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/wire"
)

// AlarmFile is the alarm's state file (mode, bypasses) inside
// gateway.data_dir; output records sit beside it (output-NAME.json).
const AlarmFile = "alarm.json"

// alarmParts are the outputs and the alarm logic of a gateway (docs/alarm.md).
type alarmParts struct {
	outputs output.Bank
	order   []string // output names as configured
	alarm   *alarm.Alarm
}

// openAlarm builds one output per outputs entry (GPIO through periph, or
// sim) and, when the file configures it, the alarm logic. Every output
// change and every alarm event goes to the capture queue, in order.
func (g *Gateway) openAlarm() error {
	g.alarmParts = &alarmParts{outputs: output.Bank{}}
	p := g.alarmParts
	dir := g.cfg.Gateway.DataDir
	var pins sensors.PinSource
	for _, oc := range g.cfg.Outputs {
		var line output.Line
		if oc.Driver == "sim" {
			line = output.NewSim(oc.Name, g.log)
		} else {
			if pins == nil {
				pins = &sensors.HostPins{}
			}
			l, err := output.OpenGPIO(pins, oc.Pin, oc.Active == "low")
			if err != nil {
				return fmt.Errorf("open output %s: %w", oc.Name, err)
			}
			line = l
		}
		o, err := output.New(output.Config{Name: oc.Name, MaxOn: oc.MaxOn, Rest: oc.Rest, MaxCutOffs: oc.MaxCutOffs}, line, output.Options{
			Clock:  g.clock,
			Dir:    dir,
			Notify: func(c output.Change) { g.alarmEvent(alarm.OutputEvent(c)) },
			Logger: g.log,
		})
		if err != nil {
			return fmt.Errorf("open output %s: %w", oc.Name, err)
		}
		p.outputs[oc.Name] = o
		p.order = append(p.order, oc.Name)
	}
	if !g.cfg.Alarm.Enabled {
		return nil
	}
	a, err := alarm.New(g.cfg.Alarm.Config, alarm.Options{
		Clock:   g.clock,
		Store:   alarm.FileStore{Path: filepath.Join(dir, AlarmFile)},
		Outputs: defaultPatterns{p.outputs, g.outputPatterns()},
		Known:   p.outputs.Has,
		Events:  g.alarmEvent,
		Synced:  ClockSynced,
		Logger:  g.log,
	})
	if err != nil {
		return fmt.Errorf("alarm: %w", err)
	}
	p.alarm = a
	return nil
}

func (g *Gateway) outputPatterns() map[string]output.Pattern {
	m := map[string]output.Pattern{}
	for _, oc := range g.cfg.Outputs {
		m[oc.Name] = oc.Pattern
	}
	return m
}

// defaultPatterns gives an on request without a pattern the output's
// configured pattern (outputs[].pattern).
type defaultPatterns struct {
	bank output.Bank
	pat  map[string]output.Pattern
}

func (d defaultPatterns) Set(ctx context.Context, name string, r output.Request) error {
	if r.On && r.Pattern == (output.Pattern{}) {
		r.Pattern = d.pat[name]
	}
	return d.bank.Set(ctx, name, r)
}

// alarmEvent hands one alarm or output event to the capture queue as a
// wire.Event: the kinds of docs/alarm.md, the origin and user in attrs.
func (g *Gateway) alarmEvent(e alarm.Event) {
	kind, source, state, attrs := e.WireFields()
	ev := &wire.Event{
		Kind:        kind,
		Source:      source,
		State:       state,
		Time:        e.Time,
		ClockSynced: ClockSynced(e.Time),
		UptimeMS:    e.Mono.Milliseconds(),
		Boot:        g.boot,
		Test:        e.Test,
	}
	if len(attrs) > 0 {
		ev.Attrs = attrs
	}
	if ev.Time.IsZero() {
		g.stamp(ev)
	}
	g.recordAlarm(ev) // an alarm records every recording camera (record.go)
	g.captures.add(ev)
}

// feedAlarm hands a sensor edge to the alarm logic (after its own event
// was queued, so the station sees the edge before what it caused).
func (g *Gateway) feedAlarm(ctx context.Context, e sensors.Edge) {
	if g.alarmParts == nil || g.alarmParts.alarm == nil {
		return
	}
	if err := g.alarmParts.alarm.Input(ctx, e); err != nil && !errors.Is(err, alarm.ErrUnknownSensor) && ctx.Err() == nil {
		g.log.Error("alarm input", "sensor", e.Sensor, "err", err)
	}
}

// runAlarm starts the outputs and the alarm logic. The returned stop ends
// the alarm first and the outputs after it (each switches its line off),
// so nothing the alarm asks for waits on a stopped output.
func (g *Gateway) runAlarm(parent context.Context) (stop func()) {
	p := g.alarmParts
	if p == nil {
		return func() {}
	}
	outCtx, stopOut := context.WithCancel(context.WithoutCancel(parent))
	var outWG sync.WaitGroup
	for _, name := range p.order {
		o := p.outputs[name]
		outWG.Go(func() { _ = o.Run(outCtx) })
	}
	alarmCtx, stopAlarm := context.WithCancel(context.WithoutCancel(parent))
	alarmDone := make(chan struct{})
	go func() {
		defer close(alarmDone)
		if p.alarm != nil {
			_ = p.alarm.Run(alarmCtx)
		}
	}()
	return func() {
		stopAlarm()
		<-alarmDone
		stopOut()
		outWG.Wait()
	}
}

// AlarmStatus is the alarm part of /api/status; nil without an alarm.
func (g *Gateway) alarmStatus() *alarm.Status {
	if g.alarmParts == nil || g.alarmParts.alarm == nil {
		return nil
	}
	st := g.alarmParts.alarm.Status()
	return &st
}

// outputStates lists the outputs' states in configured order.
func (g *Gateway) outputStates() []output.State {
	if g.alarmParts == nil {
		return nil
	}
	out := make([]output.State, 0, len(g.alarmParts.order))
	for _, n := range g.alarmParts.order {
		out = append(out, g.alarmParts.outputs[n].State())
	}
	return out
}

// outputLevels is the outputs part of telemetry: name → on.
func (g *Gateway) outputLevels() map[string]bool {
	if g.alarmParts == nil || len(g.alarmParts.order) == 0 {
		return nil
	}
	m := make(map[string]bool, len(g.alarmParts.order))
	for _, n := range g.alarmParts.order {
		m[n] = g.alarmParts.outputs[n].State().On
	}
	return m
}

func (g *Gateway) alarmMode() string {
	if st := g.alarmStatus(); st != nil {
		return st.Mode
	}
	return ""
}

// registerAlarmCommands puts arm, silence, bypass, output and test on the
// router. A malformed command is answered ok:false naming what is wrong;
// the alarm runs on untouched.
func (g *Gateway) registerAlarmCommands() {
	for _, name := range []string{alarm.CmdArm, alarm.CmdSilence, alarm.CmdBypass, alarm.CmdOutput, alarm.CmdTest} {
		g.router.Handle(name, func(ctx context.Context, args json.RawMessage) (any, error) {
			c, err := alarm.DecodeCommand(name, args)
			if err != nil {
				return nil, err
			}
			return g.alarmCommand(ctx, c, c.Origin())
		})
	}
}

// alarmCommand carries out a decoded command for origin o.
func (g *Gateway) alarmCommand(ctx context.Context, c alarm.Command, o alarm.Origin) (any, error) {
	p := g.alarmParts
	if c.Name == alarm.CmdOutput {
		if !p.outputs.Has(c.Output) {
			return nil, fmt.Errorf("output: no output named %q (configured: %s)", c.Output, joinNames(p.order))
		}
		// A person's off also clears a lockout after repeated cut-offs
		// (docs/alarm.md, "Cut-off").
		r := output.Request{On: c.On, Pattern: c.Pattern, For: c.For, Reason: c.Reason, User: c.User, Reset: !c.On}
		if r.On && r.Pattern == (output.Pattern{}) {
			r.Pattern = g.outputPatterns()[c.Output]
		}
		st, err := p.outputs[c.Output].Set(ctx, r)
		if err != nil {
			return nil, err
		}
		return map[string]any{"output": st}, nil
	}
	if c.Name == alarm.CmdTest && !c.Walk && !p.outputs.Has(c.Output) {
		return nil, fmt.Errorf("test: no output named %q (configured: %s)", c.Output, joinNames(p.order))
	}
	if p.alarm == nil {
		if c.Name == alarm.CmdTest && !c.Walk {
			_, err := p.outputs[c.Output].Set(ctx, output.Request{On: true, For: output.TestPulse, Test: true, Reason: "output test", User: c.User})
			return nil, err
		}
		return nil, fmt.Errorf("%s: this gateway has no alarm configured (no alarm: section or sensor alarm keys)", c.Name)
	}
	a := p.alarm
	var err error
	switch c.Name {
	case alarm.CmdArm:
		err = a.Arm(ctx, c.Mode, o)
	case alarm.CmdSilence:
		err = a.Silence(ctx, o)
	case alarm.CmdBypass:
		err = a.Bypass(ctx, c.Sensor, c.On, o)
	case alarm.CmdTest:
		if c.Walk {
			err = a.Test(ctx, c.On, o)
		} else {
			err = a.TestOutput(ctx, c.Output, o)
		}
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"alarm": a.Status()}, nil
}

func joinNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	s := slices.Clone(names)
	out := s[0]
	for _, n := range s[1:] {
		out += ", " + n
	}
	return out
}

// TestRequest is the body of POST /api/test: exactly one of input (a walk
// test: true starts it, false ends it) and output (pulse it for 1 s).
type TestRequest struct {
	Input  *bool   `json:"input,omitempty"`
	Output *string `json:"output,omitempty"`
	User   string  `json:"user,omitempty"`
}

// apiTest is POST /api/test: the installer at the board, origin installer.
func (g *Gateway) apiTest(w http.ResponseWriter, r *http.Request) {
	var req TestRequest
	if err := DecodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"test: " + err.Error()})
		return
	}
	args := map[string]any{}
	switch {
	case (req.Input == nil) == (req.Output == nil):
		writeJSON(w, http.StatusBadRequest, apiError{`test: give exactly one of "input" (true starts the walk test, false ends it) and "output" (an output to pulse for 1 s)`})
		return
	case req.Input != nil:
		args["walk"] = *req.Input
	default:
		args["output"] = *req.Output
	}
	if req.User != "" {
		args["user"] = req.User
	}
	g.installerCommand(w, r, alarm.CmdTest, args)
}

// installerCommand runs the alarm command name with args through the same
// decoder as the station's command, with origin installer, and answers
// 400 for a bad command, 409 for one refused, else 200 with the result.
func (g *Gateway) installerCommand(w http.ResponseWriter, r *http.Request, name string, args map[string]any) {
	raw, _ := json.Marshal(args)
	c, err := alarm.DecodeCommand(name, raw)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	res, err := g.alarmCommand(r.Context(), c, alarm.Origin{By: alarm.ByInstaller, User: c.User, Reason: c.Reason})
	if err != nil {
		writeJSON(w, http.StatusConflict, apiError{err.Error()})
		return
	}
	if res == nil {
		res = map[string]any{}
	}
	writeJSON(w, http.StatusOK, res)
}

// alarmKindKeyswitch is the sensor kind of a key switch; the sensor
// driver, which knows only the wire kinds, runs it as a contact.
const alarmKindKeyswitch = alarm.KindKeyswitch

func driverKind(kind string) string {
	if kind == alarmKindKeyswitch {
		return wire.KindContact
	}
	return kind
}

// sensorStatus is in's status with the kind as configured: a key switch
// runs on the contact driver but is shown as what it is.
func (g *Gateway) sensorStatus(in sensors.Input) sensors.Status {
	st := in.Status()
	if k := g.kinds[st.Name]; k == alarmKindKeyswitch {
		st.Kind = k
	}
	return st
}

// ArmRequest is the body of POST /api/arm: the installer at the board sets
// the mode ("disarmed" disarms), origin installer.
type ArmRequest struct {
	Mode   string `json:"mode"`
	User   string `json:"user,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// apiArm is POST /api/arm: the same decoder and logic as the station's arm
// command, with origin installer. An arming refused (sensors open) is 409
// naming them; a bad body is 400.
func (g *Gateway) apiArm(w http.ResponseWriter, r *http.Request) {
	var req ArmRequest
	if err := DecodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"arm: " + err.Error()})
		return
	}
	args := map[string]any{"mode": req.Mode}
	if req.User != "" {
		args["user"] = req.User
	}
	if req.Reason != "" {
		args["reason"] = req.Reason
	}
	g.installerCommand(w, r, alarm.CmdArm, args)
}

// installerOnly serves the installer's routes (status, outbox, walk test,
// POST /api/arm, POST /api/test) to loopback clients, and to others only
// with the API token (api.token_file) as a bearer token: with
// api.allow_remote the local API is reachable from the network, and
// reading whether a site is armed, disarming it or muting it with a walk
// test must not be open to anyone on the LAN.
func (g *Gateway) installerOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
			h(w, r)
			return
		}
		want := g.cfg.API.Token.Reveal()
		if want == "" {
			writeJSON(w, http.StatusForbidden, apiError{"only loopback clients may use the local API: set api.token_file (with api.allow_remote) for others"})
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="antt-gateway"`)
			writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong bearer token"})
			return
		}
		h(w, r)
	}
}

var _ uplink.DataError = (*alarm.OpenError)(nil) // the open sensors reach the reply
