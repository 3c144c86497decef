package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/antt-gateway/antt/uplink/wire"
)

// Handler runs one command. args is the command payload without its "id";
// decode it with DecodeArgs. The result, if not nil, must marshal to a JSON
// object (anything else is wrapped as {"result": ...}); its fields sit beside
// id and ok in the reply. An error becomes {"ok":false,"error":err}.
type Handler func(ctx context.Context, args json.RawMessage) (any, error)

// Router maps command names (the topic level after cmd/) to handlers. It is
// safe for concurrent use.
type Router struct {
	mu sync.RWMutex
	h  map[string]Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{h: map[string]Handler{}} }

// Handle registers h for name, replacing any earlier handler.
func (r *Router) Handle(name string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h[name] = h
}

func (r *Router) handleDefault(name string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.h[name]; !ok {
		r.h[name] = h
	}
}

func (r *Router) lookup(name string) (Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.h[name]
	return h, ok
}

// ReplyInvalid is the reply topic level used when a command's id cannot be
// used (missing, not a string, empty, too long, or holding '/', '+', '#' or
// control characters): the error goes to reply/_ carrying whatever id string
// there was, so a station can still see why its command failed.
const ReplyInvalid = "_"

// MaxIDLen bounds a request id, which becomes a topic level.
const MaxIDLen = 128

// Command is a decoded command payload.
type Command struct {
	ID   string          // request id, valid as a topic level
	Args json.RawMessage // the payload object without "id"
}

// DecodeCommand parses {"id":R, ...args}. On error the returned Command still
// carries the id if one could be read as a string (possibly invalid).
func DecodeCommand(payload []byte) (Command, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Command{}, fmt.Errorf("payload must be a JSON object, got %s", te.Value)
		}
		return Command{}, fmt.Errorf("bad JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if fields == nil {
		return Command{}, errors.New("payload must be a JSON object, got null")
	}
	raw, ok := fields["id"]
	if !ok {
		return Command{}, errors.New(`missing "id"`)
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return Command{}, fmt.Errorf(`"id" must be a string, got %.40s`, raw)
	}
	cmd := Command{ID: id}
	if err := checkID(id); err != nil {
		return cmd, err
	}
	delete(fields, "id")
	args, err := json.Marshal(fields)
	if err != nil {
		return cmd, fmt.Errorf("re-encode arguments: %w", err)
	}
	cmd.Args = args
	return cmd, nil
}

func checkID(id string) error {
	switch {
	case id == "":
		return errors.New(`"id" is empty`)
	case len(id) > MaxIDLen:
		return fmt.Errorf(`"id" is longer than %d bytes`, MaxIDLen)
	case !utf8.ValidString(id):
		return errors.New(`"id" is not valid UTF-8`)
	}
	for _, r := range id {
		if r == '/' || r == '+' || r == '#' || r < 0x20 || r == 0x7f {
			return fmt.Errorf(`"id" %q must not contain '/', '+', '#' or control characters`, id)
		}
	}
	return nil
}

// DecodeArgs decodes a handler's args strictly into v: unknown fields, wrong
// types and trailing data are errors that name the argument.
func DecodeArgs(args json.RawMessage, v any) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("argument %q: want %s, got %s", te.Field, te.Type, te.Value)
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
			return fmt.Errorf("unknown argument %s", f)
		}
		return fmt.Errorf("bad arguments: %s", msg)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("bad arguments: trailing data after the object")
	}
	return nil
}

// inbound is one command message handed from paho's callback to the dispatcher.
type inbound struct {
	name    string
	payload []byte
}

const (
	cmdQueueLen = 64 // commands waiting for a worker
	cmdWorkers  = 4  // handlers running at once
	// replyTimeout bounds the wait for a reply's PUBACK; the token may never
	// complete if the connection drops meanwhile.
	replyTimeout = 10 * time.Second
)

// onCommand runs on paho's router goroutine and must not block: it only
// hands the message over. When the queue is full the command is dropped and
// counted (the station times out and may retry).
func (s *Session) onCommand(_ mqtt.Client, m mqtt.Message) {
	prefix := s.topics.Base() + wire.TopicCmd + "/"
	name, ok := strings.CutPrefix(m.Topic(), prefix)
	if !ok || name == "" {
		return
	}
	if m.Retained() {
		// A retained command would run again on every reconnect.
		s.log.Warn("uplink: ignored retained command", "command", name)
		return
	}
	select {
	case s.cmds <- inbound{name: name, payload: m.Payload()}:
	default:
		s.cmdDropped.Add(1)
		s.log.Warn("uplink: command dropped, too many pending", "command", name)
	}
}

// dispatch runs commands on at most cmdWorkers goroutines until ctx ends and
// waits for them.
func (s *Session) dispatch(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, cmdWorkers)
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-s.cmds:
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				s.runCommand(ctx, in)
			})
		}
	}
}

func (s *Session) runCommand(ctx context.Context, in inbound) {
	s.commands.Add(1)
	cmd, err := DecodeCommand(in.payload)
	if err != nil {
		s.log.Warn("uplink: bad command", "command", in.name, "err", err)
		level := ReplyInvalid
		if cmd.ID != "" && checkID(cmd.ID) == nil {
			level = cmd.ID
		}
		s.reply(ctx, level, wire.Reply{ID: cmd.ID, Error: err.Error()})
		return
	}
	r := wire.Reply{ID: cmd.ID}
	h, ok := s.router.lookup(in.name)
	if !ok {
		r.Error = fmt.Sprintf("unknown command %q", in.name)
	} else {
		res, err := s.call(context.WithValue(ctx, requestIDKey{}, cmd.ID), in.name, h, cmd.Args)
		switch {
		case err != nil:
			r.Error = err.Error()
			var de DataError
			if errors.As(err, &de) {
				// What the refusal names (an arming's open sensors)
				// rides beside ok:false; a bad encoding drops it only.
				r.Data, _ = resultData(de.ReplyData())
			}
		default:
			r.OK = true
			if r.Data, err = resultData(res); err != nil {
				r.OK, r.Data = false, nil
				r.Error = fmt.Sprintf("encode result: %v", err)
			}
		}
	}
	s.reply(ctx, cmd.ID, r)
}

// DataError is an error whose reply carries fields beside ok:false and
// error, as a result's do beside ok:true (an arming refused names the
// open sensors in "open").
type DataError interface {
	error
	ReplyData() any
}

type requestIDKey struct{}

// RequestID is the id of the command a Handler runs for ("" outside one),
// so that a handler can answer a repeated command (the same id) once.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// call runs h, turning a panic into an error so one bad handler cannot stop
// the gateway.
func (s *Session) call(ctx context.Context, name string, h Handler, args json.RawMessage) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("uplink: command handler panicked", "command", name, "panic", p, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("command %q failed: internal error (panic: %v)", name, p)
		}
	}()
	return h(ctx, args)
}

func resultData(res any) (json.RawMessage, error) {
	if res == nil {
		return nil, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		return b, nil
	}
	if string(b) == "null" {
		return nil, nil
	}
	return json.Marshal(map[string]json.RawMessage{"result": b})
}

// reply publishes r on reply/{level} with the current connection, waiting in
// this worker (never in paho's callback) for a bounded time.
func (s *Session) reply(ctx context.Context, level string, r wire.Reply) {
	b, err := json.Marshal(r)
	if err != nil {
		s.log.Error("uplink: encode reply", "id", r.ID, "err", err)
		return
	}
	c := s.current()
	if c == nil {
		s.log.Warn("uplink: reply dropped, not connected", "id", r.ID)
		return
	}
	tok := c.Publish(s.topics.Reply(level), 1, false, b)
	t := time.NewTimer(replyTimeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			s.log.Warn("uplink: reply not delivered", "id", r.ID, "err", err)
		}
	case <-ctx.Done():
	case <-t.C:
		s.log.Warn("uplink: reply not acknowledged", "id", r.ID)
	}
}

func (s *Session) ping(context.Context, json.RawMessage) (any, error) {
	return map[string]any{"pong": true, "time": time.Now().UTC()}, nil
}

func (s *Session) status(_ context.Context, args json.RawMessage) (any, error) {
	if err := DecodeArgs(args, &struct{}{}); err != nil {
		return nil, err
	}
	out := map[string]any{"state": s.State()}
	if s.tele != nil {
		out["telemetry"] = s.tele()
	}
	return out, nil
}
