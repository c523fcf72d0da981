package transport

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// fakeClock is the rate limiter's clock in tests: time moves only when a
// test says so, so nothing waits for a minute to pass.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wantRate checks a response's rate limit headers; reset is relative to
// the clock's start.
func wantRate(t *testing.T, what string, r response, limit, remaining int, reset time.Duration, start time.Time) {
	t.Helper()
	h := r.header
	want := map[string]string{
		headerRateLimit:     strconv.Itoa(limit),
		headerRateRemaining: strconv.Itoa(remaining),
		headerRateReset:     strconv.FormatInt(ceilUnix(start.Add(reset)), 10),
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q (status %d)", what, k, got, v, r.status)
		}
	}
}

func TestRateLimiterBucket(t *testing.T) {
	clk := newFakeClock()
	start := clk.now()
	rl := newRateLimiter(3, clk.now)
	// A full bucket of 3, one token back every 20 s.
	for i, wantReset := range []time.Duration{20 * time.Second, 40 * time.Second, time.Minute} {
		d := rl.allow("a")
		if !d.allowed || d.limit != 3 || d.remaining != 2-i || !d.reset.Equal(start.Add(wantReset)) {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	d := rl.allow("a")
	if d.allowed || d.remaining != 0 || d.retryAfter != 20*time.Second || d.retryAfterSeconds() != 20 || !d.reset.Equal(start.Add(time.Minute)) {
		t.Fatalf("fourth request: %+v", d)
	}
	clk.advance(15 * time.Second)
	if d := rl.allow("a"); d.allowed || d.retryAfterSeconds() != 5 {
		t.Fatalf("15 s later: %+v", d)
	}
	clk.advance(5 * time.Second)
	if d := rl.allow("a"); !d.allowed || d.remaining != 0 || !d.reset.Equal(clk.now().Add(time.Minute)) {
		t.Fatalf("20 s later: %+v", d)
	}
	// Another client has its own bucket.
	if d := rl.allow("b"); !d.allowed || d.remaining != 2 {
		t.Fatalf("client b: %+v", d)
	}

	// Headers: Retry-After only on a refusal, in whole seconds, at least 1.
	h := http.Header{}
	rateDecision{allowed: false, limit: 100, reset: start.Add(600 * time.Millisecond), retryAfter: 200 * time.Millisecond}.setHeaders(h)
	if h.Get(headerRetryAfter) != "1" || h.Get(headerRateReset) != strconv.FormatInt(start.Unix()+1, 10) || h.Get(headerRateRemaining) != "0" {
		t.Errorf("refusal headers: %v", h)
	}
	h = http.Header{}
	rateDecision{allowed: true, limit: 100, remaining: 99, reset: start}.setHeaders(h)
	if h.Get(headerRetryAfter) != "" || h.Get(headerRateRemaining) != "99" || h.Get(headerRateReset) != strconv.FormatInt(start.Unix(), 10) {
		t.Errorf("allowed headers: %v", h)
	}

	if newRateLimiter(0, nil) != nil || newRateLimiter(-1, nil) != nil {
		t.Error("a limit of 0 or less must mean no limiter")
	}
}

// TestRateLimiterEviction: a bucket idle for a minute is full again, so it
// is dropped; the sweep runs at most once a minute; and the table never
// grows past maxEntries.
func TestRateLimiterEviction(t *testing.T) {
	clk := newFakeClock()
	rl := newRateLimiter(2, clk.now)
	rl.allow("a") // the first call sweeps and schedules the next sweep
	clk.advance(30 * time.Second)
	rl.allow("b")
	if n := rl.size(); n != 2 {
		t.Fatalf("size %d, want 2", n)
	}
	clk.advance(30 * time.Second) // a idle for 60 s, b for 30 s
	rl.allow("c")
	if n := rl.size(); n != 2 || rl.buckets["a"] != nil {
		t.Fatalf("after a minute: %d buckets, a kept: %v", n, rl.buckets["a"] != nil)
	}
	clk.advance(59 * time.Second) // before the next sweep: nothing dropped
	rl.allow("d")
	if n := rl.size(); n != 3 {
		t.Fatalf("between sweeps: size %d, want 3", n)
	}
	clk.advance(2 * time.Minute)
	rl.allow("e")
	if n := rl.size(); n != 1 {
		t.Fatalf("after everyone went idle: size %d, want 1", n)
	}
	// A dropped bucket comes back full, as it would have refilled anyway.
	if d := rl.allow("a"); !d.allowed || d.remaining != 1 {
		t.Fatalf("a after eviction: %+v", d)
	}

	// The cap: the least recently used bucket makes room.
	rl = newRateLimiter(2, clk.now)
	rl.maxEntries = 3
	for _, k := range []string{"x1", "x2", "x3"} {
		rl.allow(k)
		clk.advance(time.Second)
	}
	rl.allow("x1") // x1 is now the most recent
	clk.advance(time.Second)
	rl.allow("x4")
	rl.mu.Lock()
	_, x1 := rl.buckets["x1"]
	_, x2 := rl.buckets["x2"]
	n := len(rl.buckets)
	rl.mu.Unlock()
	if n != 3 || !x1 || x2 {
		t.Fatalf("at the cap: %d buckets, x1 kept %v, x2 kept %v; want 3, x2 evicted", n, x1, x2)
	}
}

// TestHTTPRateLimit: headers on every answer of /mcp, the refusal after
// the limit with Retry-After and the reference's body, one bucket per key,
// and the refill; /healthz and refused keys are not counted.
func TestHTTPRateLimit(t *testing.T) {
	clk := newFakeClock()
	start := clk.now()
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: 3, now: clk.now})
	auth := bearer(writeKey)

	r := do(t, http.MethodPost, ts.url, auth, initializeBody(legacyVersion))
	if r.status != http.StatusOK {
		t.Fatalf("initialize: %d %s", r.status, r.body)
	}
	wantRate(t, "initialize", r, 3, 2, 20*time.Second, start)
	h := sessionHeaders(auth, r.header.Get("Mcp-Session-Id"))
	r = do(t, http.MethodPost, ts.url, h, rpc(0, "notifications/initialized", nil))
	if r.status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", r.status, r.body)
	}
	wantRate(t, "initialized", r, 3, 1, 40*time.Second, start)
	r = do(t, http.MethodPost, ts.url, h, rpc(2, "tools/list", nil))
	if r.status != http.StatusOK {
		t.Fatalf("tools/list: %d %s", r.status, r.body)
	}
	wantRate(t, "tools/list", r, 3, 0, time.Minute, start)

	r = do(t, http.MethodPost, ts.url, h, rpc(3, "tools/list", nil))
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("fourth request: %d %s", r.status, r.body)
	}
	wantRate(t, "429", r, 3, 0, time.Minute, start)
	if ra := r.header.Get("Retry-After"); ra != "20" {
		t.Errorf("Retry-After = %q, want 20", ra)
	}
	if code, msg := apiError(t, r); code != "rate_limit_exceeded" || msg != "Too many requests. Please retry after 20 seconds." {
		t.Errorf("429 body: %s", r.body)
	}

	// Other keys have their own bucket; wrong keys and /healthz use none.
	r = do(t, http.MethodPost, ts.url, bearer(readKey), initializeBody(legacyVersion))
	if r.status != http.StatusOK {
		t.Fatalf("read key: %d %s", r.status, r.body)
	}
	wantRate(t, "read key", r, 3, 2, 20*time.Second, start)
	for range 5 {
		r = do(t, http.MethodPost, ts.url, bearer("wrong-key-0123456789abcdef"), initializeBody(legacyVersion))
		if r.status != http.StatusUnauthorized || r.header.Get(headerRateLimit) != "" {
			t.Fatalf("wrong key: %d, X-RateLimit-Limit %q", r.status, r.header.Get(headerRateLimit))
		}
		r = do(t, http.MethodGet, ts.base+HealthzPath, nil, nil)
		if r.status != http.StatusOK || r.header.Get(headerRateLimit) != "" {
			t.Fatalf("healthz: %d, X-RateLimit-Limit %q", r.status, r.header.Get(headerRateLimit))
		}
	}

	clk.advance(20 * time.Second)
	r = do(t, http.MethodPost, ts.url, h, rpc(4, "tools/list", nil))
	if r.status != http.StatusOK {
		t.Fatalf("20 s later: %d %s", r.status, r.body)
	}
	wantRate(t, "20 s later", r, 3, 0, 80*time.Second, start)
}

// TestHTTPRateLimit101st: with the default limit, 100 requests in a minute
// pass and the 101st is refused.
func TestHTTPRateLimit101st(t *testing.T) {
	clk := newFakeClock()
	start := clk.now()
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, now: clk.now})
	auth := bearer(writeKey)
	id := openSession(t, ts.url, auth) // requests 1 and 2
	h := sessionHeaders(auth, id)
	for i := 3; i <= 100; i++ {
		r := do(t, http.MethodPost, ts.url, h, rpc(i, "tools/list", nil))
		if r.status != http.StatusOK || r.header.Get(headerRateRemaining) != strconv.Itoa(100-i) {
			t.Fatalf("request %d: %d, remaining %q", i, r.status, r.header.Get(headerRateRemaining))
		}
	}
	r := do(t, http.MethodPost, ts.url, h, rpc(101, "tools/list", nil))
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("request 101: %d %s", r.status, r.body)
	}
	// 100 a minute is a token every 0.6 s: retry after 1 s; full in 60 s.
	wantRate(t, "request 101", r, 100, 0, time.Minute, start)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	if code, msg := apiError(t, r); code != "rate_limit_exceeded" || msg != "Too many requests. Please retry after 1 seconds." {
		t.Errorf("429 body: %s", r.body)
	}
}

// TestHTTPRateLimitClient: an mcp-go client sees the refusal as an error
// naming the 429 and the code.
func TestHTTPRateLimitClient(t *testing.T) {
	clk := newFakeClock()
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: 5, now: clk.now})
	c, _, err := newHTTPClient(t, ts.url, writeKey, legacyVersion)
	if err != nil {
		t.Fatal(err)
	}
	var callErr error
	for range 6 {
		req := mcp.CallToolRequest{}
		req.Params.Name = "echo"
		req.Params.Arguments = map[string]any{"message": "x"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, callErr = c.CallTool(ctx, req)
		cancel()
		if callErr != nil {
			break
		}
	}
	if callErr == nil || !strings.Contains(callErr.Error(), "429") || !strings.Contains(callErr.Error(), "rate_limit_exceeded") {
		t.Fatalf("call over the limit: %v", callErr)
	}
	clk.advance(12 * time.Second) // one token
	if msg, _ := callEcho(t, c, "again"); msg != "again" {
		t.Errorf("after the refill: %q", msg)
	}
}

// TestHTTPRateLimitStreamCountsOnce: a GET stream is one request, counted
// when it opens, and carries the headers.
func TestHTTPRateLimitStreamCountsOnce(t *testing.T) {
	clk := newFakeClock()
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: 5, now: clk.now})
	auth := bearer(writeKey)
	h := sessionHeaders(auth, openSession(t, ts.url, auth)) // 2 used

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(headerRateRemaining) != "2" || resp.Header.Get(headerRateLimit) != "5" {
		t.Fatalf("GET stream: %d, headers %v", resp.StatusCode, resp.Header)
	}
	r := do(t, http.MethodPost, ts.url, h, rpc(2, "tools/list", nil))
	if r.status != http.StatusOK || r.header.Get(headerRateRemaining) != "1" {
		t.Fatalf("POST beside the open stream: %d, remaining %q", r.status, r.header.Get(headerRateRemaining))
	}
}

// TestHTTPRateLimitAnonymousPerAddress: without keys every client address
// has its own bucket.
func TestHTTPRateLimitAnonymousPerAddress(t *testing.T) {
	clk := newFakeClock()
	ts := startHTTP(t, HTTPConfig{RateLimitPerMinute: 2, now: clk.now})
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		r := do(t, http.MethodPost, ts.url, nil, initializeBody(legacyVersion))
		if r.status != want {
			t.Fatalf("request %d from 127.0.0.1: %d %s", i+1, r.status, r.body)
		}
	}
	// Another loopback address is another client.
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
	}).DialContext}}
	defer other.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, ts.url, strings.NewReader(initializeBody(legacyVersion)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := other.Do(req)
	if err != nil {
		t.Skipf("cannot send from 127.0.0.2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(headerRateRemaining) != "1" {
		t.Fatalf("from 127.0.0.2: %d, remaining %q", resp.StatusCode, resp.Header.Get(headerRateRemaining))
	}
}

func TestHTTPRateLimitOff(t *testing.T) {
	ts := startHTTP(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: -1})
	for i := range 120 {
		r := do(t, http.MethodPost, ts.url, bearer(writeKey), initializeBody(legacyVersion))
		if r.status != http.StatusOK || r.header.Get(headerRateLimit) != "" {
			t.Fatalf("request %d: %d, X-RateLimit-Limit %q", i+1, r.status, r.header.Get(headerRateLimit))
		}
	}
}
