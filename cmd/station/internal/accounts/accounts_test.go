package accounts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// fast are cheap parameters for tests; DefaultParams is tested once.
var fast = Params{Time: 1, Memory: 1 << 10, Threads: 1, SaltLen: 16, KeyLen: 32}

func open(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), FileName), Options{Params: fast})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestAddAuthenticate(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	if err := db.Add("tuan", Officer, Limits{Sites: []string{"chi-dam"}}, "mật khẩu dài lắm"); err != nil {
		t.Fatal(err)
	}
	u, err := db.Authenticate(ctx, "tuan", "mật khẩu dài lắm")
	if err != nil || u.Role != Officer || u.Hash != "" || !u.Limits.Allows("x", "chi-dam") || u.Limits.Allows("x", "other") {
		t.Fatalf("Authenticate = %+v, %v", u, err)
	}
	if _, err := db.Authenticate(ctx, "tuan", "mật khẩu dài lắ"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := db.Authenticate(ctx, "nobody", "mật khẩu dài lắm"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("unknown user: %v", err)
	}
	if err := db.Add("tuan", Viewer, Limits{}, "0123456789"); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v", err)
	}
	b, _ := os.ReadFile(db.Path())
	if bytes.Contains(b, []byte("dài")) || !bytes.Contains(b, []byte("$argon2id$v=19$m=1024,t=1,p=1$")) {
		t.Fatalf("file holds:\n%s", b)
	}
	if st, _ := os.Stat(db.Path()); st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", st.Mode())
	}
}

func TestBadInput(t *testing.T) {
	db := open(t)
	for _, c := range []struct {
		name, pw string
		role     Role
		lim      Limits
		want     string
	}{
		{"Tuan", "0123456789", Viewer, Limits{}, "name"},
		{"", "0123456789", Viewer, Limits{}, "name"},
		{"tuan", "short", Viewer, Limits{}, "too short"},
		{"tuan", strings.Repeat("x", 300), Viewer, Limits{}, "too long"},
		{"tuan", "0123456789", "root", Limits{}, "role"},
		{"tuan", "0123456789", Viewer, Limits{Sites: []string{"Chí Đám"}}, "site"},
	} {
		if err := db.Add(c.name, c.role, c.lim, c.pw); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%q, %q, %q) = %v; want %q", c.name, c.pw, c.role, err, c.want)
		}
	}
	bad := filepath.Join(t.TempDir(), FileName)
	os.WriteFile(bad, []byte(`{"version":1,"users":[{"name":"a","role":"god"}]}`), 0o600)
	if _, err := Open(bad, Options{}); err == nil || !strings.Contains(err.Error(), `role "god"`) {
		t.Fatalf("Open of a bad file = %v", err)
	}
	os.WriteFile(bad, []byte(`{"version":1,"users":[],"extra":1}`), 0o600)
	if _, err := Open(bad, Options{}); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("Open with an unknown key = %v", err)
	}
}

func TestChangesEndSessionsAndLastAdmin(t *testing.T) {
	db := open(t)
	db.Add("an", Admin, Limits{}, "0123456789")
	db.Add("binh", Viewer, Limits{}, "0123456789")
	u0, _, _ := db.Lookup("binh")
	if err := db.SetPassword("binh", "9876543210"); err != nil {
		t.Fatal(err)
	}
	u1, _, _ := db.Lookup("binh")
	if u1.Gen == u0.Gen {
		t.Fatal("a password change kept the generation")
	}
	if _, err := db.Authenticate(context.Background(), "binh", "0123456789"); !errors.Is(err, ErrBadLogin) {
		t.Fatal("old password still works")
	}
	if err := db.Remove("an"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("remove last admin: %v", err)
	}
	if err := db.SetRole("an", Viewer, Limits{}); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	if err := db.SetRole("binh", Admin, Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Remove("an"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Lookup("an"); ok {
		t.Fatal("removed user still there")
	}
}

// A change made through another DB on the same file (the command line
// while the station runs) is seen at the next lookup.
func TestOtherProcessChanges(t *testing.T) {
	db := open(t)
	other, err := Open(db.Path(), Options{Params: fast})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("chi", Officer, Limits{}, "0123456789"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := other.Lookup("chi"); !ok {
		t.Fatal("other DB does not see the new user")
	}
	if err := other.Remove("chi"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Lookup("chi"); ok {
		t.Fatal("removed by the other DB, still seen")
	}
	var wg sync.WaitGroup
	for i, d := range []*DB{db, other, db, other} {
		wg.Go(func() {
			for j := range 5 {
				if err := d.Add(string(rune('a'+i))+"-"+string(rune('0'+j)), Viewer, Limits{}, "0123456789"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if us, _ := db.Users(); len(us) != 20 {
		t.Fatalf("%d users after 20 concurrent adds from two DBs", len(us))
	}
}

func TestTokens(t *testing.T) {
	db := open(t)
	secret, tok, err := db.AddToken("district", Viewer, Limits{Sites: []string{"chi-dam"}}, "an")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "antt_"+tok.ID+"_") || len(secret) < 50 {
		t.Fatalf("token %q", secret)
	}
	b, _ := os.ReadFile(db.Path())
	if bytes.Contains(b, []byte(secret[len("antt_"+tok.ID+"_"):])) {
		t.Fatal("the token's secret is in the file")
	}
	got, err := db.TokenAuth(secret)
	if err != nil || got.Name != "district" || got.Role != Viewer {
		t.Fatalf("TokenAuth = %+v, %v", got, err)
	}
	if _, err := db.TokenAuth(secret[:len(secret)-1] + "x"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("altered token: %v", err)
	}
	if _, _, err := db.AddToken("root", Admin, Limits{}, "an"); err == nil {
		t.Fatal("admin token made")
	}
	if err := db.RevokeToken(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TokenAuth(secret); !errors.Is(err, ErrBadToken) {
		t.Fatalf("revoked token: %v", err)
	}
	ts, _ := db.Tokens()
	if len(ts) != 1 || ts[0].Revoked == nil || ts[0].Hash != "" {
		t.Fatalf("Tokens = %+v", ts)
	}
}

// The checks wait for a slot until their context ends.
func TestAuthenticateBounded(t *testing.T) {
	db, _ := Open(filepath.Join(t.TempDir(), FileName), Options{Params: fast, MaxChecks: 1})
	db.Add("an", Admin, Limits{}, "0123456789")
	db.checks <- struct{}{} // the one slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := db.Authenticate(ctx, "an", "0123456789"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Authenticate with no slot = %v", err)
	}
	<-db.checks
	if _, err := db.Authenticate(context.Background(), "an", "0123456789"); err != nil {
		t.Fatal(err)
	}
}

// The default parameters hash and verify, and the PHC string names them.
// Under -short (qemu) the same path runs with a quarter of the memory.
func TestDefaultParams(t *testing.T) {
	p := DefaultParams
	if testing.Short() {
		p.Memory /= 4
	}
	h, err := p.Hash("0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if p == DefaultParams && !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := verifyPassword(h, "0123456789"); !ok || err != nil {
		t.Fatalf("verify = %v, %v", ok, err)
	}
	if ok, _ := verifyPassword(h, "0123456788"); ok {
		t.Fatal("wrong password verified")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=65536,t=0,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=9999999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"} {
		if _, err := verifyPassword(bad, "x"); err == nil {
			t.Errorf("verify of %q: no error", bad)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := DefaultParams.Hash("0123456789"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	pw := "một hai ba bốn năm"
	cli := CLI{Options: Options{Params: fast}, Stdout: &out, Stderr: &errb, ReadPassword: func(r io.Reader, _ io.Writer, _ string) (string, error) {
		s, err := bufio.NewReader(r).ReadString('\n')
		return strings.TrimSuffix(s, "\n"), err
	}}
	run := func(in string, args ...string) error {
		cli.Stdin = strings.NewReader(in)
		out.Reset()
		return cli.Command(args[0], append([]string{args[1], "-data", dir}, args[2:]...))
	}
	if err := run(pw+"\n", "user", "add", "-role", "officer", "-sites", "chi-dam,cong-khu-3", "tuan"); err != nil {
		t.Fatal(err)
	}
	if err := run("", "user", "list"); err != nil || !strings.Contains(out.String(), "tuan  officer  sites chi-dam,cong-khu-3") {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	if err := run("short\n", "user", "passwd", "tuan"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("passwd with a short password: %v", err)
	}
	if err := run("", "user", "add", "-role", "chief", "x"); err == nil || !strings.Contains(err.Error(), "-role") {
		t.Fatalf("bad role: %v", err)
	}
	if err := run("", "token", "add", "-role", "viewer", "district"); err != nil || !strings.HasPrefix(out.String(), "antt_") {
		t.Fatalf("token add: %v %q", err, out.String())
	}
	if err := run("", "user", "remove", "tuan"); err != nil {
		t.Fatal(err)
	}
	if err := run("", "user", "remove", "tuan"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
	es, err := audit.Open(filepath.Join(dir, audit.FileName)).List(audit.Filter{}, 10)
	if err != nil || len(es) != 3 || es[2].Action != audit.UserAdd || es[1].Action != audit.TokenAdd || es[0].Action != audit.UserRemove ||
		!strings.HasPrefix(es[0].Actor, "cli") || es[2].Detail["limits"] != "sites chi-dam,cong-khu-3" {
		t.Fatalf("audit entries: %+v, %v", es, err)
	}
	if n, err := audit.Verify(filepath.Join(dir, audit.FileName)); err != nil || n != 3 {
		t.Fatalf("verify: %d, %v", n, err)
	}
}
