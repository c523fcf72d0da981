package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/voicedock/voicedock/console"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

var assetRef = regexp.MustCompile(`(?:src|href)="(/console/assets/[^"]+)"`)

// TestPageServesTheEmbeddedBuild checks the committed build is what the
// binary serves: the page, every asset it names, and nothing else.
func TestPageServesTheEmbeddedBuild(t *testing.T) {
	page := console.NewPage("/console")
	for _, path := range []string{"/console", "/console/"} {
		res, body := get(t, page, path)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `<div id="app">`) {
			t.Fatalf("GET %s = %d %.200s", path, res.StatusCode, body)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s Content-Type %q", path, ct)
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("CSP %q allows unsafe sources", csp)
		}
		if res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s headers %v", path, res.Header)
		}
	}

	_, index := get(t, page, "/console")
	refs := assetRef.FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("the page names %d assets, want its script and stylesheet: %s", len(refs), index)
	}
	for _, ref := range refs {
		res, body := get(t, page, ref[1])
		if res.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d", ref[1], res.StatusCode)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s Cache-Control %q", ref[1], cc)
		}
	}

	for _, path := range []string{"/console/assets", "/console/assets/", "/console/nope.js", "/console/../console/index.html", "/console/assets/../index.html"} {
		if res, _ := get(t, page, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, res.StatusCode)
		}
	}
}
