package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// Commander publishes a command to a gateway and waits for its reply: the
// station's MQTT client (console.Console) implements it. args are the
// command's arguments; the Commander adds the request id. reply is the
// gateway's whole reply ({"id":…,"ok":…,…}).
type Commander interface {
	Command(ctx context.Context, gateway, name string, args map[string]any) (reply json.RawMessage, err error)
}

// ErrNoReply is what a Commander returns (wrapped) when the gateway did
// not answer in time: the command may still be carried out.
var ErrNoReply = errors.New("no reply from the gateway")

const defaultCommandTimeout = 10 * time.Second

var modeRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// commandRequest is the body of POST /api/gateways/{gateway}/commands/{name}:
// the arguments the console lets an officer send.
type commandRequest struct {
	Mode    string `json:"mode,omitempty"`    // arm
	Output  string `json:"output,omitempty"`  // output: its name
	On      *bool  `json:"on,omitempty"`      // output
	Seconds int    `json:"seconds,omitempty"` // output, with on
	Reason  string `json:"reason,omitempty"`
}

// commandArgs checks q for command name and returns the gateway's
// arguments (docs/alarm.md "Commands") with the officer's user name.
func commandArgs(name string, q commandRequest, user string) (map[string]any, error) {
	if len(q.Reason) > 200 {
		return nil, errors.New("reason: at most 200 bytes")
	}
	args := map[string]any{"user": user}
	if q.Reason != "" {
		args["reason"] = q.Reason
	}
	switch name {
	case "arm":
		if !modeRE.MatchString(q.Mode) {
			return nil, fmt.Errorf("mode %.40q: want a mode name (disarmed, away, home, night, …)", q.Mode)
		}
		if q.Output != "" || q.On != nil || q.Seconds != 0 {
			return nil, errors.New("arm takes mode (and reason) only")
		}
		args["mode"] = q.Mode
	case "silence":
		if q.Mode != "" || q.Output != "" || q.On != nil || q.Seconds != 0 {
			return nil, errors.New("silence takes no arguments but reason")
		}
	case "output":
		if !modeRE.MatchString(q.Output) || q.On == nil {
			return nil, errors.New("output needs output (its name) and on")
		}
		if q.Mode != "" {
			return nil, errors.New("output takes no mode")
		}
		if q.Seconds < 0 || q.Seconds > 900 || (q.Seconds > 0 && !*q.On) {
			return nil, fmt.Errorf("seconds %d: want 0 to 900, with on only", q.Seconds)
		}
		args["name"], args["on"] = q.Output, *q.On
		if q.Seconds > 0 {
			args["seconds"] = q.Seconds
		}
	default:
		return nil, fmt.Errorf("command %.30q: the console sends arm, silence and output", name)
	}
	if len(user) > 64 {
		return nil, errors.New("user name over 64 bytes: the gateway refuses it")
	}
	return args, nil
}

// CommandResult is what a command came to.
type CommandResult struct {
	Command string          `json:"command"`
	Gateway string          `json:"gateway"`
	OK      bool            `json:"ok"`
	Error   string          `json:"error,omitempty"`
	Open    []string        `json:"open,omitempty"` // sensors open: an arming refused
	Reply   json.RawMessage `json:"reply,omitempty"`
}

// command sends name to gw for the principal, waits for the reply and
// audits who, what and the result. code is the HTTP status to answer.
func (s *Server) command(r *http.Request, v *view, gw, name string, q commandRequest) (CommandResult, int) {
	res := CommandResult{Command: name, Gateway: gw}
	args, err := commandArgs(name, q, v.p.name)
	if err != nil {
		res.Error = err.Error()
		return res, http.StatusBadRequest
	}
	if s.o.Commands == nil {
		res.Error = "this console cannot send commands"
		return res, http.StatusServiceUnavailable
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.o.CommandTimeout)
	defer cancel()
	reply, err := s.o.Commands.Command(ctx, gw, name, args)
	code := http.StatusOK
	if err != nil {
		res.Error = err.Error()
		code = http.StatusBadGateway
		if errors.Is(err, ErrNoReply) || errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
	} else {
		var rp struct {
			OK    bool     `json:"ok"`
			Error string   `json:"error"`
			Open  []string `json:"open"`
		}
		if jerr := json.Unmarshal(reply, &rp); jerr != nil {
			res.Error = "reply: " + jerr.Error()
			code = http.StatusBadGateway
		} else {
			res.OK, res.Error, res.Open, res.Reply = rp.OK, rp.Error, rp.Open, reply
		}
	}
	detail := map[string]string{}
	for k, a := range args {
		if k != "user" {
			detail[k] = fmt.Sprint(a)
		}
	}
	if res.Error != "" {
		detail["error"] = cut(res.Error, 300)
	}
	if aerr := s.record(r, audit.Entry{Actor: v.p.name, Action: "command", Target: name, Gateway: gw, OK: res.OK, Detail: detail}); aerr != nil {
		// The command went out already; say that its audit entry did not.
		res.Error = cmpOr(res.Error, "") + " (audit log not written)"
		return res, http.StatusInternalServerError
	}
	return res, code
}

func (s *Server) apiCommand(w http.ResponseWriter, r *http.Request, v *view) {
	var q commandRequest
	if err := decodeJSON(r, &q); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	res, code := s.command(r, v, r.PathValue("gateway"), r.PathValue("name"), q)
	writeJSON(w, code, res)
}

// commandForm is the sites page's command form (after the page's
// confirmation): command, mode, output, on.
func (s *Server) commandForm(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	f := r.PostForm
	q := commandRequest{Mode: f.Get("mode"), Output: f.Get("output")}
	if on := f.Get("on"); on != "" {
		b := on == "true"
		q.On = &b
	}
	gw := r.PathValue("gateway")
	res, code := s.command(r, v, gw, f.Get("command"), q)
	name := gw
	if gws, err := v.gateways(); err == nil {
		for _, g := range gws {
			if g.ID == gw {
				name = g.Name
			}
		}
	}
	s.render(w, r, v, code, "command", map[string]any{"Result": res, "Name": name})
}
