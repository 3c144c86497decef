package web

// sitesCatalogue holds the strings of the sites page's outages timeline
// and backlog age, and noticeCatalogue the plain sentences of gaps and
// storage notices (notices.go), merged into catalogue; the Vietnamese
// terms are in docs/glossary-vi.md.
var sitesCatalogue = map[string]msg{
	"sites.span":     {"Khoảng thời gian", "Span"},
	"sites.spanday":  {"24 giờ qua", "Last 24 hours"},
	"sites.spanweek": {"7 ngày qua", "Last 7 days"},
	"gw.oldest":      {"Sự kiện chờ lâu nhất", "Oldest waiting event"},
	"gw.oldestval":   {"chờ %s (từ %s)", "waiting %s (since %s)"},
	"tl.title":       {"Lịch sử ngoại tuyến", "Outages"},
	"tl.none":        {"Không ngoại tuyến lần nào trong %s.", "No outage in the %s."},
	"tl.noneday":     {"24 giờ qua", "last 24 hours"},
	"tl.noneweek":    {"7 ngày qua", "last 7 days"},
	"tl.summary":     {"Ngoại tuyến %d lần, tổng %s.", "%d outages, %s in all."},
	"tl.summaryone":  {"Ngoại tuyến 1 lần, %s.", "1 outage, %s."},
	"tl.aria":        {"Lịch sử ngoại tuyến của %s, %s: %s", "Outages of %s, %s: %s"},
	"tl.list":        {"Danh sách các lần ngoại tuyến", "List of outages"},
	"tl.what":        {"Thiết bị hoặc camera", "Gateway or camera"},
	"tl.start":       {"Bắt đầu", "Start"},
	"tl.end":         {"Kết thúc", "End"},
	"tl.duration":    {"Thời lượng", "Duration"},
	"tl.ongoing":     {"Vẫn đang ngoại tuyến", "Still offline"},
	"tl.blip":        {"ngắn, không báo động", "short, no alarm"},
	"tl.restart":     {"khởi động lại", "restarted"},
	"tl.camera":      {"Camera %s", "The %s camera"},
	"tl.legendout":   {"ngoại tuyến", "offline"},
	"tl.legendblip":  {"ngoại tuyến ngắn", "short outage"},
	"tl.legendcam":   {"camera mất kết nối", "camera offline"},
	"dur.s":          {"%d giây", "%d s"},
	"dur.m":          {"%d phút", "%d min"},
	"dur.hm":         {"%d giờ %d phút", "%d h %d min"},
	"dur.dh":         {"%d ngày %d giờ", "%d d %d h"},
}

var noticeCatalogue = map[string]msg{
	"notice.eventone":     {"1 sự kiện", "1 event"},
	"notice.events":       {"%d sự kiện", "%d events"},
	"notice.gapopen":      {"%s bị mất tại %s (số %d–%d), chưa rõ lý do; phát hiện ngày %s.", "%s missing from %s (numbers %d–%d), reason not known yet; noticed on %s."},
	"notice.gapother":     {"%s bị mất tại %s (số %d–%d). Lý do: %s.", "%s lost at %s (numbers %d–%d). Reason: %s."},
	"notice.overflow":     {"%s bị mất tại %s khi bộ nhớ đầy, ngày %s (số %d–%d).", "%s lost at %s when its storage filled on %s (numbers %d–%d)."},
	"notice.reset":        {"%s bị mất tại %s khi bộ nhớ bị hỏng và được làm mới, ngày %s (số %d–%d).", "%s lost at %s when its damaged storage was started afresh on %s (numbers %d–%d)."},
	"notice.droppedreset": {"%s bị mất tại %s khi bộ nhớ bị hỏng và được làm mới; báo cáo việc đó (số %d) cũng bị mất khi bộ nhớ đầy, ngày %s (số %d–%d).", "%s lost at %s when its damaged storage was started afresh; the report of it (number %d) was lost too when its storage filled on %s (numbers %d–%d)."},
	"notice.later":        {"Đã rõ lý do:", "Now explained:"},
	"notice.epoch":        {"%s bắt đầu đánh số mới ngày %s, tiếp theo số %d.", "%s started a new numbering on %s, continuing from number %d."},
	"notice.replaced":     {"Bộ nhớ của %s đã được thay ngày %s; bộ nhớ cũ dừng ở sự kiện số %d.", "The storage of %s was replaced on %s; the old storage ended at event number %d."},
	"notice.other":        {"%s: thông báo ngày %s (%s).", "%s: notice on %s (%s)."},
	"notice.dropped":      {"%s bị mất tại %s khi bộ nhớ đầy, ngày %s.", "%s lost at %s when its storage filled on %s."},
	"notice.droppedrange": {"%s bị mất tại %s khi bộ nhớ đầy, ngày %s (số %d–%d).", "%s lost at %s when its storage filled on %s (numbers %d–%d)."},
	"notice.refused":      {"Trạm đã từ chối %d tin nhắn không hợp lệ từ %s trong khoảng này, lần cuối ngày %s: %s.", "The station refused %d invalid messages from %s in this span, the last on %s: %s."},
	"notice.storagereset": {"Bộ nhớ của %s bị hỏng, đã được cất sang một bên và làm mới, ngày %s.", "The storage of %s was damaged, moved aside and started afresh on %s."},
}

func init() {
	for _, c := range []map[string]msg{sitesCatalogue, noticeCatalogue} {
		for k, m := range c {
			if _, dup := catalogue[k]; dup {
				panic("web: string " + k + " in two catalogues")
			}
			catalogue[k] = m
		}
	}
}
