package alarm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/antt-gateway/antt/device/output"
)

// Command names the decoder knows.
const (
	CmdArm     = "arm"     // {mode, user, reason}; mode "disarmed" disarms
	CmdSilence = "silence" // {user, reason}: Tắt còi, never a disarm
	CmdBypass  = "bypass"  // {sensor, on, user, reason}
	CmdOutput  = "output"  // {name, on, seconds, pattern, user, reason}
	CmdTest    = "test"    // {walk: bool} or {output: name}, with user, reason
)

// Limits of command arguments.
const (
	MaxUser     = 64
	MaxReason   = 200
	MaxArgBytes = 4 << 10
)

// Command is one decoded alarm or output command.
type Command struct {
	Name    string
	Mode    string         // arm
	Sensor  string         // bypass
	On      bool           // bypass, output, test (walk)
	Output  string         // output, test (output)
	For     time.Duration  // output: 0 means until off or cut-off
	Pattern output.Pattern // output
	Walk    bool           // test: a walk test (On tells start or end)
	User    string
	Reason  string
}

// Origin returns the command's origin for a change made by the station.
func (c Command) Origin() Origin { return Origin{By: ByStation, User: c.User, Reason: c.Reason} }

// DecodeCommand decodes the arguments (the payload without its id) of the
// command called name. Unknown arguments, wrong types, trailing data and
// values out of range are errors naming the argument.
func DecodeCommand(name string, args []byte) (Command, error) {
	if len(args) > MaxArgBytes {
		return Command{}, fmt.Errorf("%s: arguments over %d bytes", name, MaxArgBytes)
	}
	c := Command{Name: name}
	switch name {
	case CmdArm:
		var a struct {
			Mode *string `json:"mode"`
			byArgs
		}
		if err := strict(args, &a); err != nil {
			return c, fmt.Errorf("arm: %w", err)
		}
		if a.Mode == nil {
			return c, errors.New(`arm: missing argument "mode" (disarmed, away, home, night or a configured mode)`)
		}
		if !nameRE.MatchString(*a.Mode) {
			return c, fmt.Errorf(`arm: argument "mode": %.40q is not a mode name`, *a.Mode)
		}
		c.Mode = *a.Mode
		return c, c.who(name, a.User, a.Reason)
	case CmdSilence:
		var a struct{ byArgs }
		if err := strict(args, &a); err != nil {
			return c, fmt.Errorf("silence: %w", err)
		}
		return c, c.who(name, a.User, a.Reason)
	case CmdBypass:
		var a struct {
			Sensor *string `json:"sensor"`
			On     *bool   `json:"on"`
			byArgs
		}
		if err := strict(args, &a); err != nil {
			return c, fmt.Errorf("bypass: %w", err)
		}
		if a.Sensor == nil || *a.Sensor == "" {
			return c, errors.New(`bypass: missing argument "sensor"`)
		}
		if err := checkText("sensor", *a.Sensor, MaxUser); err != nil {
			return c, fmt.Errorf("bypass: %w", err)
		}
		if a.On == nil {
			return c, errors.New(`bypass: missing argument "on" (true bypasses, false restores)`)
		}
		c.Sensor, c.On = *a.Sensor, *a.On
		return c, c.who(name, a.User, a.Reason)
	case CmdOutput:
		var a struct {
			Name    *string  `json:"name"`
			On      *bool    `json:"on"`
			Seconds *float64 `json:"seconds"`
			Pattern *string  `json:"pattern"`
			byArgs
		}
		if err := strict(args, &a); err != nil {
			return c, fmt.Errorf("output: %w", err)
		}
		if a.Name == nil || !nameRE.MatchString(*a.Name) {
			return c, errors.New(`output: argument "name": must name an output`)
		}
		if a.On == nil {
			return c, errors.New(`output: missing argument "on"`)
		}
		c.Output, c.On = *a.Name, *a.On
		if a.Seconds != nil {
			s := *a.Seconds
			if math.IsNaN(s) || s < 0 || s > output.HardMaxOn.Seconds() {
				return c, fmt.Errorf(`output: argument "seconds": %v is not between 0 and %v`, s, output.HardMaxOn.Seconds())
			}
			if !c.On {
				return c, errors.New(`output: argument "seconds": only with "on": true`)
			}
			c.For = time.Duration(s * float64(time.Second))
		}
		if a.Pattern != nil {
			if !c.On {
				return c, errors.New(`output: argument "pattern": only with "on": true`)
			}
			p, err := output.ParsePattern(*a.Pattern)
			if err != nil {
				return c, fmt.Errorf(`output: argument "pattern": %w`, err)
			}
			c.Pattern = p
		}
		return c, c.who(name, a.User, a.Reason)
	case CmdTest:
		var a struct {
			Walk   *bool   `json:"walk"`
			Output *string `json:"output"`
			byArgs
		}
		if err := strict(args, &a); err != nil {
			return c, fmt.Errorf("test: %w", err)
		}
		switch {
		case (a.Walk == nil) == (a.Output == nil):
			return c, errors.New(`test: give exactly one of "walk" (true starts the walk test, false ends it) and "output" (an output to pulse for 1 s)`)
		case a.Walk != nil:
			c.Walk, c.On = true, *a.Walk
		default:
			if !nameRE.MatchString(*a.Output) {
				return c, errors.New(`test: argument "output": must name an output`)
			}
			c.Output = *a.Output
		}
		return c, c.who(name, a.User, a.Reason)
	}
	return c, fmt.Errorf("%.40q is not an alarm command (arm, silence, bypass, output, test)", name)
}

// byArgs are the arguments every command takes: who and why.
type byArgs struct {
	User   *string `json:"user"`
	Reason *string `json:"reason"`
}

// who checks and sets user and reason.
func (c *Command) who(name string, user, reason *string) error {
	if user != nil {
		if err := checkText("user", *user, MaxUser); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c.User = *user
	}
	if reason != nil {
		if err := checkText("reason", *reason, MaxReason); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c.Reason = *reason
	}
	return nil
}

func checkText(arg, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("argument %q: longer than %d bytes", arg, limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("argument %q: not valid UTF-8", arg)
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fmt.Errorf("argument %q: control character at byte %d", arg, i)
	}
	return nil
}

// strict decodes one JSON object into v: unknown fields, wrong types and
// trailing data are errors naming the argument.
func strict(args []byte, v any) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field != "" {
				return fmt.Errorf("argument %q: want %s, got %s", te.Field, te.Type, te.Value)
			}
			return fmt.Errorf("arguments must be a JSON object, got %s", te.Value)
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
			return fmt.Errorf("unknown argument %s", f)
		}
		return fmt.Errorf("bad JSON: %s", msg)
	}
	if dec.More() {
		return errors.New("bad JSON: data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("bad JSON: data after the object")
	}
	return nil
}
