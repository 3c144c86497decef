package web

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/antt-gateway/antt/device/devtest"
	"github.com/antt-gateway/antt/device/reexec"
)

// command runs bin through the emulator named by ANTT_TEST_EXEC, if any.
func command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if w := strings.Fields(os.Getenv(reexec.EnvExec)); len(w) > 0 {
		return exec.CommandContext(ctx, w[0], append(append(w[1:], bin), args...)...)
	}
	return exec.CommandContext(ctx, bin, args...)
}

// The real station binary: "station user add" makes the first admin, the
// running station serves the console (login, roles in the API), "station
// user remove" while it runs ends the removed user's session at once, and
// "station audit verify" finds the chain intact, then an edited entry.
func TestStationBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "station")
	build := exec.Command("go", "build", "-o", bin, "github.com/antt-gateway/antt/cmd/station")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build station: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(stdin string, args ...string) string {
		t.Helper()
		c := command(ctx, bin, args...)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("station %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run(testPassword+"\n", "user", "add", "-data", data, "-role", "admin", "an")
	run(testPassword+"\n", "user", "add", "-data", data, "-role", "viewer", "-sites", "khu-3", "binh")
	if out := run("", "user", "list", "-data", data); !strings.Contains(out, "binh  viewer  sites khu-3") {
		t.Fatalf("user list:\n%s", out)
	}

	addr := devtest.FreeAddr(t)
	var stderr devtest.Buffer
	st := command(ctx, bin, "run", "-data", data, "-listen", "127.0.0.1:0", "-http", addr)
	st.Stderr = &stderr
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = st.Process.Signal(syscall.SIGTERM)
		_ = st.Wait()
	}()
	stderr.WaitContains(t, 60*time.Second, "console listening on http://"+addr)

	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(user string) string {
		t.Helper()
		r, err := c.PostForm("http://"+addr+"/login", url.Values{"user": {user}, "password": {testPassword}})
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		for _, ck := range r.Cookies() {
			if ck.Name == sessionCookie && r.StatusCode == http.StatusSeeOther {
				return ck.Value
			}
		}
		t.Fatalf("login %s: %s", user, r.Status)
		return ""
	}
	get := func(path, cookie string) int {
		t.Helper()
		rq, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		rq.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		r, err := c.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	an, binh := login("an"), login("binh")
	if code := get("/api/users", an); code != http.StatusOK {
		t.Fatalf("admin /api/users: %d", code)
	}
	if code := get("/api/users", binh); code != http.StatusForbidden {
		t.Fatalf("viewer /api/users: %d", code)
	}
	run("", "user", "remove", "-data", data, "binh")
	if code := get("/api/me", binh); code != http.StatusUnauthorized {
		t.Fatalf("removed user's session: %d", code)
	}
	if code := get("/api/me", an); code != http.StatusOK {
		t.Fatalf("admin's session: %d", code)
	}

	out := run("", "audit", "verify", "-data", data)
	if !strings.Contains(out, "5 entries, chain intact") { // user_add ×2, login ×2, user_remove
		t.Fatalf("audit verify:\n%s", out)
	}
	log := filepath.Join(data, "audit.jsonl")
	b, _ := os.ReadFile(log)
	if err := os.WriteFile(log, []byte(strings.Replace(string(b), `"actor":"an"`, `"actor":"mallory"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c2 := command(ctx, bin, "audit", "verify", "-data", data)
	o2, err := c2.CombinedOutput()
	if err == nil || !strings.Contains(string(o2), "(edited)") {
		t.Fatalf("verify of an edited log: %v\n%s", err, o2)
	}
}
