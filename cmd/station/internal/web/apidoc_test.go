package web

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Every /api/ route the server registers is in docs/api.md, written as
// "METHOD /api/path" with the same wildcards, so a route added without its
// documentation fails here. The catch-all "GET /api/" (the 404 of unknown
// routes) is the only one left out.
func TestAPIDocCoversRoutes(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatalf("reading docs/api.md: %v", err)
	}
	f := newFixture(t)
	documented := documentedRoutes(string(doc))
	var missing []string
	checked := 0
	for _, rt := range f.s.routes {
		if !rt.api || rt.path == "/api/" {
			continue
		}
		checked++
		if !documented[rt.method+" "+rt.path] {
			missing = append(missing, rt.pattern)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s is registered in the server but not in docs/api.md", m)
	}
	if checked < 20 {
		t.Fatalf("only %d API routes registered: the route table was not read", checked)
	}
}

// docRoute is "METHOD /api/…" as docs/api.md writes a route: the path ends
// at a backtick, a query, a space or the end of a table cell.
var docRoute = regexp.MustCompile("(GET|POST|PUT|PATCH|DELETE) (/api/[^`?\\s|)]*)")

// docAbbrev is the document's shorthand for a long prefix, e.g.
// "`{live}` below is `/api/gateways/{gateway}/cameras/{camera}/live`".
var docAbbrev = regexp.MustCompile("`(\\{[a-z]+\\})` below is\\s+`(/api/[^`]+)`")

// documentedRoutes are the routes docs/api.md names, its shorthands
// written out.
func documentedRoutes(doc string) map[string]bool {
	for _, m := range docAbbrev.FindAllStringSubmatch(doc, -1) {
		doc = strings.ReplaceAll(doc, "`"+m[1]+"` below is", "")
		doc = strings.ReplaceAll(doc, m[1], m[2])
	}
	out := map[string]bool{}
	for _, m := range docRoute.FindAllStringSubmatch(doc, -1) {
		out[m[1]+" "+m[2]] = true
	}
	return out
}

// The parser of docs/api.md finds a route in each of the forms the
// document uses, and does not take a longer route for a shorter one.
func TestDocumentedRoutes(t *testing.T) {
	got := documentedRoutes("| `GET /api/events?before=N` | viewer |\n" +
		"### `POST /api/alarms/ack` (officer)\n" +
		"curl … `DELETE /api/tokens/{id}`, and GET /api/gateways/{gateway}/cameras here\n" +
		"`{cam}` below is\n`/api/gateways/{gateway}/cameras/{camera}`.\n| `POST {cam}/live?quality=low` | 201 |\n")
	for _, want := range []string{"GET /api/events", "POST /api/alarms/ack", "DELETE /api/tokens/{id}",
		"GET /api/gateways/{gateway}/cameras", "POST /api/gateways/{gateway}/cameras/{camera}/live"} {
		if !got[want] {
			t.Errorf("%q not found in %v", want, got)
		}
	}
	if got["GET /api/gateways/{gateway}"] {
		t.Errorf("a longer route counted as GET /api/gateways/{gateway}")
	}
}
