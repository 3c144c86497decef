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

// The admin page changes an account's role and limits (as `station user
// role` and PATCH /api/users/{name} do): the account's sessions end, the
// new limits hold at once, the change is audited with them; the last
// admin cannot be demoted; a bad role is refused naming it.
func TestUsersPageRole(t *testing.T) {
	f := newFixture(t)
	an, binh := f.login("an"), f.login("binh")
	page := must(t, f.do(req{path: "/users", cookie: an}), http.StatusOK, "users page").body
	for _, want := range []string{`action="/users/role"`, `<label for="rl-name">`, `<option value="binh">binh</option>`,
		`<label for="rl-role">`, `<label for="rl-sites">`, `<label for="rl-gateways">`} {
		if !strings.Contains(page, want) {
			t.Errorf("users page lacks %q", want)
		}
	}
	set := func(cookie string, form url.Values) resp {
		return f.do(req{method: "POST", path: "/users/role", cookie: cookie, form: form})
	}
	officerKhu3 := url.Values{"name": {"binh"}, "role": {"officer"}, "sites": {"khu-3"}}
	must(t, set(f.login("tuan"), officerKhu3), http.StatusForbidden, "an officer changes a role")
	if r := must(t, set(an, url.Values{"name": {"binh"}, "role": {"chief"}}), http.StatusBadRequest, "bad role"); !strings.Contains(r.body, "chief") {
		t.Errorf("bad role: %.300s", r.body)
	}
	must(t, set(an, url.Values{"name": {"nobody"}, "role": {"viewer"}}), http.StatusNotFound, "unknown account")
	must(t, set(an, url.Values{"name": {"an"}, "role": {"viewer"}}), http.StatusConflict, "the last admin demoted")
	f.event(gwSchool, "tamper", "school-box", nil)
	r := must(t, set(an, officerKhu3), http.StatusSeeOther, "change role")
	if loc := r.header.Get("Location"); loc != "/users?done=role" {
		t.Errorf("after the change: to %q", loc)
	}
	if done := must(t, f.do(req{path: "/users?done=role", cookie: an}), http.StatusOK, "users page").body; !strings.Contains(done, "Đã đổi vai trò.") {
		t.Errorf("no confirmation on the users page")
	}
	must(t, f.do(req{path: "/api/me", cookie: binh}), http.StatusUnauthorized, "the account's old session")
	binh = f.login("binh")
	if ev := must(t, f.do(req{path: "/api/events", cookie: binh}), http.StatusOK, "events").body; strings.Contains(ev, "school-box") {
		t.Error("the new limit to khu-3 does not hold")
	}
	u, _, _ := f.db.Lookup("binh")
	if u.Role != accounts.Officer || !u.Limits.Allows(gwGate, "khu-3") || u.Limits.Allows(gwSchool, "chi-dam") {
		t.Errorf("binh is now %+v", u)
	}
	es := f.entries(audit.UserChange)
	if len(es) != 1 || es[0].Actor != "an" || es[0].Target != "binh" || es[0].Detail["role"] != "officer" || es[0].Detail["limits"] != "sites khu-3" {
		t.Fatalf("user_change entries: %+v", es)
	}
}
