package web

import (
	"net/http"
	"strings"
)

// The relay's common errors (live.go, and the gateway's refusals it passes
// on) in the page's language: the API answers them in English for
// machine clients, and a live tile shows liveErrText of the message so
// that the officer reads Vietnamese on the Vietnamese page. A message not
// listed here is shown as it came.
var liveErrCatalogue = map[string]msg{
	"liveerr.no_gateway":    {"Không có thiết bị này (hoặc tài khoản của bạn không được xem).", "No such gateway (or your account may not see it)."},
	"liveerr.no_camera":     {"Thiết bị không có camera này.", "The gateway has no such camera."},
	"liveerr.not_ready":     {"Camera chưa có hình; thử lại sau giây lát.", "The camera has no picture yet; try again in a moment."},
	"liveerr.gw_viewers":    {"Thiết bị đang phát số lượt xem trực tiếp tối đa; đóng bớt một ô hoặc thử lại sau.", "The gateway serves as many live views as it can; close a tile or try again later."},
	"liveerr.station_full":  {"Trạm đang chuyển tiếp số lượt xem trực tiếp tối đa; thử lại sau.", "The station relays as many live views as it can; try again later."},
	"liveerr.user_full":     {"Tài khoản của bạn đang mở số lượt xem trực tiếp tối đa: đóng bớt một ô.", "Your account has as many live views open as it may: close a tile first."},
	"liveerr.no_reply":      {"Thiết bị không trả lời (có thể đang ngoại tuyến).", "The gateway did not answer (it may be offline)."},
	"liveerr.no_broker":     {"Trạm chưa kết nối được với thiết bị nên chưa mở được xem trực tiếp.", "The station has no connection to the gateways, so it cannot open live views."},
	"liveerr.codec":         {"Trình duyệt này không phát được định dạng video của camera.", "This browser cannot play the camera's video format."},
	"liveerr.session_ended": {"Phiên xem trực tiếp đã đóng hoặc hết hạn.", "The live view was closed or has expired."},
	"liveerr.bad_camera":    {"Tên camera không hợp lệ.", "Not a camera name."},
	"liveerr.bad_quality":   {"Chất lượng hình không hợp lệ (luồng phụ hoặc luồng chính).", "Not a picture quality (the substream or the main stream)."},
	"liveerr.bad_offer":     {"Trình duyệt gửi yêu cầu xem trực tiếp không hợp lệ; tải lại trang.", "The browser sent an invalid live view request; reload the page."},
	"liveerr.bad_candidate": {"Trình duyệt gửi địa chỉ kết nối không hợp lệ; tải lại trang.", "The browser sent an invalid connection address; reload the page."},
	"liveerr.streams":       {"Phiên xem này đang mở số kết nối tối đa; tải lại trang.", "This live view has as many connections open as it may; reload the page."},
	"liveerr.refused":       {"Thiết bị từ chối mở xem trực tiếp (chi tiết: %s).", "The gateway refused the live view (%s)."},
	"liveerr.other":         {"Không mở được xem trực tiếp (chi tiết: %s).", "The live view could not be opened (%s)."},
}

// liveErrKeys maps a fragment of a relay error message to its catalogue
// key, the first match winning (the more specific fragments first).
var liveErrKeys = []struct{ frag, key string }{
	{"no such gateway", "liveerr.no_gateway"},
	{"no such camera", "liveerr.no_camera"},
	{"unknown camera", "liveerr.no_camera"},
	{"no camera", "liveerr.no_camera"},
	{"camera not ready", "liveerr.not_ready"},
	{"no picture", "liveerr.not_ready"},
	{"too many viewers", "liveerr.gw_viewers"},
	{"viewers", "liveerr.gw_viewers"},
	{"the station relays", "liveerr.station_full"},
	{"live views open already", "liveerr.user_full"},
	{"no reply from the gateway", "liveerr.no_reply"},
	{"deadline exceeded", "liveerr.no_reply"},
	{"no broker connection", "liveerr.no_broker"},
	{"unsupported codec", "liveerr.codec"},
	{"no such live view", "liveerr.session_ended"},
	{"unknown session", "liveerr.session_ended"},
	{"not a camera name", "liveerr.bad_camera"},
	{"quality: want", "liveerr.bad_quality"},
	{"want application/sdp", "liveerr.bad_offer"},
	{"offer: ", "liveerr.bad_offer"},
	{"trickle-ice-sdpfrag", "liveerr.bad_candidate"},
	{"fragment: ", "liveerr.bad_candidate"},
	{"candidate streams open already", "liveerr.streams"},
}

func init() {
	for k, m := range liveErrCatalogue {
		if _, dup := catalogue[k]; dup {
			panic("web: string " + k + " in two catalogues")
		}
		catalogue[k] = m
	}
}

// liveErrKey is the catalogue key of a relay error message, or "".
func liveErrKey(message string) string {
	m := strings.ToLower(message)
	for _, e := range liveErrKeys {
		if strings.Contains(m, e.frag) {
			return e.key
		}
	}
	return ""
}

// liveErrText is a relay error message as the live tile shows it in lang:
// the localised text of a common error, else the message itself.
func liveErrText(lang, message string) string {
	k := strings.TrimPrefix(liveErrKey(message), "liveerr.")
	if k == "" {
		return message
	}
	return trOr(lang, "liveerr."+k, message)
}

// liveErrMessage is the "message" of a live view API error in lang: a
// common error's text, else a sentence in lang around the message (the
// gateway's refusal, or another failure), so that a tile on the
// Vietnamese page never shows only the relay's English.
func liveErrMessage(lang, message string) string {
	if liveErrKey(message) != "" {
		return liveErrText(lang, message)
	}
	if why, ok := strings.CutPrefix(message, "the gateway refused: "); ok {
		return tr(lang, "liveerr.refused", why)
	}
	return tr(lang, "liveerr.other", message)
}

// failNoGateway answers a gateway the account may not see, or that does
// not exist, the same way: on the live view API with the message the tile
// shows (as h.fail answers), elsewhere as Server.fail does. A limited
// account tells neither case from the other on any path.
func (s *Server) failNoGateway(w http.ResponseWriter, r *http.Request) {
	const msg = "no such gateway"
	if p := r.URL.Path; strings.HasPrefix(p, "/api/") && strings.Contains(p, "/live") {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": msg, "message": liveErrMessage(langOf(r), msg)})
		return
	}
	s.fail(w, r, http.StatusNotFound, msg)
}
