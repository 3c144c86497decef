package web

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/antt-gateway/antt/uplink/wire"
)

// FuzzLang: any Accept-Language header picks vi or en, never panics.
func FuzzLang(f *testing.F) {
	for _, s := range []string{"", "vi", "en-US,en;q=0.9", "fr;q=1,en;q=0.2,vi;q=0.1", "vi;q=abc", ";;;,,", "*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", h)
		if l := langOf(r); l != LangVI && l != LangEN {
			t.Fatalf("langOf(%q) = %q", h, l)
		}
	})
}

// FuzzDirectory: a directory file either fails with an error or gives
// entries whose ids, sites and kinds are valid.
func FuzzDirectory(f *testing.F) {
	f.Add([]byte(`[{"id":"cong-khu-3","name":"Cổng khu dân cư 3","site":"khu-3","kind":"gate"}]`))
	f.Add([]byte(`[{"id":"a","site":"B"}]`))
	f.Add([]byte(`{"id":"a"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), DirectoryFile)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := LoadDirectory(p)
		if err != nil {
			return
		}
		for id, e := range d {
			if id != e.ID || !wire.ValidID(id) || (e.Site != "" && !wire.ValidID(e.Site)) || (e.Kind != "" && e.Kind != "gate" && e.Kind != "school") {
				t.Fatalf("accepted entry %+v", e)
			}
		}
	})
}
