package web

import (
	"net/http"

	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// passwdCatalogue holds the strings of the users page's password form,
// merged into catalogue; "Đổi mật khẩu" is docs/glossary-vi.md's.
var passwdCatalogue = map[string]msg{
	"users.password": {"Đổi mật khẩu", "Change password"},
	"users.newpw":    {"Mật khẩu mới cho %s", "New password for %s"},
	"users.passwd":   {"Đã đổi mật khẩu.", "Password changed."},
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
	if err := s.o.Accounts.SetPassword(name, r.PostForm.Get("password")); err != nil {
		s.fail(w, r, userErrCode(err), err.Error())
		return
	}
	s.sess.removeUser(name)
	if err := s.record(r, audit.Entry{Action: audit.UserPassword, Actor: v.p.name, Target: name, OK: true}); err != nil {
		s.internal(w, r, "audit a password change", err)
		return
	}
	http.Redirect(w, r, "/users?done=password", http.StatusSeeOther)
}
