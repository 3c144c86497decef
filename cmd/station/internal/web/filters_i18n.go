package web

// filterCatalogue holds the strings of the events filters by kind, state
// and text (filters.go, templates/events.html), merged into catalogue;
// the Vietnamese terms are docs/glossary-vi.md's.
var filterCatalogue = map[string]msg{
	"filter.anykind":     {"Mọi loại", "Any kind"},
	"filter.anystate":    {"Mọi tình trạng", "Any state"},
	"filter.sensors":     {"Cảm biến", "Sensors"},
	"filter.alarmsys":    {"Báo động và bảo vệ", "Alarm and arming"},
	"filter.cameras":     {"Camera và ghi hình", "Cameras and recording"},
	"filter.system":      {"Thiết bị và bộ nhớ", "Gateway and storage"},
	"filter.gap":         {"Mất sự kiện", "Events lost"},
	"filter.notice":      {"Thông báo bộ nhớ", "Storage notice"},
	"filter.alarms":      {"Báo động", "Alarms"},
	"filter.review":      {"Báo động cần xác nhận", "Alarms to review"},
	"filter.acked":       {"Báo động đã xác nhận", "Alarms acknowledged"},
	"filter.outcome":     {"Đã xác nhận: %s", "Acknowledged: %s"},
	"filter.sensorstate": {"Tình trạng cảm biến", "Sensor state"},
	"filter.active":      {"Kích hoạt", "Active"},
	"filter.inactive":    {"Bình thường", "Inactive"},
	"filter.q":           {"Tìm", "Search"},
	"filter.qhint":       {"Tên địa điểm, thiết bị, cảm biến, camera, ghi chú; không cần gõ dấu.", "Site, gateway, sensor, camera, note; accents and case do not matter."},
	"filter.clear":       {"Bỏ lọc", "Clear filters"},
	"filter.partial":     {"Đã tìm hết giới hạn của một lần tìm mà trang chưa đủ: bấm «Cũ hơn» để tìm tiếp trong các sự kiện cũ hơn.", "One search reads a bounded number of records and this page is not full: press «Older» to search on in older events."},
	// Kinds with no words before the filters named them.
	"ev.walk_test":        {"Đi thử cảm biến", "Walk test"},
	"ev.clip_lost":        {"Mất đoạn video bằng chứng", "Evidence clip lost"},
	"ev.recording_failed": {"Không ghi hình được", "Recording failed"},
}

func init() {
	for k, m := range filterCatalogue {
		if _, dup := catalogue[k]; dup {
			panic("web: string " + k + " in two catalogues")
		}
		catalogue[k] = m
	}
}
