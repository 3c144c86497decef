package uplink_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/uplink"
)

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{`{"id":"r1"}`, `{"id":"r1","camera":"gate-cam","sdp":"v=0"}`, `{"id":5}`, `[]`, `null`, `{"id":"a/b"}`, `{"id":"x","id":"y"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		cmd, err := uplink.DecodeCommand(payload)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if cmd.ID == "" || len(cmd.ID) > uplink.MaxIDLen || strings.ContainsAny(cmd.ID, "/+#") {
			t.Fatalf("accepted id %q", cmd.ID)
		}
		var args map[string]json.RawMessage
		if err := json.Unmarshal(cmd.Args, &args); err != nil {
			t.Fatalf("args %q not an object: %v", cmd.Args, err)
		}
		if _, ok := args["id"]; ok {
			t.Fatalf("args still hold id: %s", cmd.Args)
		}
	})
}

func TestDecodeArgsStrict(t *testing.T) {
	var a struct {
		Mode string `json:"mode"`
	}
	for in, want := range map[string]string{
		`{"mode":1}`:         `argument "mode"`,
		`{"mode":"x","y":2}`: `unknown argument "y"`,
		`{"mode":"x"} {}`:    `trailing data`,
		`[]`:                 `bad arguments`,
	} {
		err := uplink.DecodeArgs(json.RawMessage(in), &a)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeArgs(%s) = %v, want error containing %q", in, err, want)
		}
	}
	if err := uplink.DecodeArgs(nil, &a); err != nil {
		t.Errorf("empty args: %v", err)
	}
}
