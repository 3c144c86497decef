package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
)

// TestEnrolNoTakeoverOfAnotherSitesGateway: an admin limited to khu-3
// cannot enrol, at khu-3, the id of a gateway removed from another site:
// the re-enrolment would move that gateway's stored history (its events,
// snapshots and clips, named by id) into the admin's sites. Nor does the
// answer for an active gateway of another site differ from that for a
// removed one.
func TestEnrolNoTakeoverOfAnotherSitesGateway(t *testing.T) {
	f, _, _ := enrolFixture(t)
	admin := f.login("an")
	must(t, f.do(req{method: "POST", path: "/api/gateways", cookie: admin,
		json: `{"id":"truong-9","name":"Trường 9","site":"chi-dam","kind":"school"}`}), http.StatusCreated, "enrol at chi-dam")
	must(t, f.do(req{method: "POST", path: "/api/gateways", cookie: admin,
		json: `{"id":"truong-10","name":"Trường 10","site":"chi-dam","kind":"school"}`}), http.StatusCreated, "enrol at chi-dam")
	must(t, f.do(req{method: "DELETE", path: "/api/gateways/truong-9", cookie: admin}), http.StatusNoContent, "remove")

	if err := f.db.Add("hoa", accounts.Admin, accounts.Limits{Sites: []string{"khu-3"}}, testPassword); err != nil {
		t.Fatal(err)
	}
	hoa := f.login("hoa")
	removed := f.do(req{method: "POST", path: "/api/gateways", cookie: hoa,
		json: `{"id":"truong-9","name":"mine now","site":"khu-3","kind":"gate"}`})
	if removed.code == http.StatusCreated {
		t.Fatal("an admin limited to khu-3 re-enrolled a removed chi-dam gateway at khu-3 (and so reads its history)")
	}
	active := f.do(req{method: "POST", path: "/api/gateways", cookie: hoa,
		json: `{"id":"truong-10","name":"mine now","site":"khu-3","kind":"gate"}`})
	if removed.code != active.code || decode[map[string]string](t, removed)["error"] != strings.ReplaceAll(decode[map[string]string](t, active)["error"], "truong-10", "truong-9") {
		t.Errorf("removed vs active gateway of another site: %d %s / %d %s", removed.code, removed.body, active.code, active.body)
	}
	if active.code != http.StatusNotFound && active.code != http.StatusForbidden && active.code != http.StatusConflict {
		t.Errorf("enrol over another site's gateway: %d", active.code)
	}
	// The page's form goes the same way.
	must(t, f.do(req{method: "POST", path: "/gateways", cookie: hoa,
		form: url.Values{"id": {"truong-9"}, "site": {"khu-3"}, "kind": {"gate"}}}), removed.code, "page form")
	for _, d := range f.s.o.Enrol.Directory() {
		if d.ID == "truong-9" && d.Site != "chi-dam" {
			t.Fatalf("truong-9 moved to %s", d.Site)
		}
	}
	// The unlimited admin still re-enrols it (anywhere).
	must(t, f.do(req{method: "POST", path: "/api/gateways", cookie: admin,
		json: `{"id":"truong-9","name":"Trường 9","site":"chi-dam","kind":"school"}`}), http.StatusCreated, "re-enrol by an unlimited admin")
}
