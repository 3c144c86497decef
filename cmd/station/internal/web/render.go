package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"login", "sites", "events", "audit", "users", "error", "command", "stats"}

// parseTemplates parses every page once per language, with the
// language's strings bound into the template functions.
func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	for _, lang := range []string{LangVI, LangEN} {
		for _, p := range pageNames {
			t, err := template.New("layout.html").Funcs(funcs(lang)).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
			if err != nil {
				return fmt.Errorf("web: parse page %s: %w", p, err)
			}
			s.pages[lang+"/"+p] = t
		}
	}
	return nil
}

func funcs(lang string) template.FuncMap {
	return template.FuncMap{
		"t":    func(key string, args ...any) string { return tr(lang, key, args...) },
		"when": func(t time.Time) string { return when(lang, t) },
		"iso":  iso,
		"role": func(r accounts.Role) string { return trOr(lang, "role."+string(r), string(r)) },
		"kind": func(k string) string { return trOr(lang, "kind."+k, k) },
		// kindClass is the row's CSS class for a kind; a gateway's kind is
		// not validated, and one with spaces would add classes (is-alarm).
		"kindClass": kindClass,
		"mode":      func(m string) string { return trOr(lang, "mode."+m, m) },
		"size": func(n int64) string {
			if n >= 1<<30 {
				return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
			}
			return fmt.Sprintf("%d MiB", n>>20)
		},
		"celsius": func(c float64) string { return fmt.Sprintf("%.0f °C", c) },
		"limits": func(l accounts.Limits) string {
			if l.Unlimited() {
				return tr(lang, "users.all")
			}
			var parts []string
			if len(l.Sites) > 0 {
				parts = append(parts, tr(lang, "users.limitsites", strings.Join(l.Sites, ",")))
			}
			if len(l.Gateways) > 0 {
				parts = append(parts, tr(lang, "users.limitgws", strings.Join(l.Gateways, ",")))
			}
			return strings.Join(parts, "; ")
		},
		"mod":     func(a, b int) int { return a % b },
		"secs":    func(f float64) string { return (time.Duration(f) * time.Second).String() },
		"action":  func(a string) string { return trOr(lang, "act."+a, a) },
		"cmdname": func(c string) string { return trOr(lang, "cmdname."+c, c) },
		"cameras": func(m map[string]string) string {
			var parts []string
			for k, v := range m {
				parts = append(parts, k+": "+trOr(lang, "cam."+v, v))
			}
			sort.Strings(parts)
			return strings.Join(parts, ", ")
		},
	}
}

// when is a time as every page prints it: in Asia/Ho_Chi_Minh, in the
// language's order; the live feed sends the same string.
func when(lang string, t time.Time) string {
	if t.IsZero() {
		return tr(lang, "gw.never")
	}
	layout := "02/01/2006 15:04:05"
	if lang == LangEN {
		layout = "2006-01-02 15:04:05"
	}
	return t.In(audit.Vietnam).Format(layout)
}

// iso is a time for a <time datetime> attribute.
func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// me is the logged-in principal as the layout shows it.
type me struct {
	Name  string
	Role  accounts.Role
	Admin bool
	// Officer: may acknowledge and send commands.
	Officer bool
}

// render writes page with data inside the layout. It renders into a
// buffer first, so a template error is a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, v *view, code int, page string, data map[string]any) {
	t := s.pages[v.lang+"/"+page]
	pd := map[string]any{"Lang": v.lang, "Page": page, "Path": r.URL.RequestURI(), "Data": data}
	if v.p != nil {
		pd["Me"] = me{Name: v.p.name, Role: v.p.role, Admin: v.p.role.AtLeast(accounts.Admin), Officer: v.p.role.AtLeast(accounts.Officer)}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		s.log.Error("render page", "page", page, "err", err)
		http.Error(w, "server error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	writePage(w, r, code, &buf)
}

// kindClass is "kind-"+k when k is a plain word ([a-z0-9_]), else
// "kind-other": the class attribute never takes a gateway's markup.
func kindClass(k string) string {
	if k == "" || len(k) > 40 {
		return "kind-other"
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "kind-other"
		}
	}
	return "kind-" + k
}
