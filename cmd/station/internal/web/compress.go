package web

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The console's answers go gzip-compressed to a browser that accepts it:
// a phone on a slow link in the commune loads the first page in a few
// round trips (docs/performance.md "Console": its weight). Static files
// are compressed once at start; pages when rendered. The live feed is not
// compressed (each event must leave at once).

// acceptsGzip reports whether the request's Accept-Encoding takes gzip.
func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// gzipBytes compresses b at the best ratio (static files, once).
func gzipBytes(b []byte, level int) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, level) // level is a valid constant
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

// staticFiles serves the embedded static files, gzip-compressed when the
// browser accepts it, else as http.FileServerFS does.
type staticFiles struct {
	plain http.Handler
	gz    map[string][]byte // path under /static/ -> compressed body
}

func newStaticFiles(sub fs.FS) *staticFiles {
	s := &staticFiles{plain: http.StripPrefix("/static/", http.FileServerFS(sub)), gz: map[string][]byte{}}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		if z := gzipBytes(b, gzip.BestCompression); len(z) < len(b) {
			s.gz[p] = z
		}
		return nil
	})
	return s
}

func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept-Encoding")
	z, ok := s.gz[strings.TrimPrefix(r.URL.Path, "/static/")]
	if !ok || !acceptsGzip(r) {
		s.plain.ServeHTTP(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", cmpOr(mime.TypeByExtension(path.Ext(r.URL.Path)), "application/octet-stream"))
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(z)
	}
}

// writePage writes a rendered page, compressed when the browser accepts
// it and the page is worth it.
func writePage(w http.ResponseWriter, r *http.Request, code int, page *bytes.Buffer) {
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if page.Len() < 1024 || !acceptsGzip(r) {
		w.WriteHeader(code)
		_, _ = page.WriteTo(w)
		return
	}
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(code)
	zw, _ := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	_, _ = page.WriteTo(zw)
	_ = zw.Close()
}
