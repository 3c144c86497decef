package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// The admin page sets an account's password (as `station user passwd`
// does): each account's row has a labelled password field; the new
// password logs in, the old one does not, the account's sessions end, the
// change is audited without the password; a short password and an
// unknown account are refused with the reason; only an admin may.
func TestUsersPagePassword(t *testing.T) {
	f := newFixture(t)
	an, tuan := f.login("an"), f.login("tuan")
	page := must(t, f.do(req{path: "/users", cookie: an}), http.StatusOK, "users page").body
	for _, want := range []string{`action="/users/tuan/password"`, `<label for="pw-tuan" class="sr">Mật khẩu mới cho tuan</label>`, `id="pw-tuan" name="password" type="password" autocomplete="new-password"`} {
		if !strings.Contains(page, want) {
			t.Errorf("users page lacks %q", want)
		}
	}
	const newPW = "mật-khẩu-mới-của-tuấn"
	set := func(cookie, name, pw string) resp {
		return f.do(req{method: "POST", path: "/users/" + name + "/password", cookie: cookie, form: url.Values{"password": {pw}}})
	}
	must(t, set(f.login("binh"), "tuan", newPW), http.StatusForbidden, "a viewer sets a password")
	must(t, set(tuan, "tuan", newPW), http.StatusForbidden, "an officer sets a password")
	if r := must(t, set(an, "tuan", "ngắn"), http.StatusBadRequest, "short password"); !strings.Contains(r.body, "too short") {
		t.Errorf("short password: %.300s", r.body)
	}
	must(t, set(an, "nobody", newPW), http.StatusNotFound, "unknown account")
	r := must(t, set(an, "tuan", newPW), http.StatusSeeOther, "set password")
	if loc := r.header.Get("Location"); loc != "/users?done=password" {
		t.Errorf("after setting the password: to %q", loc)
	}
	if done := must(t, f.do(req{path: "/users?done=password", cookie: an}), http.StatusOK, "users page").body; !strings.Contains(done, "Đã đổi mật khẩu.") {
		t.Errorf("no confirmation on the users page")
	}
	must(t, f.do(req{path: "/api/me", cookie: tuan}), http.StatusUnauthorized, "the account's old session")
	ctx := context.Background()
	if _, err := f.db.Authenticate(ctx, "tuan", testPassword); !errors.Is(err, accounts.ErrBadLogin) {
		t.Errorf("the old password still logs in: %v", err)
	}
	if _, err := f.db.Authenticate(ctx, "tuan", newPW); err != nil {
		t.Errorf("the new password: %v", err)
	}
	es := f.entries(audit.UserPassword)
	if len(es) != 1 || es[0].Actor != "an" || es[0].Target != "tuan" || !es[0].OK {
		t.Fatalf("user_password entries: %+v", es)
	}
	for _, e := range f.entries("") {
		for _, v := range e.Detail {
			if strings.Contains(v, "mật-khẩu-mới") {
				t.Errorf("a password reached the audit log: %+v", e)
			}
		}
	}
}
