package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Languages of the console; Vietnamese is the default.
const (
	LangVI = "vi"
	LangEN = "en"
)

// langCookie holds a chosen language; it is not a secret.
const langCookie = "antt-lang"

// msg is one string in both languages: a catalogue entry cannot exist in
// one language only. The Vietnamese terms follow docs/glossary-vi.md.
type msg struct{ vi, en string }

// catalogue holds every string the pages show. Templates use {{t "key"}};
// TestCatalogue checks that every key used exists and every key is used.
var catalogue = map[string]msg{
	"app.title":          {"Trạm ANTT", "ANTT Station"},
	"app.skip":           {"Bỏ qua, tới nội dung", "Skip to content"},
	"nav.sites":          {"Địa điểm", "Sites"},
	"nav.events":         {"Sự kiện", "Events"},
	"nav.audit":          {"Nhật ký thao tác", "Audit log"},
	"nav.users":          {"Tài khoản", "Accounts"},
	"nav.logout":         {"Đăng xuất", "Log out"},
	"nav.menu":           {"Trình đơn chính", "Main menu"},
	"nav.language":       {"Ngôn ngữ", "Language"},
	"nav.signedin":       {"Đang đăng nhập", "Signed in as"},
	"lang.vi":            {"Tiếng Việt", "Tiếng Việt"},
	"lang.en":            {"English", "English"},
	"login.title":        {"Đăng nhập", "Log in"},
	"login.user":         {"Tên đăng nhập", "User name"},
	"login.password":     {"Mật khẩu", "Password"},
	"login.submit":       {"Đăng nhập", "Log in"},
	"login.failed":       {"Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password."},
	"login.limited":      {"Đăng nhập sai quá nhiều lần. Hãy thử lại sau %s.", "Too many failed logins. Try again in %s."},
	"login.busy":         {"Máy chủ đang bận, hãy thử lại.", "The server is busy; try again."},
	"login.intro":        {"Công an xã — bảng điều khiển camera an ninh và báo động", "Commune police — security camera and alarm console"},
	"role.admin":         {"Quản trị", "Administrator"},
	"role.officer":       {"Trực ban", "Duty officer"},
	"role.viewer":        {"Chỉ xem", "Viewer"},
	"sites.title":        {"Địa điểm và thiết bị", "Sites and gateways"},
	"sites.none":         {"Chưa có thiết bị nào liên lạc với trạm.", "No gateway has contacted the station yet."},
	"sites.nosite":       {"Chưa gán địa điểm", "No site assigned"},
	"gw.name":            {"Thiết bị", "Gateway"},
	"gw.online":          {"Trực tuyến", "Online"},
	"gw.offline":         {"Ngoại tuyến", "Offline"},
	"gw.unknown":         {"Chưa liên lạc", "Not heard from"},
	"gw.lastseen":        {"Liên lạc lần cuối", "Last seen"},
	"gw.version":         {"Phiên bản", "Version"},
	"gw.backlog":         {"Sự kiện chờ gửi", "Events waiting"},
	"gw.cameras":         {"Camera", "Cameras"},
	"gw.never":           {"chưa bao giờ", "never"},
	"kind.gate":          {"Cổng khu dân cư", "Residential-area gate"},
	"kind.school":        {"Trường học", "School"},
	"events.title":       {"Sự kiện", "Events"},
	"events.none":        {"Không có sự kiện nào.", "No events."},
	"events.time":        {"Thời gian", "Time"},
	"events.kind":        {"Loại", "Kind"},
	"events.source":      {"Nguồn", "Source"},
	"events.state":       {"Tình trạng", "State"},
	"events.details":     {"Chi tiết", "Details"},
	"events.snapshot":    {"Ảnh chụp", "Snapshot"},
	"events.older":       {"Cũ hơn", "Older"},
	"events.newest":      {"Mới nhất", "Newest"},
	"events.test":        {"thử", "test"},
	"events.unsynced":    {"đồng hồ thiết bị chưa đồng bộ", "gateway clock not synced"},
	"events.all":         {"Tất cả thiết bị", "All gateways"},
	"events.filter":      {"Lọc", "Filter"},
	"state.active":       {"kích hoạt", "active"},
	"state.inactive":     {"bình thường", "inactive"},
	"ev.motion":          {"Phát hiện chuyển động", "Motion"},
	"ev.contact":         {"Cửa", "Door contact"},
	"ev.tamper":          {"Cạy phá thiết bị", "Tamper"},
	"ev.panic":           {"Nút khẩn cấp", "Panic button"},
	"ev.camera_offline":  {"Camera mất kết nối", "Camera offline"},
	"ev.camera_online":   {"Camera kết nối lại", "Camera online"},
	"ev.outbox_overflow": {"Mất sự kiện do đầy bộ nhớ", "Events dropped: storage full"},
	"ev.storage_reset":   {"Bộ nhớ thiết bị được khởi tạo lại", "Gateway storage reset"},
	"ev.boot":            {"Thiết bị khởi động", "Gateway started"},
	"ev.snapshot":        {"Ảnh chụp theo yêu cầu", "Snapshot on request"},
	"ev.capture_failed":  {"Không ghi được sự kiện", "Events not captured"},
	"audit.title":        {"Nhật ký thao tác", "Audit log"},
	"audit.n":            {"Số", "No."},
	"audit.actor":        {"Người thực hiện", "By"},
	"audit.action":       {"Thao tác", "Action"},
	"audit.target":       {"Đối tượng", "Target"},
	"audit.addr":         {"Địa chỉ", "Address"},
	"audit.result":       {"Kết quả", "Result"},
	"audit.ok":           {"thành công", "done"},
	"audit.fail":         {"thất bại", "failed"},
	"audit.since":        {"Từ ngày", "From"},
	"audit.until":        {"Đến trước ngày", "Before"},
	"audit.none":         {"Không có mục nào.", "No entries."},
	"users.title":        {"Tài khoản", "Accounts"},
	"users.name":         {"Tên đăng nhập", "User name"},
	"users.role":         {"Vai trò", "Role"},
	"users.limits":       {"Giới hạn", "Limited to"},
	"users.all":          {"tất cả địa điểm", "all sites"},
	"users.sites":        {"Địa điểm (mã, cách nhau bởi dấu phẩy)", "Sites (ids, comma-separated)"},
	"users.gateways":     {"Thiết bị (mã, cách nhau bởi dấu phẩy)", "Gateways (ids, comma-separated)"},
	"users.add":          {"Thêm tài khoản", "Add account"},
	"users.remove":       {"Xoá", "Remove"},
	"users.confirm":      {"Xoá tài khoản này?", "Remove this account?"},
	"users.added":        {"Đã thêm tài khoản.", "Account added."},
	"users.removed":      {"Đã xoá tài khoản.", "Account removed."},
	"users.tokens":       {"Mã truy cập API", "API tokens"},
	"users.notokens":     {"Chưa có mã truy cập nào.", "No API tokens."},
	"users.revoked":      {"đã thu hồi", "revoked"},
	"users.limitsites":   {"địa điểm %s", "sites %s"},
	"users.limitgws":     {"thiết bị %s", "gateways %s"},
	"act.login":          {"Đăng nhập", "Log in"},
	"act.login_failed":   {"Đăng nhập sai", "Failed login"},
	"act.logout":         {"Đăng xuất", "Log out"},
	"act.user_add":       {"Thêm tài khoản", "Account added"},
	"act.user_password":  {"Đổi mật khẩu", "Password changed"},
	"act.user_change":    {"Đổi vai trò", "Role changed"},
	"act.user_remove":    {"Xoá tài khoản", "Account removed"},
	"act.token_add":      {"Tạo mã truy cập API", "API token made"},
	"act.token_revoke":   {"Thu hồi mã truy cập API", "API token revoked"},
	"users.changed":      {"Thay đổi", "Changed"},
	"err.title":          {"Lỗi", "Error"},
	"err.forbidden":      {"Tài khoản của bạn không có quyền này.", "Your account may not do this."},
	"err.notfound":       {"Không tìm thấy trang.", "Page not found."},
	"err.bad":            {"Yêu cầu không hợp lệ: %s", "Bad request: %s"},
	"err.internal":       {"Lỗi máy chủ; chi tiết trong nhật ký của trạm.", "Server error; the station's log has the details."},
	"err.back":           {"Về trang chính", "Back to the main page"},
	// Alarm events (docs/alarm.md "Events"); a mode event's state is a mode.
	"ev.mode":           {"Đổi chế độ bảo vệ", "Alarm mode changed"},
	"ev.exit_delay":     {"Đếm giờ đi ra", "Exit delay"},
	"ev.entry_delay":    {"Đếm giờ đi vào", "Entry delay"},
	"ev.alarm":          {"Báo động", "Alarm"},
	"ev.silence":        {"Tắt còi", "Siren silenced"},
	"ev.bypass":         {"Bỏ qua cảm biến", "Sensor bypassed"},
	"ev.trouble":        {"Sự cố cảm biến", "Sensor trouble"},
	"ev.chime":          {"Chuông báo cửa", "Chime"},
	"ev.output":         {"Đầu ra", "Output"},
	"ev.arming_refused": {"Không bật được bảo vệ", "Arming refused"},
	"ev.test_mode":      {"Chế độ thử", "Installer test mode"},
	"ev.keyswitch":      {"Công tắc chìa khóa", "Key switch"},
	"ev.clip":           {"Đoạn video", "Video clip"},
	"state.triggered":   {"đang báo động", "triggered"},
	"state.unconfirmed": {"chưa xác minh", "unconfirmed"},
	"state.restored":    {"đã trở lại bình thường", "restored"},
	"state.started":     {"bắt đầu", "started"},
	"state.ended":       {"kết thúc", "ended"},
	"state.on":          {"bật", "on"},
	"state.off":         {"tắt", "off"},
	"state.failed":      {"lỗi", "failed"},
	// Camera states in telemetry (docs/cameras.md).
	"cam.online":      {"trực tuyến", "online"},
	"cam.offline":     {"ngoại tuyến", "offline"},
	"cam.connecting":  {"đang kết nối", "connecting"},
	"cam.idle":        {"chờ, kiểm tra định kỳ", "idle, checked"},
	"gw.disk":         {"Bộ nhớ còn trống", "Disk free"},
	"gw.temp":         {"Nhiệt độ CPU", "CPU temperature"},
	"act.ack":         {"Xác nhận báo động", "Alarm acknowledged"},
	"act.command":     {"Lệnh cho thiết bị", "Command to a gateway"},
	"act.live_open":   {"Mở xem trực tiếp", "Live view opened"},
	"act.live_close":  {"Đóng xem trực tiếp", "Live view closed"},
	"act.export":      {"Xuất hồ sơ vụ việc", "Case exported"},
	"act.clip_view":   {"Xem đoạn video", "Clip watched"},
	"act.clip.fetch":  {"Lấy đoạn video từ thiết bị", "Clip fetched from the gateway"},
	"cmdname.arm":     {"Bật / tắt bảo vệ", "Arm / disarm"},
	"cmdname.silence": {"Tắt còi", "Silence siren"},
	"cmdname.output":  {"Bật / tắt đầu ra", "Output on / off"},
	"alarm.pick":      {"Chọn báo động này", "Select this alarm"},
	"alarm.pickone":   {"Hãy chọn ít nhất một báo động.", "Select at least one alarm."},
	"alarm.acked":     {"Đã xác nhận %d báo động.", "%d alarms acknowledged."},
	"alarm.ackfail":   {"Không xác nhận được:", "Not acknowledged:"},
}

// langOf picks the language: the cookie, else the first of vi and en in
// Accept-Language by preference, else Vietnamese.
func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == LangVI || c.Value == LangEN) {
		return c.Value
	}
	best, bestQ := LangVI, -1.0
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if (base == LangVI || base == LangEN) && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

// tr returns the string key in lang, formatted with args when given. A
// missing key shows itself (and fails TestCatalogue), never a blank.
func tr(lang, key string, args ...any) string {
	m, ok := catalogue[key]
	if !ok {
		return key
	}
	s := m.vi
	if lang == LangEN {
		s = m.en
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// trOr returns key's string when the catalogue has it, else fallback (an
// event kind newer than this console shows as sent).
func trOr(lang, key, fallback string) string {
	if _, ok := catalogue[key]; ok {
		return tr(lang, key)
	}
	return fallback
}
