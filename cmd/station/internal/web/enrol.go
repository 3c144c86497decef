package web

// Enrolment from the page (issue 11, item 5): an admin adds a gateway,
// re-issues its credentials or removes it; the work is done by
// internal/enrol, this file is its page, API, audit and one-time
// downloads.
//
// The password of a new or re-keyed gateway exists in clear only in the
// download. The API returns it as the response body of the POST that made
// it. The page cannot (a form's answer is either a page or a file), so the
// download waits in memory under a random one-time token bound to the
// admin's session, for bundleTTL; the first POST of its form takes it out,
// and it is never served again. A lost download is replaced by re-issuing.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/antt-gateway/antt/cmd/station/internal/accounts"
	"github.com/antt-gateway/antt/cmd/station/internal/audit"
	"github.com/antt-gateway/antt/cmd/station/internal/enrol"
	"github.com/antt-gateway/antt/cmd/station/internal/store"
	"github.com/antt-gateway/antt/uplink/wire"
)

// GatewayCredentials is the audit action of a re-issued password.
const GatewayCredentials = "gateway_credentials"

// bundleTTL is how long a download made from the page waits to be taken.
const bundleTTL = 10 * time.Minute

// maxPendingBundles bounds the downloads waiting (a few admins at most).
const maxPendingBundles = 32

func init() {
	pageNames = append(pageNames, "gateways")
	for k, m := range enrolCatalogue {
		catalogue[k] = m
	}
}

// enrolCatalogue holds the enrolment page's strings.
var enrolCatalogue = map[string]msg{
	"nav.gateways":              {"Thiết bị", "Gateways"},
	"enrol.title":               {"Thêm và thu hồi thiết bị", "Enrol and revoke gateways"},
	"enrol.off":                 {"Trạm này không cấp được thông tin đăng nhập cho thiết bị: hãy chạy trạm với -passwd (tệp mật khẩu của broker).", "This station cannot give gateways credentials: run it with -passwd (the broker's password file)."},
	"enrol.broker":              {"Thiết bị sẽ kết nối tới %s.", "Gateways will connect to %s."},
	"enrol.none":                {"Chưa có thiết bị nào.", "No gateways yet."},
	"enrol.id":                  {"Mã thiết bị", "Gateway id"},
	"enrol.idhelp":              {"Chữ thường, chữ số và dấu -, ví dụ cong-khu-3.", "Lower-case letters, digits and -, like cong-khu-3."},
	"enrol.name":                {"Tên gọi", "Name"},
	"enrol.site":                {"Mã địa điểm", "Site id"},
	"enrol.sitename":            {"Tên địa điểm", "Site name"},
	"enrol.kind":                {"Loại", "Kind"},
	"enrol.creds":               {"Thông tin đăng nhập", "Credentials"},
	"enrol.hascreds":            {"đã cấp", "issued"},
	"enrol.nocreds":             {"chưa cấp", "none"},
	"enrol.add":                 {"Thêm thiết bị", "Enrol gateway"},
	"enrol.reissue":             {"Cấp lại thông tin đăng nhập", "Re-issue credentials"},
	"enrol.confirmre":           {"Cấp lại thông tin đăng nhập? Mật khẩu cũ hết hiệu lực ngay và thiết bị bị ngắt kết nối cho tới khi thẻ nhớ có tệp mới.", "Re-issue the credentials? The old password stops working at once and the gateway is disconnected until its card has the new files."},
	"enrol.remove":              {"Thu hồi", "Revoke"},
	"enrol.confirmrm":           {"Thu hồi thiết bị này? Nó bị ngắt kết nối ngay và không kết nối lại được; sự kiện đã lưu vẫn giữ.", "Revoke this gateway? It is disconnected at once and cannot connect again; its stored events are kept."},
	"enrol.ready":               {"Tệp cho thẻ nhớ của %s đã sẵn sàng. Chỉ tải được một lần, trong 10 phút: giải nén vào phân vùng ANTT-BOOT.", "The SD card files of %s are ready. They can be downloaded once, within 10 minutes: unpack them onto the ANTT-BOOT partition."},
	"enrol.download":            {"Tải tệp cho thẻ nhớ", "Download the SD card files"},
	"enrol.gone":                {"Tệp này đã được tải hoặc đã hết hạn. Hãy cấp lại thông tin đăng nhập để có tệp mới.", "This download was taken or has expired. Re-issue the credentials to get a new one."},
	"enrol.removed":             {"Đã thu hồi thiết bị.", "Gateway revoked."},
	"act.gateway_add":           {"Thêm thiết bị", "Gateway enrolled"},
	"act.gateway_remove":        {"Thu hồi thiết bị", "Gateway revoked"},
	"act." + GatewayCredentials: {"Cấp lại thông tin đăng nhập", "Credentials re-issued"},
	"enrol.enrolled":            {"Ngày thêm", "Enrolled"},
	"gw.removed":                {"Đã gỡ", "Removed"},
	"gw.removedname":            {"%s (đã gỡ)", "%s (removed)"},
	"enrol.removednote":         {"Thiết bị đã được %s gỡ khỏi trạm (thu hồi thông tin đăng nhập); báo động ngoại tuyến đóng lại.", "The gateway was removed from the station by %s (credentials revoked); its offline alarm is closed."},
}

// pendingBundle is a download made from the page, waiting to be taken.
type pendingBundle struct {
	b       *enrol.Bundle
	owner   string // the session that made it
	expires time.Time
}

// bundles holds the page's pending downloads.
type bundles struct {
	mu sync.Mutex
	m  map[string]pendingBundle
}

// registerEnrol adds the enrolment routes (admin only) and, when
// enrolment is on, serves the site directory from the Enroller so a
// gateway added or removed shows at once on every page.
func (s *Server) registerEnrol() {
	if s.o.Enrol != nil {
		s.o.Gateways = enrolledGateways{inner: s.o.Gateways, e: s.o.Enrol}
	}
	s.bundles = &bundles{m: map[string]pendingBundle{}}
	s.handle("GET /gateways", accounts.Admin, s.gatewaysPage)
	s.handle("POST /gateways", accounts.Admin, s.gatewaysAdd)
	s.handle("POST /gateways/{gateway}/credentials", accounts.Admin, s.gatewaysReissue)
	s.handle("POST /gateways/{gateway}/remove", accounts.Admin, s.gatewaysRemove)
	s.handle("POST /gateways/{gateway}/download", accounts.Admin, s.gatewaysDownload)
	s.handle("GET /api/gateways", accounts.Admin, s.apiGatewayList)
	s.handle("POST /api/gateways", accounts.Admin, s.apiGatewayAdd)
	s.handle("DELETE /api/gateways/{gateway}", accounts.Admin, s.apiGatewayRemove)
	s.handle("POST /api/gateways/{gateway}/credentials", accounts.Admin, s.apiGatewayReissue)
}

// keep stores b for owner and returns its one-time token.
func (bs *bundles) keep(b *enrol.Bundle, owner string, now time.Time) string {
	var t [16]byte
	_, _ = rand.Read(t[:]) // crypto/rand does not fail on Linux
	tok := hex.EncodeToString(t[:])
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for k, p := range bs.m {
		if now.After(p.expires) {
			delete(bs.m, k)
		}
	}
	if len(bs.m) >= maxPendingBundles {
		for k := range bs.m { // drop one; its admin re-issues
			delete(bs.m, k)
			break
		}
	}
	bs.m[tok] = pendingBundle{b: b, owner: owner, expires: now.Add(bundleTTL)}
	return tok
}

// peek reports whether tok is a live download of owner for gateway gw.
func (bs *bundles) peek(tok, owner, gw string, now time.Time) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	p, ok := bs.m[tok]
	return ok && p.owner == owner && p.b.Gateway == gw && now.Before(p.expires)
}

// take removes and returns owner's download tok of gateway gw.
func (bs *bundles) take(tok, owner, gw string, now time.Time) (*enrol.Bundle, bool) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	p, ok := bs.m[tok]
	if !ok || p.owner != owner || p.b.Gateway != gw {
		return nil, false
	}
	delete(bs.m, tok)
	return p.b, now.Before(p.expires)
}

// dropGateway forgets the downloads of gw (it was removed or re-keyed).
func (bs *bundles) dropGateway(gw string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for k, p := range bs.m {
		if p.b.Gateway == gw {
			delete(bs.m, k)
		}
	}
}

// owner names the principal a page download belongs to: its session.
func owner(v *view) string {
	if v.p.sid != "" {
		return "s:" + v.p.sid
	}
	return "p:" + v.p.name
}

// enrolledGateways is Gateways with the directory read from the Enroller,
// which changes while the station runs.
type enrolledGateways struct {
	inner Gateways
	e     *enrol.Enroller
}

func (g enrolledGateways) Gateways() ([]Gateway, error) {
	gws, err := g.inner.Gateways()
	if err != nil {
		return nil, err
	}
	dir := map[string]enrol.Gateway{}
	for _, d := range g.e.Directory() {
		dir[d.ID] = d
	}
	seen := map[string]bool{}
	for i := range gws {
		gw := &gws[i]
		seen[gw.ID] = true
		d, ok := dir[gw.ID]
		gw.Name, gw.Site, gw.SiteName, gw.Kind, gw.Enrolled, gw.Removed = gw.ID, d.Site, d.SiteName, d.Kind, d.Enrolled, d.Removed
		if ok && d.Name != "" {
			gw.Name = d.Name
		}
	}
	for id, d := range dir {
		if !seen[id] {
			gws = append(gws, Gateway{ID: id, Name: cmpOr(d.Name, id), Site: d.Site, SiteName: d.SiteName, Kind: d.Kind,
				Enrolled: d.Enrolled, Removed: d.Removed})
		}
	}
	slices.SortFunc(gws, func(a, b Gateway) int {
		return strings.Compare(a.Site+"\x00"+a.Name+"\x00"+a.ID, b.Site+"\x00"+b.Name+"\x00"+b.ID)
	})
	return gws, nil
}

// gwName is how lists of events and alarms name g: its name, marked
// "removed" once it was removed (its history stays readable).
func (v *view) gwName(g Gateway) string {
	if g.Removed.IsZero() {
		return g.Name
	}
	return tr(v.lang, "gw.removedname", g.Name)
}

// offlineAlarmed reports whether g's offline spell is an alarm to review:
// offline longer than grace at now, while enrolled (not removed, and the
// spell began after it was last enrolled).
func offlineAlarmed(g Gateway, now time.Time, grace time.Duration) bool {
	return g.Known && !g.Online && !g.OfflineSince.IsZero() && now.Sub(g.OfflineSince) >= grace &&
		g.Removed.IsZero() && !g.OfflineSince.Before(g.Enrolled)
}

// enrolForm is a new gateway, from the page's form or the API.
type enrolForm struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Site     string `json:"site"`
	SiteName string `json:"site_name"`
	Kind     string `json:"kind"`
}

var errEnrolOff = errors.New("enrolment is off: the station runs without a broker password file (-passwd), or with an external broker")

func enrolErrCode(err error) int {
	switch {
	case errors.Is(err, errEnrolOff):
		return http.StatusServiceUnavailable
	case errors.Is(err, enrol.ErrExists):
		return http.StatusConflict
	case errors.Is(err, enrol.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// add enrols f and records it; an unrecorded enrolment is undone.
func (s *Server) add(r *http.Request, v *view, f enrolForm) (*enrol.Bundle, int, error) {
	if s.o.Enrol == nil {
		return nil, enrolErrCode(errEnrolOff), errEnrolOff
	}
	g := enrol.Gateway{ID: strings.TrimSpace(f.ID), Name: strings.TrimSpace(f.Name), Site: strings.TrimSpace(f.Site),
		SiteName: strings.TrimSpace(f.SiteName), Kind: f.Kind}
	if !v.p.limits.Allows(g.ID, g.Site) {
		return nil, http.StatusForbidden, fmt.Errorf("your account is limited to other sites: it may not enrol gateway %s at site %q", g.ID, g.Site)
	}
	// The id of a gateway (even a removed one) at a site the account may
	// not manage is not its to take: enrolling it again would move that
	// gateway's stored history into the account's sites. The answer is
	// the same whether that gateway is removed or enrolled.
	for _, d := range s.o.Enrol.Directory() {
		if d.ID == g.ID && !v.p.limits.Allows(d.ID, d.Site) {
			return nil, http.StatusConflict, fmt.Errorf("gateway %s: %w", g.ID, enrol.ErrExists)
		}
	}
	b, err := s.o.Enrol.Add(g)
	if err != nil {
		return nil, enrolErrCode(err), err
	}
	detail := map[string]string{"kind": g.Kind, "broker": s.o.Enrol.BrokerURL()}
	if g.Name != "" {
		detail["name"] = g.Name
	}
	if g.SiteName != "" {
		detail["site_name"] = g.SiteName
	}
	if err := s.record(r, audit.Entry{Action: audit.GatewayAdd, Actor: v.p.name, Target: g.ID, Gateway: g.ID, Site: g.Site, OK: true, Detail: detail}); err != nil {
		_ = s.o.Enrol.Remove(g.ID) // not recorded: not handed out
		return nil, http.StatusInternalServerError, errors.New("audit log not written; the gateway was not enrolled")
	}
	s.log.Info("gateway enrolled", "gateway", g.ID, "by", v.p.name)
	return b, http.StatusCreated, nil
}

func (s *Server) reissue(r *http.Request, v *view, id string) (*enrol.Bundle, int, error) {
	if s.o.Enrol == nil {
		return nil, enrolErrCode(errEnrolOff), errEnrolOff
	}
	b, err := s.o.Enrol.Reissue(id)
	if err != nil {
		return nil, enrolErrCode(err), err
	}
	s.bundles.dropGateway(id)
	if err := s.record(r, audit.Entry{Action: GatewayCredentials, Actor: v.p.name, Target: id, Gateway: id, Site: s.siteOf(id), OK: true}); err != nil {
		// The old password is gone already; the new one is not handed out
		// unrecorded. Another re-issue, once the log works, gives one.
		return nil, http.StatusInternalServerError, errors.New("audit log not written; re-issue again")
	}
	s.log.Info("gateway credentials re-issued", "gateway", id, "by", v.p.name)
	return b, http.StatusOK, nil
}

// remove revokes gateway id. Revocation is not held back by the audit
// log: a failed entry is logged and reported after the gateway is cut off.
func (s *Server) remove(r *http.Request, v *view, id string) (int, error) {
	if s.o.Enrol == nil {
		return enrolErrCode(errEnrolOff), errEnrolOff
	}
	if !wire.ValidID(id) {
		return http.StatusBadRequest, fmt.Errorf("id %.70q: not a gateway id", id)
	}
	// An offline alarm of the gateway waiting for review is closed below:
	// nobody is to go and check a gateway that was taken away.
	var pending, site string
	if gws, err := s.o.Gateways.Gateways(); err == nil {
		for _, g := range gws {
			if g.ID == id {
				site = g.Site
			}
			if g.ID == id && offlineAlarmed(g, s.now(), s.o.OfflineGrace) {
				pending = offlineKey(g.ID, g.OfflineSince)
			}
		}
	}
	err := s.o.Enrol.Remove(id)
	if errors.Is(err, enrol.ErrNotFound) {
		return http.StatusNotFound, err
	}
	if err == nil && pending != "" && s.o.Reviews != nil {
		q := ackRequest{Keys: []string{pending}, Outcome: store.OutcomeHandled, Note: tr(v.lang, "enrol.removednote", v.p.name)}
		if code, aerr := s.acknowledge(r, v, q); aerr != nil && code != http.StatusConflict {
			s.log.Error("close the offline alarm of a removed gateway", "gateway", id, "err", aerr)
		}
	}
	s.bundles.dropGateway(id)
	e := audit.Entry{Action: audit.GatewayDel, Actor: v.p.name, Target: id, Gateway: id, Site: site, OK: err == nil}
	if err != nil {
		e.Detail = map[string]string{"error": err.Error()}
	}
	if aerr := s.record(r, e); aerr != nil && err == nil {
		return http.StatusInternalServerError, errors.New("the gateway was revoked but the audit log was not written")
	}
	if err != nil {
		s.log.Error("revoke gateway", "gateway", id, "err", err)
		return http.StatusInternalServerError, err
	}
	s.log.Info("gateway revoked", "gateway", id, "by", v.p.name)
	return http.StatusNoContent, nil
}

func writeBundle(w http.ResponseWriter, code int, b *enrol.Bundle) {
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+b.FileName()+`"`)
	h.Set("Content-Length", strconv.Itoa(len(b.Zip)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b.Zip)
}

// ---- API

// apiGatewayList is GET /api/gateways: the enrolment directory (removed
// gateways included, marked) of the sites the admin may see.
func (s *Server) apiGatewayList(w http.ResponseWriter, r *http.Request, v *view) {
	if s.o.Enrol == nil {
		s.fail(w, r, enrolErrCode(errEnrolOff), errEnrolOff.Error())
		return
	}
	ls, err := s.o.Enrol.List()
	if err != nil {
		s.internal(w, r, "list enrolled gateways", err)
		return
	}
	out := []enrol.Listed{}
	for _, l := range ls {
		if v.p.limits.Allows(l.ID, l.Site) {
			out = append(out, l)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"gateways": out, "broker": s.o.Enrol.BrokerURL()})
}

func (s *Server) apiGatewayAdd(w http.ResponseWriter, r *http.Request, v *view) {
	var f enrolForm
	if err := decodeJSON(r, &f); err != nil {
		s.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	b, code, err := s.add(r, v, f)
	if err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	w.Header().Set("Location", "/api/gateways/"+b.Gateway)
	writeBundle(w, code, b)
}

func (s *Server) apiGatewayReissue(w http.ResponseWriter, r *http.Request, v *view) {
	b, code, err := s.reissue(r, v, r.PathValue("gateway"))
	if err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	writeBundle(w, code, b)
}

func (s *Server) apiGatewayRemove(w http.ResponseWriter, r *http.Request, v *view) {
	code, err := s.remove(r, v, r.PathValue("gateway"))
	if err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	w.WriteHeader(code)
}

// ---- page

func (s *Server) gatewaysPage(w http.ResponseWriter, r *http.Request, v *view) {
	data := map[string]any{"On": s.o.Enrol != nil, "Kinds": []string{enrol.KindGate, enrol.KindSchool}}
	if s.o.Enrol != nil {
		ls, err := s.o.Enrol.List()
		if err != nil {
			s.internal(w, r, "list enrolled gateways", err)
			return
		}
		var mine []enrol.Listed
		for _, l := range ls {
			if v.allows(l.ID) {
				mine = append(mine, l)
			}
		}
		data["Gateways"], data["Broker"] = mine, s.o.Enrol.BrokerURL()
	}
	q := r.URL.Query()
	if tok, gw := q.Get("bundle"), q.Get("gateway"); tok != "" {
		if s.bundles.peek(tok, owner(v), gw, s.now()) {
			data["Bundle"] = map[string]string{"Token": tok, "Gateway": gw}
		} else {
			data["Gone"] = true
		}
	}
	if q.Get("done") == "removed" {
		data["Done"] = tr(v.lang, "enrol.removed")
	}
	s.render(w, r, v, http.StatusOK, "gateways", data)
}

// offer keeps b for the admin and sends the browser to the page that
// offers its download.
func (s *Server) offer(w http.ResponseWriter, r *http.Request, v *view, b *enrol.Bundle) {
	tok := s.bundles.keep(b, owner(v), s.now())
	http.Redirect(w, r, "/gateways?gateway="+urlQueryEscape(b.Gateway)+"&bundle="+tok, http.StatusSeeOther)
}

func (s *Server) gatewaysAdd(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	f := enrolForm{ID: r.PostForm.Get("id"), Name: r.PostForm.Get("name"), Site: r.PostForm.Get("site"),
		SiteName: r.PostForm.Get("site_name"), Kind: r.PostForm.Get("kind")}
	b, code, err := s.add(r, v, f)
	if err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	s.offer(w, r, v, b)
}

func (s *Server) gatewaysReissue(w http.ResponseWriter, r *http.Request, v *view) {
	b, code, err := s.reissue(r, v, r.PathValue("gateway"))
	if err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	s.offer(w, r, v, b)
}

func (s *Server) gatewaysRemove(w http.ResponseWriter, r *http.Request, v *view) {
	if code, err := s.remove(r, v, r.PathValue("gateway")); err != nil {
		s.fail(w, r, code, err.Error())
		return
	}
	http.Redirect(w, r, "/gateways?done=removed", http.StatusSeeOther)
}

// gatewaysDownload serves a page download once: the first request takes
// it out of memory.
func (s *Server) gatewaysDownload(w http.ResponseWriter, r *http.Request, v *view) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "form: "+err.Error())
		return
	}
	b, ok := s.bundles.take(r.PostForm.Get("token"), owner(v), r.PathValue("gateway"), s.now())
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, v, http.StatusGone, "gateways", map[string]any{"Gone": true, "On": s.o.Enrol != nil})
		return
	}
	writeBundle(w, http.StatusOK, b)
}

// siteOf is the site of gateway id in the directory ("" when unknown), so
// the audit log can be filtered by site for every action on a gateway.
func (s *Server) siteOf(id string) string {
	gws, err := s.o.Gateways.Gateways()
	if err != nil {
		return ""
	}
	for _, g := range gws {
		if g.ID == id {
			return g.Site
		}
	}
	return ""
}
