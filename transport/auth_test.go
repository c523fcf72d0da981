package transport

import (
	"net/http"
	"strconv"
	"testing"
)

// guardedRoute is one request to a route that serves data.
type guardedRoute struct {
	method, path string
	body         any
}

var guardedRoutes = []guardedRoute{
	{http.MethodPost, MCPPath, initializeBody(legacyVersion)},
	{http.MethodGet, MetricsPath, nil},
	{http.MethodGet, ConsoleEventsPath, nil},
}

func guardedConfig() HTTPConfig {
	return HTTPConfig{Keys: testKeys, Metrics: fakeMetrics, ConsoleEvents: consoleStub("events"), ConsolePage: consoleStub("page")}
}

// TestHTTPOneGuard: /mcp, /metrics and /console/events pass the same
// checks, in the same order: the Origin check, the key, and one rate limit
// bucket per key that all three draw from.
func TestHTTPOneGuard(t *testing.T) {
	cfg := guardedConfig()
	clk := newFakeClock()
	cfg.RateLimitPerMinute, cfg.now = len(guardedRoutes), clk.now
	ts := startHTTP(t, cfg)

	for _, rt := range guardedRoutes {
		for name, h := range map[string]map[string]string{"no key": nil, "wrong key": bearer("wrong-key-0123456789abcdef")} {
			r := do(t, rt.method, ts.base+rt.path, h, rt.body)
			if code, _ := apiError(t, r); r.status != http.StatusUnauthorized || code != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s, %s: %d %s", rt.method, rt.path, name, r.status, r.body)
			}
		}
		h := bearer(writeKey)
		h["Origin"] = "https://evil.example.com"
		if r := do(t, rt.method, ts.base+rt.path, h, rt.body); r.status != http.StatusForbidden {
			t.Errorf("%s %s from a foreign origin: %d %s", rt.method, rt.path, r.status, r.body)
		}
	}
	// Refused requests took no token; each route takes one from the key's
	// bucket, which holds one per route.
	for i, rt := range guardedRoutes {
		r := do(t, rt.method, ts.base+rt.path, bearer(readKey), rt.body)
		if r.status != http.StatusOK {
			t.Fatalf("%s %s with a key: %d %s", rt.method, rt.path, r.status, r.body)
		}
		if got, want := r.header.Get(headerRateRemaining), len(guardedRoutes)-1-i; got != strconv.Itoa(want) {
			t.Errorf("%s %s: %s = %s, want %d", rt.method, rt.path, headerRateRemaining, got, want)
		}
	}
	for _, rt := range guardedRoutes {
		r := do(t, rt.method, ts.base+rt.path, bearer(readKey), rt.body)
		if code, _ := apiError(t, r); r.status != http.StatusTooManyRequests || code != "rate_limit_exceeded" || r.header.Get(headerRetryAfter) == "" {
			t.Errorf("%s %s after the bucket is empty: %d %s", rt.method, rt.path, r.status, r.body)
		}
	}
	// The other key has a bucket of its own.
	if r := do(t, http.MethodGet, ts.base+MetricsPath, bearer(writeKey), nil); r.status != http.StatusOK {
		t.Errorf("another key: %d", r.status)
	}
	// The public routes pass no guard.
	for _, path := range []string{HealthzPath, ConsolePath} {
		if r := do(t, http.MethodGet, ts.base+path, nil, nil); r.status != http.StatusOK {
			t.Errorf("GET %s without a key: %d", path, r.status)
		}
	}
}

// TestServeMetricsRateLimited: the metrics listener of its own has the
// guard's rate limit too.
func TestServeMetricsRateLimited(t *testing.T) {
	clk := newFakeClock()
	base, stop := startMetrics(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: 1, now: clk.now})
	t.Cleanup(stop)
	if r := do(t, http.MethodGet, base+MetricsPath, bearer(readKey), nil); r.status != http.StatusOK {
		t.Fatalf("first scrape: %d", r.status)
	}
	if r := do(t, http.MethodGet, base+MetricsPath, bearer(readKey), nil); r.status != http.StatusTooManyRequests {
		t.Errorf("second scrape in a minute with a limit of 1: %d", r.status)
	}
	if r := do(t, http.MethodGet, base+MetricsPath, map[string]string{"Authorization": "Bearer " + readKey, "Origin": "https://evil.example.com"}, nil); r.status != http.StatusForbidden {
		t.Errorf("scrape from a foreign origin: %d", r.status)
	}
}
