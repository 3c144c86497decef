package web

// liveCatalogue holds the live page's strings, merged into catalogue;
// the Vietnamese terms are in docs/glossary-vi.md.
var liveCatalogue = map[string]msg{
	"nav.live":         {"Xem trực tiếp", "Live view"},
	"live.title":       {"Xem trực tiếp", "Live view"},
	"live.hint":        {"Mỗi ô chỉ phát khi đang hiện trên màn hình; mặc định là luồng phụ để tiết kiệm dữ liệu.", "A tile plays only while it is on screen; the substream by default, to save data."},
	"live.unavailable": {"Trạm chưa kết nối máy chủ MQTT: chưa xem trực tiếp được.", "The station has no broker connection: live view is not available."},
	"live.none":        {"Chưa có camera nào: các thiết bị chưa báo camera của mình.", "No cameras yet: the gateways have not reported their cameras."},
	"live.connecting":  {"Đang kết nối", "Connecting"},
	"live.playing":     {"Đang phát", "Playing"},
	"live.stopped":     {"Đã dừng", "Stopped"},
	"live.failed":      {"Không xem được", "Cannot play"},
	"live.ended":       {"Phiên xem đã kết thúc", "The view has ended"},
	"live.bytes":       {"Dữ liệu đã dùng", "Data used"},
	"live.high":        {"Luồng chính", "Main stream"},
	"live.low":         {"Luồng phụ", "Substream"},
	"live.start":       {"Xem / dừng", "Play / stop"},
	"live.switch":      {"Đổi luồng chính / phụ", "Main stream / substream"},
	"live.video":       {"Hình trực tiếp của %s, camera %s", "Live picture of %s, camera %s"},
	"live.open":        {"Xem trực tiếp", "Live view"},
	// Playback of a recording through the tile (live_play.go).
	"live.playback":       {"Xem lại bản ghi", "Playback of a recording"},
	"live.replay":         {"Xem lại bản ghi", "Play back the recording"},
	"live.from":           {"Từ", "From"},
	"live.to":             {"Đến", "To"},
	"live.tz":             {"giờ Việt Nam (UTC+7)", "Vietnam time (UTC+7)"},
	"live.speed":          {"Tốc độ", "Speed"},
	"live.seek_at":        {"Tua đến", "Seek to"},
	"live.seek":           {"Tua", "Seek"},
	"live.to_live":        {"Về xem trực tiếp", "Back to live view"},
	"live.position":       {"Vị trí", "Position"},
	"live.replaying":      {"Đang xem lại", "Playing back"},
	"live.end_range":      {"Đã phát hết khoảng thời gian đã chọn", "The chosen range has played to its end"},
	"live.end_recordings": {"Đã hết bản ghi", "No more recordings"},
	"live.need_range":     {"Chọn thời điểm bắt đầu và kết thúc", "Choose the start and the end"},
}

func init() {
	for k, m := range liveCatalogue {
		if _, dup := catalogue[k]; dup {
			panic("web: string " + k + " in two catalogues")
		}
		catalogue[k] = m
	}
}
