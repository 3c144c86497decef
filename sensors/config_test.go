package sensors_test

import (
	"strings"
	"testing"
	"time"

	"github.com/antt-gateway/antt/sensors"
)

func TestValidate(t *testing.T) {
	gpioOK := sensors.Config{Name: "gate-pir", Kind: "motion", Driver: "gpio", Pin: "GPIO17", Pull: "down", Debounce: 50 * time.Millisecond, Hold: 10 * time.Second}
	simOK := sensors.Config{Name: "demo-pir", Kind: "motion", Driver: "sim", Every: 20 * time.Second}
	tests := []struct {
		name   string
		mod    func(*sensors.Config)
		base   sensors.Config
		fields []string // words the error must contain; nil means valid
	}{
		{"gpio ok", func(*sensors.Config) {}, gpioOK, nil},
		{"sim ok", func(*sensors.Config) {}, simOK, nil},
		{"sim trigger only", func(c *sensors.Config) { c.Every = 0 }, simOK, nil},
		{"no name", func(c *sensors.Config) { c.Name = "" }, gpioOK, []string{"name"}},
		{"no kind", func(c *sensors.Config) { c.Kind = "" }, gpioOK, []string{`"gate-pir"`, "kind"}},
		{"bad kind", func(c *sensors.Config) { c.Kind = "smoke" }, gpioOK, []string{`"gate-pir"`, "kind", `"smoke"`}},
		{"no driver", func(c *sensors.Config) { c.Driver = "" }, gpioOK, []string{`"gate-pir"`, "driver"}},
		{"bad driver", func(c *sensors.Config) { c.Driver = "i2c" }, gpioOK, []string{`"gate-pir"`, "driver", `"i2c"`}},
		{"no pin", func(c *sensors.Config) { c.Pin = "" }, gpioOK, []string{`"gate-pir"`, "pin"}},
		{"bad pull", func(c *sensors.Config) { c.Pull = "sideways" }, gpioOK, []string{`"gate-pir"`, "pull", "sideways"}},
		{"negative debounce", func(c *sensors.Config) { c.Debounce = -1 }, gpioOK, []string{`"gate-pir"`, "debounce"}},
		{"negative hold", func(c *sensors.Config) { c.Hold = -time.Second }, gpioOK, []string{`"gate-pir"`, "hold"}},
		{"every on gpio", func(c *sensors.Config) { c.Every = time.Second }, gpioOK, []string{`"gate-pir"`, "every"}},
		{"pin on sim", func(c *sensors.Config) { c.Pin = "GPIO4" }, simOK, []string{`"demo-pir"`, "pin"}},
		{"negative every", func(c *sensors.Config) { c.Every = -time.Second }, simOK, []string{`"demo-pir"`, "every"}},
		{"pulse too long", func(c *sensors.Config) { c.Pulse = 20 * time.Second }, simOK, []string{`"demo-pir"`, "pulse"}},
		{"script and every", func(c *sensors.Config) { c.Script = []sensors.Step{{At: 0, Active: true}} }, simOK, []string{`"demo-pir"`, "script"}},
		{"script out of order", func(c *sensors.Config) {
			c.Every = 0
			c.Script = []sensors.Step{{At: 2 * time.Second, Active: true}, {At: time.Second}}
		}, simOK, []string{`"demo-pir"`, "script[1].at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.base
			tt.mod(&cfg)
			err := sensors.Validate(cfg)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.fields {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if _, oerr := sensors.Open(cfg, sensors.Options{}); oerr == nil || oerr.Error() != err.Error() {
				t.Errorf("Open error %v differs from Validate error %v", oerr, err)
			}
		})
	}
}
