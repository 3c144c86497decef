package enrol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/antt-gateway/antt/cmd/station/internal/broker"
	"github.com/antt-gateway/antt/uplink/wire"
)

// loadDirectory reads the site directory (a JSON array of Gateway, the
// format web.LoadDirectory reads); a missing file is an empty directory.
func loadDirectory(path string) ([]Gateway, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read gateway directory: %w", err)
	}
	var gs []Gateway
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&gs); err != nil {
		return nil, fmt.Errorf("gateway directory %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, g := range gs {
		if err := g.check(); err != nil {
			return nil, fmt.Errorf("gateway directory %s: entry %d: %w", path, i+1, err)
		}
		if seen[g.ID] {
			return nil, fmt.Errorf("gateway directory %s: gateway %s listed twice", path, g.ID)
		}
		seen[g.ID] = true
	}
	return gs, nil
}

// saveDirectory writes the directory sorted by site, then id.
func saveDirectory(path string, gs []Gateway) error {
	gs = slices.Clone(gs)
	slices.SortFunc(gs, func(a, b Gateway) int {
		return strings.Compare(a.Site+"\x00"+a.ID, b.Site+"\x00"+b.ID)
	})
	if gs == nil {
		gs = []Gateway{}
	}
	b, err := json.MarshalIndent(gs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode gateway directory: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// removePassword drops user's line from the password file, keeping every
// other line as it is. It reports whether the user was there.
func removePassword(path, user string) (bool, error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read password file: %w", err)
	}
	if _, err := broker.ParsePasswords(old); err != nil {
		return false, fmt.Errorf("password file %s: %w", path, err)
	}
	var keep []string
	found := false
	for l := range strings.Lines(string(old)) {
		l = strings.TrimRight(l, "\r\n")
		t := strings.TrimSpace(l)
		if u, _, ok := strings.Cut(t, ":"); ok && u == user && !strings.HasPrefix(t, "#") {
			found = true
			continue
		}
		keep = append(keep, l)
	}
	if !found {
		return false, nil
	}
	return true, writeFileAtomic(path, []byte(joinLines(keep)), 0o600)
}

// hasPassword reports whether user is in the password file.
func hasPassword(path, user string) (bool, error) {
	es, err := broker.LoadPasswords(path)
	if err != nil {
		return false, err
	}
	for _, e := range es {
		if e.User == user {
			return true, nil
		}
	}
	return false, nil
}

// passwordUsers lists the users of the password file.
func passwordUsers(path string) (map[string]bool, error) {
	es, err := broker.LoadPasswords(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(es))
	for _, e := range es {
		out[e.User] = true
	}
	return out, nil
}

// accessUsers returns the users of the access file that are gateway id.
func accessUsers(path, id string) ([]string, error) {
	a, err := broker.LoadAccess(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for u, ident := range a {
		if ident.Role == broker.RoleGateway && ident.ID == id {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

// addAccess adds "gateway <id>" to the access file unless user id is
// already in it; a missing file is created.
func addAccess(path, id string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read access file: %w", err)
	}
	a, err := broker.ParseAccess(old)
	if err != nil {
		return fmt.Errorf("access file %s: %w", path, err)
	}
	if ident, ok := a[id]; ok {
		if ident.Role != broker.RoleGateway || ident.ID != id {
			return fmt.Errorf("access file %s: user %s is already there with another role or gateway id", path, id)
		}
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(old), "\r\n"), "\n")
	if len(old) == 0 {
		lines = nil
	}
	lines = append(lines, "gateway "+id)
	return writeFileAtomic(path, []byte(joinLines(lines)), 0o600)
}

// removeAccess drops the lines of users from the access file.
func removeAccess(path string, users []string) error {
	if len(users) == 0 {
		return nil
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read access file: %w", err)
	}
	var keep []string
	for l := range strings.Lines(string(old)) {
		l = strings.TrimRight(l, "\r\n")
		f := strings.Fields(l)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") && slices.Contains(users, f[1]) {
			continue
		}
		keep = append(keep, l)
	}
	return writeFileAtomic(path, []byte(joinLines(keep)), 0o600)
}

func joinLines(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

// writeFileAtomic replaces path by data (a temporary file fsynced, then
// renamed), so a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// validName bounds a display name: 1 to 100 characters, no control
// characters (it is shown on pages and written into YAML comments).
func validName(s string) error {
	if len([]rune(s)) > 100 {
		return errors.New("want at most 100 characters")
	}
	if !utf8.ValidString(s) {
		return errors.New("want UTF-8 text")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return errors.New("no control characters or line breaks")
		}
	}
	return nil
}

// check validates one directory entry; the error names the field.
func (g Gateway) check() error {
	if !wire.ValidID(g.ID) {
		return fmt.Errorf("id %.70q: want 1 to 63 lower-case letters, digits and '-', starting with a letter or digit (like cong-khu-3)", g.ID)
	}
	if g.Site != "" && !wire.ValidID(g.Site) {
		return fmt.Errorf("gateway %s: site %.70q: want lower-case letters, digits and '-' (like chi-dam)", g.ID, g.Site)
	}
	if g.Kind != "" && g.Kind != KindGate && g.Kind != KindSchool {
		return fmt.Errorf("gateway %s: kind %.20q: want gate or school", g.ID, g.Kind)
	}
	if err := validName(g.Name); err != nil {
		return fmt.Errorf("gateway %s: name: %w", g.ID, err)
	}
	if err := validName(g.SiteName); err != nil {
		return fmt.Errorf("gateway %s: site_name: %w", g.ID, err)
	}
	return nil
}
