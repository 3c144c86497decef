package web

// clipCatalogue holds the strings of clips and case export on the events
// page (static/clips.js reads them from #clips), merged into catalogue;
// the Vietnamese terms are in docs/glossary-vi.md.
var clipCatalogue = map[string]msg{
	"clip.missing":    {"Đoạn video: trạm chưa có", "Video clip: not at the station"},
	"clip.partial":    {"Đoạn video: đang tải về", "Video clip: partly received"},
	"clip.complete":   {"Đoạn video: đã đủ", "Video clip: complete"},
	"clip.play":       {"Phát đoạn video", "Play the clip"},
	"clip.video":      {"Đoạn video %s", "Video clip %s"},
	"clip.fetch":      {"Lấy đoạn video từ thiết bị", "Fetch the clip from the gateway"},
	"clip.fetching":   {"Đang yêu cầu…", "Asking…"},
	"clip.asked":      {"Đã yêu cầu; thiết bị đang gửi", "Asked; the gateway is sending it"},
	"clip.fetchfail":  {"Không yêu cầu được", "Could not ask"},
	"clip.limit":      {"Đã quá giới hạn số lần lấy đoạn video (%d lần mỗi giờ cho mỗi tài khoản): hãy thử lại sau %d phút.", "Past the fetch limit (%d requests an hour per account): try again in %d minutes."},
	"export.pick":     {"Đưa vào hồ sơ", "Add to the case"},
	"export.case":     {"Tên vụ việc", "Case name"},
	"export.picked":   {"Sự kiện đã chọn:", "Events chosen:"},
	"export.do":       {"Xuất hồ sơ vụ việc", "Export the case"},
	"export.pickone":  {"Hãy chọn ít nhất một sự kiện.", "Choose at least one event."},
	"export.working":  {"Đang tạo hồ sơ…", "Building the case file…"},
	"export.fail":     {"Không xuất được hồ sơ", "The case could not be exported"},
	"export.done":     {"Đã tạo hồ sơ, đã ký số", "Case file made and signed"},
	"export.download": {"Tải hồ sơ về", "Download the case file"},
}

// rangeCatalogue holds the strings of the events page's form that fetches
// a camera's continuous recording over a time range (#clip-range, read by
// static/clips.js): times are read in Asia/Ho_Chi_Minh.
var rangeCatalogue = map[string]msg{
	"range.title":   {"Lấy bản ghi theo khoảng thời gian", "Fetch recordings for a time range"},
	"range.camera":  {"Chọn camera", "Camera"},
	"range.from":    {"Từ (giờ Việt Nam)", "From (Vietnam time)"},
	"range.to":      {"Đến (giờ Việt Nam)", "To (Vietnam time)"},
	"range.do":      {"Lấy bản ghi từ thiết bị", "Fetch from the gateway"},
	"range.format":  {"dd/mm/yyyy HH:MM", "yyyy-mm-dd HH:MM"},
	"range.bad":     {"Thời điểm không hợp lệ: viết theo dạng dd/mm/yyyy HH:MM, ví dụ 02/12/2026 08:30.", "Not a time: write it as yyyy-mm-dd HH:MM, for example 2026-12-02 08:30."},
	"range.order":   {"Thời điểm «Đến» phải sau thời điểm «Từ».", "«To» must be after «From»."},
	"range.long":    {"Khoảng thời gian dài quá %d phút: hãy chọn khoảng ngắn hơn (mỗi phút tốn khoảng 4 MiB dữ liệu 4G).", "The range is longer than %d minutes: choose a shorter one (each minute is about 4 MiB of 4G data)."},
	"range.coming":  {"Thiết bị sẽ gửi %d đoạn video:", "The gateway will send %d clips:"},
	"range.held":    {"Trạm đã có đủ cả %d đoạn video của khoảng thời gian này: không lấy lại từ thiết bị, không tốn dữ liệu 4G.", "The station already holds all %d clips of this range: nothing is fetched from the gateway again, no 4G data used."},
	"range.skipped": {"%d đoạn video trạm đã có sẽ không được gửi lại.", "%d clips the station already holds are not sent again."},
	"range.none":    {"Thiết bị không có bản ghi nào của camera này trong khoảng thời gian đó.", "The gateway holds no recording of this camera in that range."},
	"range.noreply": {"Thiết bị không trả lời (có thể đang mất kết nối); hãy thử lại sau.", "The gateway did not answer (it may be offline); try again later."},
	"range.denied":  {"Tài khoản này không được lấy bản ghi của thiết bị này.", "This account may not fetch this gateway's recordings."},
}

func init() {
	for k, m := range rangeCatalogue {
		clipCatalogue[k] = m
	}
	for k, m := range clipCatalogue {
		if _, dup := catalogue[k]; dup {
			panic("web: string " + k + " in two catalogues")
		}
		catalogue[k] = m
	}
}
