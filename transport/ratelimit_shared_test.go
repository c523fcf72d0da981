package transport

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingBuckets is a SharedRateLimit that never refills: enough to see
// whose buckets a server draws from.
type countingBuckets struct {
	mu    sync.Mutex
	taken map[string]int
	fail  bool
}

func (b *countingBuckets) TakeToken(_ context.Context, client string, limit int, _ time.Duration) (float64, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return 0, false, errors.New("database unreachable")
	}
	if b.taken[client] >= limit {
		return 0, false, nil
	}
	b.taken[client]++
	return float64(limit - b.taken[client]), true, nil
}

// TestHTTPRateLimitShared: two servers given the same shared buckets
// count a key's requests together; anonymous clients are each server's
// own; when the shared buckets fail, each server counts on its own.
func TestHTTPRateLimitShared(t *testing.T) {
	shared := &countingBuckets{taken: map[string]int{}}
	clk := newFakeClock()
	start := clk.now()
	one := startHTTP(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: 3, SharedRateLimit: shared, now: clk.now})
	two := startHTTP(t, HTTPConfig{Keys: testKeys, RateLimitPerMinute: 3, SharedRateLimit: shared, now: clk.now})
	auth := bearer(writeKey)
	for i, ts := range []*testServer{one, two, one} {
		r := do(t, http.MethodPost, ts.url, auth, initializeBody(legacyVersion))
		if r.status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
		}
		wantRate(t, "shared", r, 3, 2-i, time.Duration(i+1)*20*time.Second, start)
	}
	r := do(t, http.MethodPost, two.url, auth, initializeBody(legacyVersion))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "20" {
		t.Fatalf("the key's fourth request, on the other server: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}

	// The shared buckets fail: the key is counted by each server alone,
	// and the server says so once.
	shared.mu.Lock()
	shared.fail = true
	shared.mu.Unlock()
	for range 2 {
		if r := do(t, http.MethodPost, two.url, auth, initializeBody(legacyVersion)); r.status != http.StatusOK {
			t.Fatalf("with the shared buckets down: %d %s", r.status, r.body)
		}
	}
	if n := strings.Count(two.logs.String(), "shared rate limit unavailable"); n != 1 {
		t.Errorf("the failure logged %d times, want once", n)
	}

	// Anonymous (loopback) use never asks the shared buckets.
	shared.mu.Lock()
	shared.fail = false
	shared.mu.Unlock()
	open := startHTTP(t, HTTPConfig{RateLimitPerMinute: 3, SharedRateLimit: shared, now: clk.now})
	if r := do(t, http.MethodPost, open.url, nil, initializeBody(legacyVersion)); r.status != http.StatusOK {
		t.Fatalf("anonymous: %d %s", r.status, r.body)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for client := range shared.taken {
		if !strings.HasPrefix(client, "key:") {
			t.Errorf("the shared buckets were asked for %s", client)
		}
	}
}
