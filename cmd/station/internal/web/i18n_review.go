package web

// reviewCatalogue holds the strings of the live feed, alarms, commands and
// statistics (phase 2), merged into catalogue; the Vietnamese terms are in
// docs/glossary-vi.md.
var reviewCatalogue = map[string]msg{
	"nav.stats":           {"Thống kê", "Statistics"},
	"alarm.title":         {"Báo động cần xác nhận", "Alarms to review"},
	"alarm.none":          {"Không có báo động nào cần xác nhận.", "No alarms to review."},
	"alarm.outcome":       {"Kết quả", "Outcome"},
	"alarm.note":          {"Ghi chú", "Note"},
	"alarm.ack":           {"Xác nhận", "Acknowledge"},
	"alarm.confirm":       {"Xác nhận các báo động đã chọn?", "Acknowledge the selected alarms?"},
	"alarm.offline":       {"Ngoại tuyến quá thời gian cho phép", "Offline beyond the grace"},
	"alarm.new":           {"Báo động mới", "New alarm"},
	"alarm.soundon":       {"Bật âm thanh báo động", "Turn on the alarm sound"},
	"outcome.false_alarm": {"Báo động giả", "False alarm"},
	"outcome.handled":     {"Đã xử lý", "Handled"},
	"outcome.incident":    {"Chuyển thành vụ việc", "Turned into a case"},
	"feed.live":           {"Đang cập nhật trực tiếp", "Live"},
	"feed.reconnecting":   {"Mất kết nối, đang kết nối lại…", "Connection lost, reconnecting…"},
	"cmd.title":           {"Lệnh cho thiết bị", "Command to the gateway"},
	"cmd.mode":            {"Chế độ", "Mode"},
	"cmd.arm":             {"Bật / tắt bảo vệ", "Arm / disarm"},
	"cmd.silence":         {"Tắt còi", "Silence siren"},
	"cmd.confirmarm":      {"Đổi chế độ bảo vệ của %s?", "Change the alarm mode of %s?"},
	"cmd.confirmsilence":  {"Tắt còi tại %s? Chế độ bảo vệ vẫn giữ nguyên.", "Silence the siren at %s? The alarm mode stays as it is."},
	"cmd.ok":              {"thiết bị đã thực hiện", "done by the gateway"},
	"cmd.failed":          {"không thực hiện được", "not done"},
	"cmd.open":            {"Các cảm biến đang mở:", "Sensors open:"},
	"mode.away":           {"Đi vắng", "Away"},
	"mode.home":           {"Ở nhà", "Home"},
	"mode.night":          {"Ban đêm", "Night"},
	"mode.disarmed":       {"Tắt bảo vệ", "Disarmed"},
	"stats.title":         {"Thống kê", "Statistics"},
	"stats.perhour":       {"Sự kiện mỗi giờ (24 giờ qua)", "Events per hour (last 24 hours)"},
	"stats.perday":        {"Sự kiện mỗi ngày (14 ngày qua)", "Events per day (last 14 days)"},
	"stats.alarms":        {"%d báo động", "%d alarms"},
	"stats.ack":           {"Thời gian xác nhận", "Time to acknowledge"},
	"stats.ackfig":        {"%d báo động đã xác nhận.", "%d alarms acknowledged."},
	"stats.median":        {"Trung vị", "Median"},
	"stats.max":           {"Lâu nhất", "Longest"},
	"stats.noack":         {"Chưa có báo động nào được xác nhận trong 14 ngày qua.", "No alarm acknowledged in the last 14 days."},
}

func init() {
	for k, m := range reviewCatalogue {
		if _, dup := catalogue[k]; dup {
			panic("web: string " + k + " in two catalogues")
		}
		catalogue[k] = m
	}
}
