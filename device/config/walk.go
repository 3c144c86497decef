package config

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// walker collects problems while the decoder walks the YAML tree by hand.
// Walking yaml.Node (rather than yaml.Unmarshal into structs) is what lets
// every problem carry its line and lets decoding go on after the first one.
type walker struct {
	probs []Problem
	warns []Problem
}

// refused are keys people expect from other software that are left out on
// purpose; they get an explanation instead of "unknown key".
var refused = map[string]string{
	"insecure_skip_verify": "is not offered: a gateway that does not verify the station would hand its events and password to anyone on the path; set ca to the station's CA certificate instead",
}

func (w *walker) add(line int, key, format string, args ...any) {
	w.probs = append(w.probs, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (w *walker) warn(line int, key, format string, args ...any) {
	w.warns = append(w.warns, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// sorted returns ps in file order; problems without a line come first.
func sorted(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
	return ps
}

// deref follows aliases (*name) to the node they stand for. The depth is
// bounded so a pathological file cannot loop.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 32; i++ {
		n = n.Alias
	}
	return n
}

// kindName names a node's shape in the words an installer would use.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value pairs)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		}
		return fmt.Sprintf("the text %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// fields is one YAML mapping checked against the keys a section allows.
type fields struct {
	w    *walker
	path string
	node *yaml.Node
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
	// keyLine is the line of the key that introduced this mapping ("gateway:"),
	// where problems about keys missing from it are reported.
	keyLine int
	// bad is set when the node was not a mapping (already reported), so
	// that its keys are not also reported missing.
	bad bool
}

// mapping checks that n is a mapping whose keys are all in allowed and
// none repeated. A null n (a section written as "api:" with nothing under
// it, or left out) gives an empty mapping, so that defaults apply. line is
// where problems about missing keys go: the line of the section's key, or
// of a list entry.
func (w *walker) mapping(n *yaml.Node, path string, line int, allowed ...string) *fields {
	f := &fields{w: w, path: path, node: n, keyLine: line, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	n = deref(n)
	f.node = n
	if isNull(n) {
		if n != nil {
			f.node = n
		} else {
			f.node = &yaml.Node{Line: line}
		}
		return f
	}
	if n.Kind != yaml.MappingNode {
		w.add(n.Line, path, "must be a mapping (key: value pairs), got %s", kindName(n))
		f.bad = true
		return f
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			w.add(n.Content[i].Line, path, "keys must be plain names, got %s", kindName(k))
			continue
		}
		name := k.Value
		kp := join(path, name)
		if k.ShortTag() == "!!merge" {
			w.add(k.Line, kp, "merge keys (<<) are not supported; write the settings out")
			continue
		}
		if first, dup := f.keys[name]; dup {
			w.add(k.Line, kp, "duplicate key (first set at line %d)", first.Line)
			continue
		}
		if why, ok := refused[name]; ok {
			w.add(k.Line, kp, "%s", why)
			continue
		}
		if !slices.Contains(allowed, name) {
			msg := fmt.Sprintf("unknown key %q", name)
			if s := suggest(name, allowed); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			if len(allowed) == 0 {
				w.add(k.Line, kp, "%s; %s takes no keys", msg, path)
			} else {
				w.add(k.Line, kp, "%s; allowed: %s", msg, strings.Join(allowed, ", "))
			}
			continue
		}
		f.keys[name] = k
		f.vals[name] = v
	}
	return f
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns the allowed key closest to a misspelt one, if close.
func suggest(name string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(name), a); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// has reports whether key was written (even with no value).
func (f *fields) has(key string) bool { _, ok := f.vals[key]; return ok }

// missing reports whether a required key is absent from a mapping that was
// itself well-formed.
func (f *fields) missing(key string) bool { return !f.has(key) && !f.bad }

// line is the line of key, or of the mapping when key is absent, so that
// "is required" problems point at the section that lacks it.
func (f *fields) line(key string) int {
	if v, ok := f.vals[key]; ok {
		// A scalar's own line is where the bad value is; for a list or
		// mapping, the key's line is where the reader looks.
		if v = deref(v); v != nil && v.Line > 0 && v.Kind == yaml.ScalarNode {
			return v.Line
		}
		return f.keys[key].Line
	}
	if f.keyLine > 0 {
		return f.keyLine
	}
	if f.node != nil && f.node.Line > 0 {
		return f.node.Line
	}
	return 1
}

// keyLine of key: the line of the key itself (where a nested mapping
// starts), or of the mapping when absent.
func (f *fields) keyLineOf(key string) int {
	if k, ok := f.keys[key]; ok {
		return k.Line
	}
	return f.line(key)
}

func (f *fields) key(key string) string { return join(f.path, key) }

func (f *fields) errf(key, format string, args ...any) {
	f.w.add(f.line(key), f.key(key), format, args...)
}

func (f *fields) warnf(key, format string, args ...any) {
	f.w.warn(f.line(key), f.key(key), format, args...)
}

// scalar returns the value node of key when it is a non-null scalar. A
// key written with no value is reported: leaving a key empty is almost
// always an unfinished edit, and removing it gives the default.
func (f *fields) scalar(key, want string) (*yaml.Node, bool) {
	v, ok := f.vals[key]
	if !ok {
		return nil, false
	}
	v = deref(v)
	if isNull(v) {
		f.errf(key, "has no value; give %s or remove the key to use the default", want)
		return nil, false
	}
	if v.Kind != yaml.ScalarNode {
		f.errf(key, "must be %s, got %s", want, kindName(v))
		return nil, false
	}
	return v, true
}

// str reads a text setting. Numbers are taken as their text (pin: 17).
func (f *fields) str(key string, dst *string) bool {
	v, ok := f.scalar(key, "a text value")
	if !ok {
		return false
	}
	if v.ShortTag() == "!!bool" {
		f.errf(key, "must be a text value, got %s (quote it if you mean the word)", kindName(v))
		return false
	}
	if v.Value == "" {
		f.errf(key, "is empty; remove the key to use the default")
		return false
	}
	*dst = v.Value
	return true
}

func (f *fields) boolean(key string, dst *bool) bool {
	v, ok := f.scalar(key, "true or false")
	if !ok {
		return false
	}
	if v.ShortTag() != "!!bool" {
		f.errf(key, "must be true or false, got %s", kindName(v))
		return false
	}
	*dst = strings.EqualFold(v.Value, "true")
	return true
}

func (f *fields) integer(key string, dst *int) bool {
	v, ok := f.scalar(key, "a whole number")
	if !ok {
		return false
	}
	var n int
	if v.ShortTag() != "!!int" || v.Decode(&n) != nil {
		f.errf(key, "must be a whole number, got %s", kindName(v))
		return false
	}
	*dst = n
	return true
}

func (f *fields) duration(key string, dst *time.Duration) bool {
	v, ok := f.scalar(key, "a duration (like 50ms, 2s)")
	if !ok {
		return false
	}
	d, err := ParseDuration(v.Value)
	if err != nil {
		f.errf(key, "%v", err)
		return false
	}
	*dst = d
	return true
}

func (f *fields) size(key string, dst *int64) bool {
	v, ok := f.scalar(key, "a size (like 256MiB)")
	if !ok {
		return false
	}
	n, err := ParseSize(v.Value)
	if err != nil {
		f.errf(key, "%v", err)
		return false
	}
	*dst = n
	return true
}

// oneOf reads a text setting that must be one of choices.
func (f *fields) oneOf(key string, dst *string, choices ...string) bool {
	var s string
	if !f.str(key, &s) {
		return false
	}
	if !slices.Contains(choices, s) {
		f.errf(key, "%q is not one of %s", s, strings.Join(choices, ", "))
		return false
	}
	*dst = s
	return true
}

// list returns the items of a list setting (nil when absent or null).
func (f *fields) list(key string) []*yaml.Node {
	v, ok := f.vals[key]
	if !ok {
		return nil
	}
	v = deref(v)
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		f.errf(key, "must be a list, got %s", kindName(v))
		return nil
	}
	return v.Content
}

// strList reads a list of text values; a single text value is not
// accepted, so that "snapshot_on: gate-pir" is pointed out early.
func (f *fields) strList(key string) ([]string, []int) {
	items := f.list(key)
	var out []string
	var lines []int
	for i, it := range items {
		it = deref(it)
		p := fmt.Sprintf("%s[%d]", f.key(key), i)
		if it == nil || it.Kind != yaml.ScalarNode || isNull(it) || it.Value == "" {
			line := f.line(key)
			if it != nil && it.Line > 0 {
				line = it.Line
			}
			f.w.add(line, p, "must be a text value, got %s", kindName(orNull(it)))
			continue
		}
		out = append(out, it.Value)
		lines = append(lines, it.Line)
	}
	return out, lines
}

func orNull(n *yaml.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}
