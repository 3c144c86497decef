package accounts

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseHash: a stored hash string never panics the parser, and one it
// accepts has parameters within bounds (so a damaged file cannot make a
// login allocate gigabytes).
func FuzzParseHash(f *testing.F) {
	h, _ := fast.Hash("0123456789")
	f.Add(h)
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$v=19$m=1,t=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, _, _, err := parseHash(s)
		if err == nil && (p.check() != nil || p.Memory > 4<<20) {
			t.Fatalf("accepted %q with %+v", s, p)
		}
	})
}

// FuzzTokenAuth: no made-up token string authenticates.
func FuzzTokenAuth(f *testing.F) {
	db, err := Open(filepath.Join(f.TempDir(), FileName), Options{Params: fast})
	if err != nil {
		f.Fatal(err)
	}
	secret, _, err := db.AddToken("district", Viewer, Limits{}, "an")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(secret[:len(secret)-1])
	f.Add("antt_")
	f.Add("antt__")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := db.TokenAuth(s); err == nil && s != secret {
			t.Fatalf("%q authenticated", s)
		}
	})
}

// FuzzFile: an accounts file either fails to open with an error or gives
// users with valid names and roles.
func FuzzFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"users":[{"name":"an","role":"admin","hash":"x","gen":1,"created":"2026-01-01T00:00:00Z","changed":"2026-01-01T00:00:00Z"}],"tokens":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"users":[{"name":"AN","role":"admin"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(p, Options{Params: fast})
		if err != nil {
			return
		}
		us, err := db.Users()
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			if CheckName(u.Name) != nil || !u.Role.Valid() {
				t.Fatalf("accepted user %+v", u)
			}
		}
	})
}
