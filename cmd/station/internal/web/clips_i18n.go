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

func init() {
	for k, m := range clipCatalogue {
		if _, dup := catalogue[k]; dup {
			panic("web: string " + k + " in two catalogues")
		}
		catalogue[k] = m
	}
}
