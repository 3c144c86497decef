// Package device is the gateway as a whole: it builds the parts a
// configuration names (sensors, the durable outbox, the MQTT session, the
// local API) and runs them until its context ends.
//
// Every capture goes through one path: an edge or a walk test becomes a
// wire.Event, the outbox makes it durable and gives it its seq, and only then
// is the capture reported; the uplink publishes from the outbox. Sensor
// edges and camera health events reach the outbox through a bounded memory
// queue (capture.go) that retries while the disk refuses and reports what it
// had to give up in a capture_failed event, so no capture fails silently.
package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/antt-gateway/antt/device/camera"
	"github.com/antt-gateway/antt/device/clipupload"
	"github.com/antt-gateway/antt/device/config"
	"github.com/antt-gateway/antt/device/watchdog"
	"github.com/antt-gateway/antt/sensors"
	"github.com/antt-gateway/antt/uplink"
	"github.com/antt-gateway/antt/uplink/live"
	"github.com/antt-gateway/antt/uplink/outbox"
	"github.com/antt-gateway/antt/uplink/wire"
)

// Version is stamped at build time with -ldflags "-X .../device.Version=...".
var Version = "dev"

// OutboxFile is the name of the outbox database inside gateway.data_dir.
const OutboxFile = "outbox.db"

// Options are the parts of a gateway that are not in its configuration.
type Options struct {
	Logger *slog.Logger
	// Listener, when set, serves the local API instead of listening on
	// cfg.API.Listen (tests pass a loopback listener on a free port).
	Listener net.Listener
	// LookupEnv replaces os.LookupEnv for systemd's NOTIFY_SOCKET,
	// WATCHDOG_USEC and WATCHDOG_PID (tests).
	LookupEnv func(string) (string, bool)
	// OutboxFailCommit is passed to the outbox as outbox.Options.FailCommit:
	// fault injection for tests of a failing disk.
	OutboxFailCommit func() error
	// CaptureQueue bounds the events waiting in memory while the outbox
	// refuses them (default DefaultCaptureQueue).
	CaptureQueue int
}

// Gateway is one running gateway. Open builds it, Run runs it once.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	boot    string
	started time.Time // carries the monotonic reading uptimes are measured from
	clock   *sensors.SystemClock

	outbox  *outbox.Outbox
	inputs  []sensors.Input
	kinds   map[string]string // sensor name → event kind
	router  *uplink.Router
	session *uplink.Session
	cameras []*camera.Hub

	watchdog *watchdog.Watchdog // nil when neither configured nor asked for by systemd

	apiLn    net.Listener
	edges    chan sensors.Edge
	captures *captureQueue // events on their way into the outbox, see capture.go

	snaps *snapshots    // snapshots on sensor events and on the snapshot command
	live  *live.Manager // live view (WebRTC); nil when max_viewers is 0

	alarmParts *alarmParts // outputs and alarm logic, see alarm_wiring.go

	rec *recording // clip store and recorders, see record.go; nil when no camera records
	// upload sends clips to the station (upload.go); nil when no camera records
	upload *clipupload.Uploader
}

// Open builds a gateway from cfg: it opens (or recovers) the outbox, the
// sensors and the local API listener. Nothing runs until Run.
func Open(cfg *config.Config, opt Options) (*Gateway, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{
		cfg:     cfg,
		log:     log,
		boot:    NewBootID(),
		started: time.Now(),
		clock:   sensors.NewSystemClock(),
		kinds:   make(map[string]string),
		edges:   make(chan sensors.Edge, 256),

		captures: newCaptureQueue(opt.CaptureQueue),
	}
	if err := os.MkdirAll(cfg.Gateway.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", cfg.Gateway.DataDir, err)
	}
	ob, err := outbox.Open(filepath.Join(cfg.Gateway.DataDir, OutboxFile), outbox.Options{
		Gateway:     cfg.Gateway.ID,
		Boot:        g.boot,
		MaxBytes:    cfg.Outbox.MaxBytes,
		Uptime:      g.uptime,
		ClockSynced: func() bool { return ClockSynced(time.Now()) },
		Logger:      log.With("part", "outbox"),
		FailCommit:  opt.OutboxFailCommit,
	})
	if err != nil {
		return nil, fmt.Errorf("open outbox: %w", err)
	}
	g.outbox = ob
	fail := func(err error) (*Gateway, error) {
		g.closeInputs()
		if g.rec != nil {
			g.rec.store.Close()
		}
		ob.Close()
		return nil, err
	}

	for _, sc := range cfg.Sensors {
		in, err := sensors.Open(sensorConfig(sc), sensors.Options{Clock: g.clock, Logger: log})
		if err != nil {
			return fail(fmt.Errorf("open sensor %s: %w", sc.Name, err))
		}
		g.inputs = append(g.inputs, in)
		g.kinds[sc.Name] = sc.Kind
	}

	ucfg, err := uplinkConfig(cfg, g.boot, g.started)
	if err != nil {
		return fail(err)
	}
	ucfg.Epoch = ob.Epoch() // the birth names the outbox's seq sequence
	g.cameras = g.openCameras()
	if err := g.openRecording(); err != nil {
		return fail(err)
	}
	g.router = uplink.NewRouter()
	g.snaps = newSnapshots(cfg.Cameras)
	g.router.Handle("snapshot", g.snapshotCommand)
	if err := g.openAlarm(); err != nil {
		return fail(err)
	}
	g.registerAlarmCommands()
	g.session = uplink.New(ucfg, OutboxQueue(ob), g.router, g.Telemetry, log.With("part", "uplink"))
	if err := g.openUpload(); err != nil {
		return fail(err)
	}
	if g.watchdog, err = g.newWatchdog(opt.LookupEnv); err != nil {
		return fail(err)
	}

	g.apiLn = opt.Listener
	if g.apiLn == nil && cfg.API.Listen != "" {
		ln, err := net.Listen("tcp", cfg.API.Listen)
		if err != nil {
			return fail(fmt.Errorf("local API listen %s: %w", cfg.API.Listen, err))
		}
		g.apiLn = ln
	}
	g.live = g.openLive()
	return g, nil
}

// Boot is this start's id, carried by every event and status message.
func (g *Gateway) Boot() string { return g.boot }

// APIAddr is the local API's address, or "" when it is off.
func (g *Gateway) APIAddr() string {
	if g.apiLn == nil {
		return ""
	}
	return g.apiLn.Addr().String()
}

func (g *Gateway) uptime() time.Duration { return g.clock.Uptime() }

// Run runs the gateway until ctx ends, then stops every part in order:
// sensors first, then the edges they left are made durable, then the uplink
// says goodbye, and the outbox is closed last.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.outbox.Close()
	g.log.Info("gateway starting", "id", g.cfg.Gateway.ID, "version", Version, "boot", g.boot,
		"sensors", len(g.inputs), "api", g.APIAddr())

	var (
		wg       sync.WaitGroup
		sensorWG sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	report := func(part string, err error) {
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		g.log.Error("part stopped", "part", part, "err", err)
		errMu.Lock()
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", part, err)
		}
		errMu.Unlock()
	}

	// The watchdog starts first, so a hang anywhere from the boot event on
	// reboots the board (its probes give parts time to start), and it is
	// disarmed before the parts stop, so a clean stop is not taken for a hang.
	watchdogDone := make(chan struct{})
	if g.watchdog != nil {
		go func() {
			defer close(watchdogDone)
			// One that cannot start is reported; the gateway runs on.
			report("watchdog", g.watchdog.Run(ctx))
		}()
	} else {
		close(watchdogDone)
	}

	bootEv := &wire.Event{Kind: wire.KindBoot, Source: g.cfg.Gateway.ID, Attrs: g.bootAttrs()}
	switch _, err := g.Capture(ctx, bootEv); {
	case err == nil:
	case ctx.Err() != nil:
		g.log.Error("boot event not stored", "err", err)
	default:
		// The disk refuses for now: the capture queue retries it.
		g.log.Error("boot event not stored yet; queued", "err", err)
		g.captures.add(bootEv)
	}

	for _, in := range g.inputs {
		sensorWG.Add(1)
		go func() {
			defer sensorWG.Done()
			// A failing sensor is reported and the rest of the gateway goes on.
			report("sensor "+in.Name(), in.Run(ctx, g.edges))
		}()
	}
	waitCameras := g.runCameras(ctx)
	waitRecording := g.runRecording(ctx)
	waitUpload := g.runUpload(ctx)
	waitLive := g.runLive(ctx)
	stopAlarm := g.runAlarm(ctx)
	stopStore, storeDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(storeDone)
		g.storeCaptures(stopStore)
	}()
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		g.pump(ctx)
	}()

	sessCtx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(1)
	go func() {
		defer wg.Done()
		report("uplink", g.session.Run(sessCtx))
	}()

	var srv *http.Server
	if g.apiLn != nil {
		srv = &http.Server{Handler: g.Handler(), ReadHeaderTimeout: 5 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(g.apiLn); !errors.Is(err, http.ErrServerClosed) {
				report("local API", err)
			}
		}()
	}

	<-ctx.Done()
	g.log.Info("gateway stopping")
	<-watchdogDone
	sensorWG.Wait()
	waitCameras()
	waitRecording() // its last clips are queued
	waitUpload()
	waitLive()
	close(g.edges)
	<-pumpDone
	// The alarm stops after the last edge; its last events are queued.
	stopAlarm()
	close(stopStore) // what is queued is still stored (captureDrainLimit)
	<-storeDone
	if srv != nil {
		shCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(shCtx)
		cancel()
	}
	stopSession()
	wg.Wait()
	g.closeInputs()
	return firstErr
}

// pump turns edges into events and hands them to the capture queue, which
// never blocks on the disk; storeCaptures makes them durable in order, a
// burst in one AppendBatch.
func (g *Gateway) pump(ctx context.Context) {
	batch := make([]*wire.Event, 0, 64)
	// Edges that take a snapshot are stored by their own goroutine once the
	// fetch ends (see snapshotEdge); the pump waits for them before it
	// returns, so they are queued before the queue stops.
	defer g.snaps.wg.Wait()
	// The alarm is fed with a context that outlives ctx: edges drained at
	// a stop still reach it (it stops after the pump).
	actx := context.WithoutCancel(ctx)
	for e := range g.edges {
		if g.kinds[e.Sensor] == alarmKindKeyswitch {
			e.Kind = alarmKindKeyswitch // the driver ran it as a contact
		}
		for _, ev := range g.addEdge(batch[:0], e) {
			g.captures.add(ev)
		}
		g.feedAlarm(actx, e)
	}
}

// addEdge appends the event of e to batch, unless e takes a snapshot: then
// a goroutine stores it with its snapshot, and the batch goes on without it.
func (g *Gateway) addEdge(batch []*wire.Event, e sensors.Edge) []*wire.Event {
	ev := g.edgeEvent(e)
	g.recordEdge(ev)
	if e.Active {
		if cam, ok := g.snaps.bySensor[e.Sensor]; ok {
			g.snaps.wg.Go(func() { g.snapshotEdge(ev, cam) })
			return batch
		}
	}
	return append(batch, ev)
}

func (g *Gateway) edgeEvent(e sensors.Edge) *wire.Event {
	state := wire.StateInactive
	if e.Active {
		state = wire.StateActive
	}
	ev := &wire.Event{
		Kind:        e.Kind,
		Source:      e.Sensor,
		State:       state,
		Time:        e.Time,
		ClockSynced: ClockSynced(e.Time),
		UptimeMS:    e.Mono.Milliseconds(),
		Boot:        g.boot,
	}
	if e.AtStart {
		ev.Attrs = map[string]any{attrAtStart: true}
	}
	return ev
}

// Capture makes one event durable and returns its seq. It fills what the
// gateway knows (time, clock state, uptime, boot) when the caller left it
// empty. It returns only once the event is committed and fsynced.
func (g *Gateway) Capture(ctx context.Context, e *wire.Event) (uint64, error) {
	g.stamp(e)
	return g.outbox.Append(ctx, e)
}

// stamp fills what the gateway knows of e (time, clock state, uptime,
// boot) when the caller left it empty.
func (g *Gateway) stamp(e *wire.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
		e.UptimeMS = g.uptime().Milliseconds()
	}
	e.ClockSynced = ClockSynced(e.Time)
	e.Boot = g.boot
}

func (g *Gateway) closeInputs() {
	for _, in := range g.inputs {
		if c, ok := in.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
}

// OutboxQueue adapts an outbox to the uplink's Queue contract: the session
// publishes straight from the durable queue.
func OutboxQueue(ob *outbox.Outbox) uplink.Queue { return queue{ob} }

type queue struct{ ob *outbox.Outbox }

func (q queue) Peek(after uint64, max int, maxBytes int64) ([]uplink.Message, error) {
	recs, err := q.ob.PeekLimit(after, max, maxBytes)
	if err != nil {
		return nil, err
	}
	msgs := make([]uplink.Message, len(recs))
	for i, r := range recs {
		msgs[i] = uplink.Message{Seq: r.Seq, Payload: r.Data, Attachment: r.Attachment}
	}
	return msgs, nil
}

func (q queue) Ack(seqs ...uint64) error { return q.ob.Ack(seqs...) }
func (q queue) Notify() <-chan struct{}  { return q.ob.Notify() }
