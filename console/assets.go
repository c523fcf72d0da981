package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// dist is the built page (`npm run build` in web/), committed so that a
// fresh clone serves the console without Node.
//
//go:embed all:dist
var dist embed.FS

// contentSecurityPolicy allows the page nothing but its own origin: its
// scripts, styles and font come from the binary, and it talks only to
// /mcp and /console/events. It may not be framed (clickjacking).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Page serves the console's page at prefix and prefix+"/", and its
// assets below prefix. Only GET and HEAD reach it (the transport checks).
type Page struct {
	prefix string
	files  fs.FS
}

// NewPage returns the handler for the embedded page mounted at prefix
// (such as "/console").
func NewPage(prefix string) *Page {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded: it is always there
	}
	return &Page{prefix: strings.TrimSuffix(prefix, "/"), files: files}
}

func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")

	name := strings.TrimPrefix(r.URL.Path, p.prefix)
	name = strings.TrimPrefix(name, "/")
	if name == "" || name == "index.html" {
		// The page names its assets by content hash; the page itself
		// must be fetched anew so that an upgrade is seen at once.
		h.Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, p.files, "index.html")
		return
	}
	clean := path.Clean(name)
	if clean != name || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	info, err := fs.Stat(p.files, name)
	if err != nil || info.IsDir() {
		http.NotFound(w, r)
		return
	}
	if strings.HasPrefix(name, "assets/") {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	http.ServeFileFS(w, r, p.files, name)
}
