package web

import (
	"strconv"
	"strings"
	"testing"
)

// TestClipNotCachedPastItsLogin: a clip (evidence) is not kept in the
// browser's cache to be shown again without asking the station: on the
// station's shared PC the next account, limited to other sites, or anyone
// after logout, would play it from the cache. The browser must revalidate
// every time (the ETag makes that a cheap 304 for an allowed account).
func TestClipNotCachedPastItsLogin(t *testing.T) {
	f, _, _ := clipFixture(t)
	r := must(t, f.do(req{path: "/api/clips/" + gwGate + "/c1", cookie: f.login("binh")}), 200, "clip")
	cc := r.header.Get("Cache-Control")
	if !strings.Contains(cc, "no-cache") && !strings.Contains(cc, "no-store") || strings.Contains(cc, "max-age=") && !strings.Contains(cc, "no-cache") {
		t.Errorf("Cache-Control %q: a browser may play the clip from its cache without the station checking who asks", cc)
	}
	if !strings.Contains(cc, "private") && !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q: a shared cache may keep it", cc)
	}
	etag := r.header.Get("ETag")
	must(t, f.do(req{path: "/api/clips/" + gwGate + "/c1", cookie: f.login("binh"), header: map[string]string{"If-None-Match": etag}}), 304, "revalidated")
	// Logged out, the revalidation is refused.
	must(t, f.do(req{path: "/api/clips/" + gwGate + "/c1", header: map[string]string{"If-None-Match": etag}}), 401, "revalidated without login")
}

// blockingEvents holds every export's first event read until release is
// closed, saying on entered when one is held.
type blockingEvents struct {
	*StoreData
	entered chan struct{}
	release chan struct{}
}

func (b blockingEvents) Event(gw, epoch string, seq uint64) ([]byte, bool, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.StoreData.Event(gw, epoch, seq)
}

// TestExportsBounded: each export is built in a temporary file of up to
// MaxExportBytes; officers (or a leaked API token) asking for many at once
// would fill the station's disk (or its RAM, for a tmpfs /tmp). At most
// maxExports are built at a time; one more is refused at once, saying so.
func TestExportsBounded(t *testing.T) {
	be := blockingEvents{entered: make(chan struct{}), release: make(chan struct{})}
	f, _, _ := clipFixture(t)
	be.StoreData = f.s.o.Events.(*StoreData)
	f.s.o.Events = be
	officer := f.login("tuan")
	seq := f.event(gwGate, "door", "cong", map[string]any{"clip": "c1"})
	body := `{"case":"VV-1","events":[{"gateway":"` + gwGate + `","epoch":"e1","seq":` + strconv.FormatUint(seq, 10) + `}]}`
	codes := make(chan int, maxExports)
	for range maxExports {
		go func() { codes <- f.do(req{method: "POST", path: "/api/exports", json: body, cookie: officer}).code }()
		<-be.entered
	}
	third := make(chan resp, 1)
	go func() { third <- f.do(req{method: "POST", path: "/api/exports", json: body, cookie: officer}) }()
	var r resp
	select {
	case r = <-third:
	case <-be.entered:
		t.Errorf("a third export is built while %d are", maxExports)
		close(be.release)
		r = <-third
		for range maxExports {
			<-codes
		}
		return
	}
	if r.code != 503 || !strings.Contains(r.body, "export") || r.header.Get("Retry-After") == "" {
		t.Errorf("export while %d are being built: %d %s %v", maxExports, r.code, r.body, r.header)
	}
	close(be.release)
	for range maxExports {
		if c := <-codes; c != 200 {
			t.Errorf("held export: %d", c)
		}
	}
	go func() {
		for range be.entered {
		}
	}()
	must(t, f.do(req{method: "POST", path: "/api/exports", json: body, cookie: officer}), 200, "export once the others are done")
	close(be.entered)
}
