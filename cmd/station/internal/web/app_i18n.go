package web

// appCatalogue holds the strings static/app.js shows (through data-
// attributes of the templates): the events filter's dates, written
// dd/mm/yyyy on the Vietnamese page whatever the browser's locale.
var appCatalogue = map[string]msg{
	"date.format": {"dd/mm/yyyy", "yyyy-mm-dd"},
	"date.bad":    {"Ngày không hợp lệ: viết theo dạng dd/mm/yyyy, ví dụ 02/12/2026.", "Not a date: write it as yyyy-mm-dd, for example 2026-12-02."},
}

func init() {
	for k, m := range appCatalogue {
		if _, dup := catalogue[k]; dup {
			panic("web: string " + k + " in two catalogues")
		}
		catalogue[k] = m
	}
}
