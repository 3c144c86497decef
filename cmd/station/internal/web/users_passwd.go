package web

import (
	"net/http"
	"strings"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// passwdCatalogue holds the strings of the users page's password and
// role forms, merged into catalogue; "Đổi mật khẩu" and "Đổi vai trò" are
// docs/glossary-vi.md's.
var passwdCatalogue = map[string]msg{
	"users.password": {"Đổi mật khẩu", "Change password"},
	"users.newpw":    {"Mật khẩu mới cho %s", "New password for %s"},
	"users.passwd":   {"Đã đổi mật khẩu.", "Password changed."},
	"users.setrole":  {"Đổi vai trò", "Change role"},
	"users.roledone": {"Đã đổi vai trò.", "Role changed."},
}

func init() {
	for k, m := range passwdCatalogue {
		catalogue[k] = m
	}
}

// usersPassword is the users page's form for an account's new password:
// an admin resets a forgotten one without the station's command line. The
// account's sessions end (its generation moves) and the change is
// audited, as PATCH /api/users/{name} and `station user passwd` do.
func (s *Server) usersPassword(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	name := r.PathValue("name")
	if !s.changeUser(w, r, v, name, func() error { return s.o.Accounts.SetPassword(name, r.PostForm.Get("password")) },
		audit.Entry{Action: audit.UserPassword}) {
		return
	}
	http.Redirect(w, r, "/users?done=password", http.StatusSeeOther)
}

// usersRole is the users page's form for an account's role and limits.
// The account's sessions end, so the new limits hold from its next
// request; the change is audited with them, as PATCH /api/users/{name}
// and `station user role` do.
func (s *Server) usersRole(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	role, err := accounts.ParseRole(r.PostForm.Get("role"))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "role: "+err.Error())
		return
	}
	lim := accounts.Limits{Sites: splitList(r.PostForm.Get("sites")), Gateways: splitList(r.PostForm.Get("gateways"))}
	if !s.changeUser(w, r, v, name, func() error { return s.o.Accounts.SetRole(name, role, lim) },
		audit.Entry{Action: audit.UserChange, Detail: map[string]string{"role": string(role), "limits": lim.String()}}) {
		return
	}
	http.Redirect(w, r, "/users?done=role", http.StatusSeeOther)
}
