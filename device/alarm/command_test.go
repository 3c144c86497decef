package alarm

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/output"
)

func TestDecodeCommand(t *testing.T) {
	for _, tc := range []struct {
		name, args string
		want       Command
	}{
		{"arm", `{"mode":"away","user":"cb-lan","reason":"tan học"}`, Command{Name: "arm", Mode: "away", User: "cb-lan", Reason: "tan học"}},
		{"arm", `{"mode":"disarmed"}`, Command{Name: "arm", Mode: "disarmed"}},
		{"silence", `{"user":"cb-lan"}`, Command{Name: "silence", User: "cb-lan"}},
		{"silence", ``, Command{Name: "silence"}},
		{"bypass", `{"sensor":"yard-pir","on":true,"user":"u"}`, Command{Name: "bypass", Sensor: "yard-pir", On: true, User: "u"}},
		{"output", `{"name":"siren","on":true,"seconds":5,"pattern":"pulse 2Hz 25%"}`, Command{Name: "output", Output: "siren", On: true, For: 5 * time.Second, Pattern: output.Pattern{Kind: "pulse", Hz: 2, Duty: 0.25}}},
		{"output", `{"name":"siren","on":false}`, Command{Name: "output", Output: "siren"}},
		{"output", `{"name":"strobe","on":true,"seconds":0.5}`, Command{Name: "output", Output: "strobe", On: true, For: 500 * time.Millisecond}},
		{"test", `{"walk":true,"user":"tho"}`, Command{Name: "test", Walk: true, On: true, User: "tho"}},
		{"test", `{"output":"siren"}`, Command{Name: "test", Output: "siren"}},
	} {
		got, err := DecodeCommand(tc.name, []byte(tc.args))
		if err != nil {
			t.Errorf("%s %s: %v", tc.name, tc.args, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s %s:\n got %+v\nwant %+v", tc.name, tc.args, got, tc.want)
		}
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	for _, tc := range []struct{ name, args, want string }{
		{"arm", `{}`, `missing argument "mode"`},
		{"arm", `{"mode":"Away!"}`, `argument "mode"`},
		{"arm", `{"mode":"away","colour":1}`, `unknown argument "colour"`},
		{"arm", `{"mode":7}`, `argument "mode": want string, got number`},
		{"arm", `{"mode":"away"} {}`, `data after the object`},
		{"arm", `[1]`, `must be a JSON object`},
		{"arm", `{"mode":"away","user":"a\u0007b"}`, `argument "user": control character`},
		{"arm", `{"mode":"away","user":"` + strings.Repeat("x", 65) + `"}`, `argument "user": longer than 64`},
		{"bypass", `{"sensor":"x"}`, `missing argument "on"`},
		{"bypass", `{"on":true}`, `missing argument "sensor"`},
		{"output", `{"name":"siren"}`, `missing argument "on"`},
		{"output", `{"name":"siren","on":true,"seconds":-1}`, `argument "seconds": -1 is not between 0 and 900`},
		{"output", `{"name":"siren","on":true,"seconds":901}`, `not between 0 and 900`},
		{"output", `{"name":"siren","on":false,"seconds":3}`, `only with "on": true`},
		{"output", `{"name":"siren","on":true,"pattern":"disco"}`, `argument "pattern"`},
		{"output", `{"on":true}`, `argument "name"`},
		{"test", `{}`, `exactly one of "walk"`},
		{"test", `{"walk":true,"output":"siren"}`, `exactly one of`},
		{"reboot", `{}`, `"reboot" is not an alarm command`},
		{"arm", `{"mode":"` + strings.Repeat("a", MaxArgBytes) + `"}`, `over 4096 bytes`},
	} {
		_, err := DecodeCommand(tc.name, []byte(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.name, tc.args, err, tc.want)
		}
	}
}

// FuzzDecodeCommand: any payload either decodes to a command whose values
// are in range, or fails with an error naming the command; never a panic.
// Seeds are in testdata/fuzz/FuzzDecodeCommand.
func FuzzDecodeCommand(f *testing.F) {
	f.Add("arm", []byte(`{"mode":"away","user":"cb-lan"}`))
	f.Add("output", []byte(`{"name":"siren","on":true,"seconds":5,"pattern":"chirp 2"}`))
	f.Fuzz(func(t *testing.T, name string, args []byte) {
		c, err := DecodeCommand(name, args)
		if err != nil {
			if !strings.Contains(err.Error(), name) && len(name) < 30 && !strings.Contains(err.Error(), "not an alarm command") {
				t.Fatalf("error does not name the command %q: %v", name, err)
			}
			return
		}
		if c.Name != name || len(c.User) > MaxUser || len(c.Reason) > MaxReason || c.For < 0 || c.For > output.HardMaxOn {
			t.Fatalf("out of range: %+v", c)
		}
		if err := c.Pattern.Validate(); err != nil {
			t.Fatalf("bad pattern accepted: %+v: %v", c, err)
		}
		if name == CmdArm && !nameRE.MatchString(c.Mode) {
			t.Fatalf("bad mode accepted: %q", c.Mode)
		}
		// What was accepted encodes back to arguments that decode the same.
		if name == CmdOutput && c.On {
			b, _ := json.Marshal(map[string]any{"name": c.Output, "on": true, "seconds": c.For.Seconds(), "pattern": c.Pattern.String()})
			c2, err := DecodeCommand(name, b)
			if err != nil || c2.Output != c.Output || c2.Pattern != c.Pattern.Normal() {
				t.Fatalf("round trip of %+v: %+v, %v", c, c2, err)
			}
		}
	})
}
