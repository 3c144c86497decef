package accounts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// "station user passwd NAME" sets a new password: the old one stops
// working, the new one logs in, the user's sessions end (its generation
// moves) and the change is in the audit log without the password. A
// password for nobody is refused before it is asked for.
func TestCommandPasswd(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	asked := 0
	cli := CLI{Options: Options{Params: fast}, Stdout: &out, Stderr: &errb, ReadPassword: func(r io.Reader, _ io.Writer, _ string) (string, error) {
		asked++
		s, err := bufio.NewReader(r).ReadString('\n')
		return strings.TrimSuffix(s, "\n"), err
	}}
	run := func(in string, args ...string) error {
		cli.Stdin = strings.NewReader(in)
		return cli.Command(args[0], append([]string{args[1], "-data", dir}, args[2:]...))
	}
	const oldPW, newPW = "mật khẩu cũ của Tuấn", "mật khẩu mới của Tuấn"
	if err := run(oldPW+"\n", "user", "add", "-role", "officer", "tuan"); err != nil {
		t.Fatal(err)
	}
	db, err := Open(filepath.Join(dir, FileName), Options{Params: fast})
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := db.Lookup("tuan")
	if err := run(newPW+"\n", "user", "passwd", "tuan"); err != nil {
		t.Fatalf("passwd: %v", err)
	}
	ctx := context.Background()
	if _, err := db.Authenticate(ctx, "tuan", oldPW); !errors.Is(err, ErrBadLogin) {
		t.Errorf("the old password still logs in: %v", err)
	}
	u, err := db.Authenticate(ctx, "tuan", newPW)
	if err != nil || u.Role != Officer {
		t.Fatalf("the new password: %+v, %v", u, err)
	}
	if u.Gen == before.Gen {
		t.Errorf("generation still %d: the user's sessions would live on", u.Gen)
	}
	if !strings.Contains(errb.String(), "password of tuan changed") {
		t.Errorf("passwd printed %q", errb.String())
	}
	asked = 0
	if err := run(newPW+"\n", "user", "passwd", "nobody"); !errors.Is(err, ErrNotFound) || asked != 0 {
		t.Errorf("passwd of nobody: %v (password asked %d times)", err, asked)
	}
	es, err := audit.Open(filepath.Join(dir, audit.FileName)).List(audit.Filter{Action: audit.UserPassword}, 10)
	if err != nil || len(es) != 1 || es[0].Target != "tuan" || !strings.HasPrefix(es[0].Actor, "cli") || !es[0].OK {
		t.Fatalf("user_password entries: %+v, %v", es, err)
	}
	b, _ := audit.Open(filepath.Join(dir, audit.FileName)).List(audit.Filter{}, 10)
	for _, e := range b {
		for k, v := range e.Detail {
			if strings.Contains(v, "mật khẩu") {
				t.Errorf("a password reached the audit log: %s=%q", k, v)
			}
		}
	}
}
