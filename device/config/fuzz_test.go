package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fuzzSecret is what every file reads as during fuzzing, so that
// password_file and tls paths resolve without touching the disk.
const fuzzSecret = "fuzz-s3cret-value"

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(testdata, "bad", "*.yaml"))
	seeds = append(seeds, filepath.Join(testdata, "full.yaml"), filepath.Join(testdata, "alarm-school.yaml"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("gateway: {id: a}\nuplink: {broker: mqtt://h}\nsensors: [&a {name: p, kind: motion, pin: X}, *a]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("gateway: {<<: {id: a}}\n"))
	f.Add([]byte("? [a]\n: b\n"))
	opts := []Option{
		LookupEnv(func(k string) (string, bool) { return fuzzSecret, k == EnvTURNCredential }),
		ReadFile(func(p string) ([]byte, error) {
			if strings.Contains(p, "missing") {
				return nil, errors.New("not found")
			}
			return []byte(fuzzSecret + "\n"), nil
		}),
		BaseDir("/cfg"),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, opts...)
		if err != nil {
			var e *Errors
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
			}
			// Where the file parses as YAML, every problem has a line.
			var doc yaml.Node
			if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) > 0 && !isNull(doc.Content[0]) {
				for _, p := range e.Problems {
					if p.Line <= 0 && !strings.HasPrefix(p.Msg, "YAML syntax") {
						t.Fatalf("problem without a line: %v\nin %q", p, data)
					}
				}
			}
			if !strings.Contains(string(data), fuzzSecret) && strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("secret in error: %v", err)
			}
			return
		}
		// A configuration that loads prints as one that loads again, and
		// printing it is stable from then on.
		out := cfg.Redacted()
		if !strings.Contains(string(data), fuzzSecret) && strings.Contains(out, fuzzSecret) {
			t.Fatalf("secret in Redacted:\n%s", out)
		}
		back, err := Parse([]byte(out), opts...)
		if err != nil {
			t.Fatalf("Redacted output does not load: %v\ninput %q\noutput:\n%s", err, data, out)
		}
		out2 := back.Redacted()
		back2, err := Parse([]byte(out2), opts...)
		if err != nil {
			t.Fatalf("second round does not load: %v\n%s", err, out2)
		}
		if out3 := back2.Redacted(); out3 != out2 {
			t.Fatalf("Redacted not stable:\n%s\n---\n%s", out2, out3)
		}
	})
}
