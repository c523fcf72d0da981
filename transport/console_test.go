package transport

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// consoleStub stands in for the console's handlers: it answers with the
// path it was asked for and the caller the transport set.
func consoleStub(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "none"
		if c, ok := CallerFrom(r.Context()); ok {
			who = c.KeyName
		}
		_, _ = io.WriteString(w, name+" "+r.URL.Path+" "+who)
	})
}

func TestHTTPConsoleRoutes(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{
		Keys:          testKeys,
		ConsolePage:   consoleStub("page"),
		ConsoleEvents: consoleStub("events"),
	})

	// The page and its assets need no key: they hold no data.
	for _, path := range []string{ConsolePath, ConsolePath + "/", ConsolePath + "/assets/x.js"} {
		r := do(t, http.MethodGet, ts.base+path, nil, nil)
		if r.status != http.StatusOK || string(r.body) != "page "+path+" none" {
			t.Errorf("GET %s = %d %q", path, r.status, r.body)
		}
	}
	if r := do(t, http.MethodPost, ts.base+ConsolePath, nil, "x"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST %s = %d", ConsolePath, r.status)
	}
	if r := do(t, http.MethodGet, ts.base+"/consoles", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("GET /consoles = %d", r.status)
	}

	// The event stream takes the key, as /mcp does.
	for _, h := range []map[string]string{nil, bearer("wrong-key-0123456789abcdef")} {
		r := do(t, http.MethodGet, ts.base+ConsoleEventsPath, h, nil)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("events without a valid key = %d %q", r.status, r.body)
		}
	}
	for key, name := range map[string]string{writeKey: "ops", readKey: "viewer"} {
		r := do(t, http.MethodGet, ts.base+ConsoleEventsPath, bearer(key), nil)
		if r.status != http.StatusOK || string(r.body) != "events "+ConsoleEventsPath+" "+name {
			t.Errorf("events with %s's key = %d %q", name, r.status, r.body)
		}
	}
	if r := do(t, http.MethodPost, ts.base+ConsoleEventsPath, bearer(writeKey), "x"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST events = %d", r.status)
	}
	// A foreign origin is refused on the console as everywhere.
	if r := do(t, http.MethodGet, ts.base+ConsoleEventsPath, map[string]string{"Authorization": "Bearer " + writeKey, "Origin": "https://evil.example.com"}, nil); r.status != http.StatusForbidden {
		t.Errorf("events from a foreign origin = %d", r.status)
	}
	if strings.Contains(ts.logs.String(), writeKey) {
		t.Error("a key appears in the log")
	}
}

func TestHTTPConsoleOffAndRateLimited(t *testing.T) {
	off := startHTTP(t, HTTPConfig{Keys: testKeys})
	for _, path := range []string{ConsolePath, ConsoleEventsPath} {
		if r := do(t, http.MethodGet, off.base+path, bearer(writeKey), nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s without a console = %d", path, r.status)
		}
	}

	ts := startHTTP(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: 2, ConsoleEvents: consoleStub("events")})
	var last response
	for range 3 {
		last = do(t, http.MethodGet, ts.base+ConsoleEventsPath, bearer(readKey), nil)
	}
	if last.status != http.StatusTooManyRequests {
		t.Errorf("third stream in a minute with a limit of 2 = %d", last.status)
	}
}

func TestHTTPConsoleEventsAnonymousOnLoopback(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{ConsoleEvents: consoleStub("events")})
	r := do(t, http.MethodGet, ts.base+ConsoleEventsPath, nil, nil)
	if r.status != http.StatusOK || string(r.body) != "events "+ConsoleEventsPath+" anonymous" {
		t.Errorf("keyless events on loopback = %d %q", r.status, r.body)
	}
}
