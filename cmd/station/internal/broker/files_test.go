package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testIter = MinIterations // keeps the tests fast; real files use DefaultIterations

func TestHashRoundTrip(t *testing.T) {
	h, err := NewHash("mật khẩu", testIter)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseHash(h.String())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify("mật khẩu") || p.Verify("mat khau") || p.Verify("") {
		t.Fatal("verify after round trip")
	}
	// Unpadded base64 is accepted too.
	unpadded := strings.ReplaceAll(h.String(), "=", "")
	if q, err := ParseHash(unpadded); err != nil || !q.Verify("mật khẩu") {
		t.Fatalf("unpadded: %v", err)
	}
	if _, err := NewHash("x", 10); err == nil {
		t.Fatal("10 iterations accepted")
	}
}

func TestParseHashErrors(t *testing.T) {
	good, _ := NewHash("pw", testIter)
	parts := strings.Split(good.String(), "$")
	for name, s := range map[string]string{
		"scheme":    "sha1$1000$" + parts[2] + "$" + parts[3],
		"fields":    "pbkdf2-sha256$1000$" + parts[2],
		"iter text": "pbkdf2-sha256$many$" + parts[2] + "$" + parts[3],
		"iter low":  "pbkdf2-sha256$999$" + parts[2] + "$" + parts[3],
		"iter high": "pbkdf2-sha256$10000001$" + parts[2] + "$" + parts[3],
		"salt b64":  "pbkdf2-sha256$1000$!!!$" + parts[3],
		"salt len":  "pbkdf2-sha256$1000$AAAA$" + parts[3],
		"hash len":  "pbkdf2-sha256$1000$" + parts[2] + "$AAAA",
		"empty":     "",
	} {
		if _, err := ParseHash(s); err == nil {
			t.Errorf("%s: %q accepted", name, s)
		}
	}
}

func TestParsePasswords(t *testing.T) {
	h, _ := NewHash("pw", testIter)
	file := "# station users\n\nstation:" + h.String() + "\r\n  cong-khu-3:" + h.String() + "  \n"
	e, err := ParsePasswords([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 2 || e[0].User != "station" || e[1].User != "cong-khu-3" || !e[1].Hash.Verify("pw") {
		t.Fatalf("entries %+v", e)
	}
	for name, f := range map[string]string{
		"no colon":  "station " + h.String(),
		"duplicate": "a:" + h.String() + "\na:" + h.String(),
		"bad hash":  "a:xyz",
		"bad user":  "a b:" + h.String(),
		"empty usr": ":" + h.String(),
	} {
		_, err := ParsePasswords([]byte(f))
		if err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: err %v, want one naming the line", name, err)
		}
	}
}

func TestSetPassword(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := SetPassword(path, "cong-khu-3", "one", testIter); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "station", "two", testIter); err != nil {
		t.Fatal(err)
	}
	// Keep a comment the operator wrote, then replace an entry.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append([]byte("# do not share\n"), data...), 0o600)
	if err := SetPassword(path, "cong-khu-3", "three", testIter); err != nil {
		t.Fatal(err)
	}
	e, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	u := NewUsers(e, nil)
	if _, ok := u.Authenticate("cong-khu-3", []byte("three")); !ok {
		t.Fatal("new password refused")
	}
	if _, ok := u.Authenticate("cong-khu-3", []byte("one")); ok {
		t.Fatal("old password accepted")
	}
	if id, ok := u.Authenticate("station", []byte("two")); !ok || id.Role != RoleStation {
		t.Fatalf("station: %+v %v", id, ok)
	}
	data, _ = os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte("# do not share\n")) || bytes.Count(data, []byte("\n")) != 3 {
		t.Fatalf("file:\n%s", data)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := SetPassword(path, "x:y", "pw", testIter); err == nil {
		t.Fatal("bad user name accepted")
	}
	if err := SetPassword(path, "x", "", testIter); err == nil {
		t.Fatal("empty password accepted")
	}
}

func TestParseAccess(t *testing.T) {
	a, err := ParseAccess([]byte("# roles\nstation station\nstation console-2\ngateway cong-khu-3\ngateway\tuser7   truong-thcs \n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Identity{
		"station":    {Role: RoleStation},
		"console-2":  {Role: RoleStation},
		"cong-khu-3": {Role: RoleGateway, ID: "cong-khu-3"},
		"user7":      {Role: RoleGateway, ID: "truong-thcs"},
	}
	if len(a) != len(want) {
		t.Fatalf("got %v", a)
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s: %+v, want %+v", k, a[k], v)
		}
	}
	for name, f := range map[string]string{
		"unknown role": "admin bob",
		"bad id":       "gateway Bob",
		"bad id 2":     "gateway bob B_x",
		"extra field":  "station a b",
		"duplicate":    "station a\ngateway a",
		"missing user": "gateway",
	} {
		_, err := ParseAccess([]byte(f))
		if err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestUsersIdentity(t *testing.T) {
	h, _ := NewHash("pw", testIter)
	pw := []PasswordEntry{{"station", h}, {"cong-khu-3", h}, {"Not-An-ID", h}}
	u := NewUsers(pw, nil)
	if id, _ := u.Identity("station"); id.Role != RoleStation {
		t.Fatalf("station: %+v", id)
	}
	if id, _ := u.Identity("cong-khu-3"); id != (Identity{RoleGateway, "cong-khu-3"}) {
		t.Fatalf("gateway: %+v", id)
	}
	if _, ok := u.Authenticate("nobody", []byte("pw")); ok {
		t.Fatal("unknown user accepted")
	}
	// With an access file, users missing from it have no role.
	u = NewUsers(pw, map[string]Identity{"cong-khu-3": {RoleGateway, "truong"}})
	if _, ok := u.Authenticate("station", []byte("pw")); ok {
		t.Fatal("user outside the access file accepted")
	}
	if id, ok := u.Authenticate("cong-khu-3", []byte("pw")); !ok || id.ID != "truong" {
		t.Fatalf("mapped: %+v %v", id, ok)
	}
}

func FuzzParsePasswords(f *testing.F) {
	h, _ := NewHash("pw", testIter)
	f.Add([]byte("station:" + h.String() + "\n# c\n\ngw:" + h.String()))
	f.Add([]byte("a:pbkdf2-sha256$1000$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA"))
	f.Add([]byte("a:pbkdf2-sha256$99999999999999999999$$"))
	f.Add([]byte(":\n:\n"))
	f.Add([]byte("\xff:\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParsePasswords(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, x := range e {
			if checkUser(x.User) != nil || seen[x.User] {
				t.Fatalf("bad or repeated user %q accepted", x.User)
			}
			seen[x.User] = true
			if x.Hash.Iter < MinIterations || x.Hash.Iter > MaxIterations || len(x.Hash.Salt) < 8 {
				t.Fatalf("bad hash accepted: %+v", x.Hash)
			}
			if _, err := ParseHash(x.Hash.String()); err != nil {
				t.Fatalf("hash does not round-trip: %v", err)
			}
		}
	})
}

func FuzzParseAccess(f *testing.F) {
	f.Add([]byte("station station\ngateway cong-khu-3\ngateway u truong-1\n# x\n"))
	f.Add([]byte("gateway a b c"))
	f.Add([]byte("station\t\tx\r\n"))
	f.Add([]byte("gateway A"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAccess(data)
		if err != nil {
			return
		}
		for u, id := range a {
			if checkUser(u) != nil {
				t.Fatalf("bad user %q accepted", u)
			}
			switch id.Role {
			case RoleStation:
				if id.ID != "" {
					t.Fatalf("station with id %q", id.ID)
				}
			case RoleGateway:
				if !Allowed(id.Role, id.ID, "antt", "antt/"+id.ID+"/event", true) {
					t.Fatalf("gateway %q cannot publish its own events", id.ID)
				}
			default:
				t.Fatalf("role %q", id.Role)
			}
		}
	})
}

func FuzzAllowed(f *testing.F) {
	f.Add("g1", "antt/g1/cmd/#", false)
	f.Add("g1", "antt/+/cmd/#", false)
	f.Add("g1", "$share/x/antt/g1/cmd/+", false)
	f.Add("g1", "antt/g1/event", true)
	f.Fuzz(func(t *testing.T, id, topic string, write bool) {
		// Whatever a gateway is allowed must stay under its own id.
		if Allowed(RoleGateway, id, "antt", topic, write) {
			levels := strings.Split(topic, "/")
			if strings.EqualFold(levels[0], "$share") {
				levels = levels[2:]
			}
			if len(levels) < 3 || levels[0] != "antt" || levels[1] != id {
				t.Fatalf("gateway %q allowed %q", id, topic)
			}
			if write == (levels[2] == "cmd") {
				t.Fatalf("gateway %q allowed %q write=%v", id, topic, write)
			}
		}
		if Allowed(RoleStation, id, "antt", topic, write) && write && strings.ContainsAny(topic, "+#") {
			t.Fatalf("station may publish to wildcard %q", topic)
		}
	})
}
