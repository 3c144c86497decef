// Package console is the station's text console: it prints one readable
// line per event, gap, snapshot and notice as the station's store records
// them, and one per status message and reply from the gateways.
//
// Events, gaps, snapshots and notices are read from the store (a cursor on
// its arrival index, woken by store.Reader.Changed), never from an
// in-memory queue, so a slow console falls behind and loses nothing.
// Status, telemetry and replies come from the broker: the console is an
// ordinary MQTT client (paho) with a persistent session (CleanSession
// false, fixed client id) and QoS 1 subscriptions, whether the broker is
// the embedded one (reached in process through Dial) or an external one.
//
// With the embedded broker, events and snapshots are stored by the broker
// itself before it acknowledges them (broker.Ingester), and never reach
// this client. With an external broker (Config.Ingest) this client is
// their path: it also subscribes to event and snapshot/+, stores each
// message and acknowledges it (PUBACK) only after the store has committed
// it, in the order the messages came; one the store could not commit is
// left unacknowledged so the broker sends it again on the next connection.
package console

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// DefaultClientID is the station's MQTT client id; keeping it fixed is what
// lets the broker keep the station's session between connections.
const DefaultClientID = "antt-station"

// Config wires a Console.
type Config struct {
	Prefix   string // topic prefix, default wire.DefaultPrefix
	ClientID string // default DefaultClientID

	// Broker is the external broker URL (mqtt://, mqtts://, tcp://, ssl://);
	// ignored when Dial is set.
	Broker string
	// Dial opens a connection to the embedded broker.
	Dial     func(ctx context.Context) (net.Conn, error)
	Username string
	Password string
	TLS      *tls.Config

	// Store is read for the lines; From is the arrival number after which
	// the console starts printing (usually the last one at start-up).
	Store Store
	From  uint64
	// Ingest makes this client the path of events and snapshots (an
	// external broker): it subscribes to them and stores them in Store.
	Ingest bool
	// Out receives the lines; Location is their time zone
	// (default Asia/Ho_Chi_Minh).
	Out      io.Writer
	Location *time.Location
	Logger   *slog.Logger
	// Ready, if set, is called each time the subscriptions are in place.
	Ready func()
}

// Store is what the console needs of the station's store: reading, the
// gateways' in-memory state, and (with Ingest) storing.
type Store interface {
	store.Reader
	Submit(gw, rest string, payload []byte, done func(store.Result, error))
	SetStatus(gw string, st wire.Status, at time.Time)
	SetTelemetry(gw string, t wire.Telemetry, at time.Time)
}

// Console is a running subscriber.
type Console struct {
	cfg Config
	log *slog.Logger

	outMu sync.Mutex // one line at a time on Out
	wg    sync.WaitGroup
	acks  *ackQueue
	cmds  commands // requests of Command waiting for their reply
}

// New checks cfg and fills in its defaults.
func New(cfg Config) (*Console, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = wire.DefaultPrefix
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Store == nil || cfg.Out == nil {
		return nil, errors.New("console needs a store and an output")
	}
	if cfg.Dial == nil && cfg.Broker == "" {
		return nil, errors.New("console needs a broker URL or the embedded broker")
	}
	if cfg.Location == nil {
		cfg.Location = VietnamTime()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Console{cfg: cfg, log: cfg.Logger}, nil
}

// VietnamTime is Asia/Ho_Chi_Minh, or the same fixed UTC+7 (Vietnam has no
// daylight saving) where the time zone database is missing.
func VietnamTime() *time.Location {
	if loc, err := time.LoadLocation("Asia/Ho_Chi_Minh"); err == nil {
		return loc
	}
	return time.FixedZone("+07", 7*3600)
}

// filters are the station's subscriptions, all at QoS 1.
func (c *Console) filters() map[string]paho.MessageHandler {
	p := c.cfg.Prefix + "/+/"
	f := map[string]paho.MessageHandler{
		p + wire.TopicStatus:       c.onStatus,
		p + wire.TopicTelemetry:    c.onTelemetry,
		p + wire.TopicReply + "/#": c.onReply,
	}
	if c.cfg.Ingest {
		f[p+wire.TopicEvent] = c.onStored
		f[p+wire.TopicSnapshot+"/+"] = c.onStored
		f[p+wire.TopicClip+"/+/+"] = c.onStored // the clip store, in front of Store
	}
	return f
}

// Run connects, subscribes and handles messages until ctx ends. It returns
// nil after a clean stop and an error if the options are unusable.
func (c *Console) Run(ctx context.Context) error {
	o := paho.NewClientOptions().
		SetClientID(c.cfg.ClientID).
		SetCleanSession(false).
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetUsername(c.cfg.Username).
		SetPassword(c.cfg.Password)
	if c.cfg.Dial != nil {
		o.AddBroker("tcp://embedded")
		o.SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			return c.cfg.Dial(ctx)
		})
	} else {
		u, err := url.Parse(c.cfg.Broker)
		if err != nil || u.Host == "" {
			return fmt.Errorf("broker URL %q: want mqtt://host:port or mqtts://host:port", c.cfg.Broker)
		}
		o.AddBroker(c.cfg.Broker)
		if c.cfg.TLS != nil {
			o.SetTLSConfig(c.cfg.TLS)
		}
	}
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { m.Ack() })
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.log.Warn("connection to broker lost; reconnecting", "error", err)
	})
	o.SetOnConnectHandler(func(cl paho.Client) {
		// With a kept session the broker remembers the subscriptions, but a
		// new or expired session needs them, and subscribing again is
		// harmless. Done in a goroutine: paho must not block in this handler.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.subscribe(ctx, cl)
		}()
	})
	// The feed and the acker outlive the MQTT client: they stop last.
	c.acks = newAckQueue()
	fctx, stopFeed := context.WithCancel(ctx)
	var feeders sync.WaitGroup
	feeders.Add(2)
	go func() {
		defer feeders.Done()
		c.feed(fctx)
	}()
	go func() {
		defer feeders.Done()
		c.acks.run(fctx)
	}()
	defer func() {
		stopFeed()
		feeders.Wait()
	}()
	cl := paho.NewClient(o)
	c.cmds.setClient(cl)
	for f, h := range c.filters() {
		cl.AddRoute(f, h)
	}
	tok := cl.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			cl.Disconnect(0)
			return fmt.Errorf("connect to broker: %w", err)
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	cl.Disconnect(500)
	c.wg.Wait()
	return nil
}

// Subscription retry delays: a broker that refuses the station's
// subscriptions (an access rule missing; EMQX and the embedded broker say so
// in the SUBACK) is asked again, so fixing the rule is enough to recover.
const (
	subscribeRetryMin = 2 * time.Second
	subscribeRetryMax = time.Minute
)

// subscribe subscribes on the connection cl just made, and retries with
// backoff while the broker refuses, until ctx ends or the connection is lost
// (the next connection subscribes again).
func (c *Console) subscribe(ctx context.Context, cl paho.Client) {
	qos := map[string]byte{}
	for f := range c.filters() {
		qos[f] = 1
	}
	for wait := subscribeRetryMin; ; wait = min(2*wait, subscribeRetryMax) {
		err := c.subscribeOnce(ctx, cl, qos)
		if err == nil {
			c.log.Info("subscribed", "prefix", c.cfg.Prefix, "client_id", c.cfg.ClientID)
			if c.cfg.Ready != nil {
				c.cfg.Ready()
			}
			return
		}
		if ctx.Err() != nil || !cl.IsConnectionOpen() {
			return
		}
		c.log.Error("subscription failed; no event reaches the station until it succeeds", "error", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

func (c *Console) subscribeOnce(ctx context.Context, cl paho.Client, qos map[string]byte) error {
	tok := cl.SubscribeMultiple(qos, nil)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return err
	}
	var refused []string
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code > 2 {
			refused = append(refused, fmt.Sprintf("%s (code %#x)", f, code))
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		return fmt.Errorf("broker refused %s: check the station user's access rules", strings.Join(refused, ", "))
	}
	return nil
}

func (c *Console) println(s string) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	fmt.Fprintln(c.cfg.Out, s)
}

// write writes whole lines (a page of the feed) at once.
func (c *Console) write(b []byte) {
	if len(b) == 0 {
		return
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if _, err := c.cfg.Out.Write(b); err != nil {
		c.log.Debug("console output failed", "error", err)
	}
}

// onStored stores an event or snapshot received from an external broker
// and has it acknowledged once committed. Submit blocks while the store's
// queue is full, which holds paho's ordered delivery: backpressure.
func (c *Console) onStored(_ paho.Client, m paho.Message) {
	gw, rest, ok := wire.Split(c.cfg.Prefix, m.Topic())
	if !ok {
		m.Ack()
		return
	}
	e := c.acks.add(m)
	c.cfg.Store.Submit(gw, rest, m.Payload(), func(r store.Result, err error) {
		switch {
		case errors.Is(err, store.ErrInvalid):
			c.log.Warn("message dropped: invalid", "gateway", gw, "topic", rest, "error", err)
			c.acks.answer(e, true) // it will never be storable; redelivery would not help
		case err != nil:
			// Not acknowledged: the broker sends it again after a reconnect.
			c.log.Error("message not stored", "gateway", gw, "topic", rest, "error", err)
			c.acks.answer(e, false)
		default:
			if r.Conflict {
				c.log.Warn("duplicate id with different content", "gateway", gw, "topic", rest, "seq", r.Event.Seq)
			}
			c.acks.answer(e, true)
		}
	})
}

func (c *Console) onStatus(_ paho.Client, m paho.Message) {
	defer m.Ack()
	gw, _, ok := wire.Split(c.cfg.Prefix, m.Topic())
	if !ok || len(m.Payload()) == 0 { // an empty retained message clears the topic
		return
	}
	var st wire.Status
	if err := json.Unmarshal(m.Payload(), &st); err != nil {
		c.log.Warn("bad status message", "gateway", gw, "error", err)
		return
	}
	now := time.Now()
	c.cfg.Store.SetStatus(gw, st, now)
	state := "OFFLINE"
	if st.Online {
		state = "online"
	}
	line := fmt.Sprintf("%s %-16s %s boot=%s", now.In(c.cfg.Location).Format(timeFormat), gw, state, st.Boot)
	if st.Epoch != "" {
		line += " epoch=" + printable(st.Epoch)
	}
	if st.Version != "" {
		line += " version=" + st.Version
	}
	if m.Retained() {
		line += " (retained)"
	}
	c.println(line)
}

func (c *Console) onTelemetry(_ paho.Client, m paho.Message) {
	defer m.Ack()
	gw, _, ok := wire.Split(c.cfg.Prefix, m.Topic())
	if !ok {
		return
	}
	var t wire.Telemetry
	if err := json.Unmarshal(m.Payload(), &t); err != nil {
		c.log.Warn("bad telemetry message", "gateway", gw, "error", err)
		return
	}
	c.cfg.Store.SetTelemetry(gw, t, time.Now())
	c.log.Debug("telemetry", "gateway", gw, "outbox_depth", t.Outbox.Depth, "uptime_s", t.UptimeS)
}

func (c *Console) onReply(_ paho.Client, m paho.Message) {
	defer m.Ack()
	gw, rest, ok := wire.Split(c.cfg.Prefix, m.Topic())
	if !ok {
		return
	}
	var r struct {
		ID    string `json:"id"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(m.Payload(), &r); err != nil {
		c.log.Warn("bad reply", "gateway", gw, "topic", rest, "error", err)
		return
	}
	c.cmds.deliver(gw, r.ID, m.Payload())
	line := fmt.Sprintf("%s %-16s reply %s ok=%v", time.Now().In(c.cfg.Location).Format(timeFormat), gw, r.ID, r.OK)
	if r.Error != "" {
		line += " error=" + r.Error
	}
	c.println(line)
}

const timeFormat = "2006-01-02 15:04:05 MST"

// FormatEvent is the console line of one new event: time (the gateway's
// clock, marked '?' when it was not synchronised), gateway, seq, kind,
// source, state, and flags; late marks an event that filled a gap.
func FormatEvent(gw string, ev wire.Event, late bool, loc *time.Location) string {
	le := lineEvent{Seq: ev.Seq, Epoch: ev.Epoch, Kind: ev.Kind, Source: ev.Source, State: ev.State,
		Time: ev.Time, ClockSynced: ev.ClockSynced, Test: ev.Test}
	return string(appendEvent(nil, gw, &le, late, loc))
}

// FormatGap is the console line of a gap: newly seen, or (later) explained.
func FormatGap(g store.Gap, later bool, loc *time.Location) string {
	what := "GAP"
	if later {
		what = "gap now explained:"
	}
	line := fmt.Sprintf("%s %-16s %s seq %d-%d (%d events)", time.Now().In(loc).Format(timeFormat), g.Gateway, what, g.First, g.Last, g.Len())
	if g.Explained {
		return line + " explained: " + g.Reason
	}
	return line + " UNEXPLAINED"
}

// printable keeps a gateway-supplied string from breaking the line or the
// terminal: control characters are escaped.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) }) < 0 {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

// ClientTLS builds the TLS settings for an external broker: ca verifies the
// broker (system roots when empty), cert and key are the station's client
// certificate for mutual TLS (both or neither).
func ClientTLS(ca, cert, key string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("read broker CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("broker CA %s: no PEM certificate found", ca)
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("a client certificate needs both -cert and -key")
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("load client key pair %s, %s: %w", cert, key, err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg, nil
}
