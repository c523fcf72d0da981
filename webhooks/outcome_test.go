package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/voicedock/voicedock/core"
)

func testDispatcher(cfg Config) *Dispatcher { return NewDispatcher(nil, nil, cfg, nil) }

func TestSettleByStatus(t *testing.T) {
	d := testDispatcher(Config{BackoffBase: time.Second, BackoffMax: time.Minute, MaxAge: time.Hour})
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	del := core.WebhookDelivery{ID: "d", Status: core.DeliveryPending, Attempts: 2, CreatedAt: now.Add(-time.Minute),
		NextAttemptAt: now, LastStatus: 503, LastError: "HTTP 503 Service Unavailable"}
	for _, tc := range []struct {
		status int
		want   string
	}{
		{200, core.DeliveryDelivered}, {201, core.DeliveryDelivered}, {202, core.DeliveryDelivered},
		{204, core.DeliveryDelivered},
		{301, core.DeliveryDead}, {302, core.DeliveryDead}, {304, core.DeliveryDead}, {307, core.DeliveryDead},
		{308, core.DeliveryDead},
		{400, core.DeliveryDead}, {401, core.DeliveryDead}, {403, core.DeliveryDead}, {404, core.DeliveryDead},
		{405, core.DeliveryDead}, {410, core.DeliveryDead}, {413, core.DeliveryDead}, {422, core.DeliveryDead},
		{408, core.DeliveryPending}, {429, core.DeliveryPending}, {500, core.DeliveryPending},
		{502, core.DeliveryPending}, {503, core.DeliveryPending}, {504, core.DeliveryPending},
		{599, core.DeliveryPending},
		{0, core.DeliveryPending}, // no response
	} {
		r := result{status: tc.status}
		if !success(tc.status) {
			r.reason = statusError(tc.status)
		}
		got := d.settle(del, r, now)
		if got.Status != tc.want || got.Attempts != 3 || got.LastStatus != tc.status || !got.UpdatedAt.Equal(now) {
			t.Errorf("%d: %+v, want %s", tc.status, got, tc.want)
		}
		switch tc.want {
		case core.DeliveryDelivered:
			if got.DeliveredAt == nil || !got.DeliveredAt.Equal(now) || got.LastError != "" {
				t.Errorf("%d: delivered %+v", tc.status, got)
			}
		case core.DeliveryPending:
			// The third attempt failed: the next is within base * 2^2.
			if got.NextAttemptAt.Before(now) || got.NextAttemptAt.After(now.Add(4*time.Second)) || got.DeliveredAt != nil {
				t.Errorf("%d: next attempt at %v", tc.status, got.NextAttemptAt)
			}
		case core.DeliveryDead:
			if got.LastError == "" || got.DeliveredAt != nil {
				t.Errorf("%d: dead %+v", tc.status, got)
			}
		}
	}
	if got := d.settle(del, result{reason: "no secret", final: true}, now); got.Status != core.DeliveryDead {
		t.Errorf("a final failure: %+v", got)
	}
}

func TestSettleMaxAge(t *testing.T) {
	d := testDispatcher(Config{BackoffBase: time.Second, BackoffMax: 10 * time.Second, MaxAge: time.Hour})
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	fail := result{status: 500, reason: "HTTP 500 Internal Server Error"}
	// Any retry would be past the age limit.
	old := core.WebhookDelivery{ID: "old", CreatedAt: now.Add(-time.Hour), Attempts: 40}
	got := d.settle(old, fail, now)
	if got.Status != core.DeliveryDead || !strings.HasPrefix(got.LastError, fail.reason+"; given up after 41 attempts") {
		t.Errorf("old: %+v", got)
	}
	// A delivery never tried, written long ago (the server was down),
	// still gets its attempt: settle is only called after one.
	young := core.WebhookDelivery{ID: "young", CreatedAt: now.Add(-time.Minute)}
	if got := d.settle(young, fail, now); got.Status != core.DeliveryPending {
		t.Errorf("young: %+v", got)
	}
	// A Retry-After that reaches past the limit gives up too.
	edge := core.WebhookDelivery{ID: "edge", CreatedAt: now.Add(-time.Hour + 5*time.Second)}
	if got := d.settle(edge, result{status: 429, retryAfter: 8 * time.Second, hasRetryAfter: true}, now); got.Status != core.DeliveryDead {
		t.Errorf("edge: %+v", got)
	}
}

func TestSettleRetryAfter(t *testing.T) {
	d := testDispatcher(Config{BackoffBase: time.Millisecond, BackoffMax: time.Minute})
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	del := core.WebhookDelivery{ID: "d", CreatedAt: now}
	for _, tc := range []struct {
		after time.Duration
		want  time.Duration
	}{
		{30 * time.Second, 30 * time.Second},
		{time.Hour, time.Minute}, // capped at BackoffMax
	} {
		got := d.settle(del, result{status: 503, retryAfter: tc.after, hasRetryAfter: true}, now)
		if got.Status != core.DeliveryPending || !got.NextAttemptAt.Equal(now.Add(tc.want)) {
			t.Errorf("Retry-After %v: next attempt %v, want %v", tc.after, got.NextAttemptAt.Sub(now), tc.want)
		}
	}
	// Retry-After: 0 does not cut the backoff short.
	d = testDispatcher(Config{BackoffBase: time.Second, BackoffMax: time.Second})
	for range 50 {
		got := d.settle(del, result{status: 503, hasRetryAfter: true}, now)
		if got.NextAttemptAt.Before(now) || got.NextAttemptAt.After(now.Add(time.Second)) {
			t.Fatalf("next attempt %v", got.NextAttemptAt.Sub(now))
		}
	}
}

func TestBackoffFullJitter(t *testing.T) {
	d := testDispatcher(Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	for attempts, window := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond,
		5: time.Second, 6: time.Second, 1000: time.Second,
	} {
		var lo, hi time.Duration = window, 0
		for range 2000 {
			w := d.backoff(attempts)
			if w < 0 || w > window {
				t.Fatalf("attempts %d: %v outside [0, %v]", attempts, w, window)
			}
			lo, hi = min(lo, w), max(hi, w)
		}
		// Full jitter spreads over the whole window.
		if lo > window/10 || hi < window*9/10 {
			t.Errorf("attempts %d: waits between %v and %v, window %v", attempts, lo, hi, window)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 7 ", 7 * time.Second, true},
		{"99999999999999999999", 1 << 32 * time.Second, false}, // too large to read
		{"4294967296000", 1 << 32 * time.Second, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Mon, 05 Jan 2026 09:00:30 GMT", 30 * time.Second, true},
		{"Monday, 05-Jan-26 09:00:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Mon Jan  5 09:00:30 2026", 30 * time.Second, true},       // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},     // past: now
	} {
		got, ok := parseRetryAfter(tc.header, now)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Retry-After %q: %v %v, want %v %v", tc.header, got, ok, tc.want, tc.ok)
		}
	}
}

func TestErrorTextsHoldNoURLAndAreBounded(t *testing.T) {
	secretURL := "https://user:hunter2@hooks.example.com/in?token=s3cr3t"
	err := &url.Error{Op: "Post", URL: secretURL, Err: errors.New("dial tcp 192.0.2.1:443: connect: connection refused")}
	if got := requestError(err, time.Second); strings.Contains(got, "hunter2") || strings.Contains(got, "s3cr3t") ||
		got != "dial tcp 192.0.2.1:443: connect: connection refused" {
		t.Errorf("requestError: %q", got)
	}
	timeout := &url.Error{Op: "Post", URL: secretURL, Err: fmt.Errorf("wrapped: %w", context.DeadlineExceeded)}
	if got := requestError(timeout, 10*time.Second); got != "no response within 10s" {
		t.Errorf("timeout: %q", got)
	}
	if got := redact(secretURL); got != "https://hooks.example.com/in" {
		t.Errorf("redact: %q", got)
	}
	long := strings.Repeat("é", 500)
	got := bound(long)
	if len(got) > maxReason || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("bound: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if bound("short") != "short" {
		t.Error("bound changed a short text")
	}
	if got := statusError(418); got != "HTTP 418 I'm a teapot" {
		t.Errorf("statusError: %q", got)
	}
	if got := statusError(599); got != "HTTP 599" {
		t.Errorf("statusError: %q", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.MaxAge != 24*time.Hour || c.Concurrency != DefaultConcurrency || DefaultConcurrency != 256 || c.Timeout != 10*time.Second ||
		c.BackoffBase != time.Second || c.BackoffMax != 10*time.Minute || c.UserAgent == "" {
		t.Errorf("defaults %+v", c)
	}
	if c := (Config{BackoffBase: time.Hour}).withDefaults(); c.BackoffMax != time.Hour {
		t.Errorf("BackoffMax %v below BackoffBase", c.BackoffMax)
	}
	// The caller's client keeps its settings but never follows redirects.
	orig := &http.Client{Timeout: time.Minute}
	client := Config{Client: orig}.httpClient()
	if client == orig || client.Timeout != time.Minute || client.CheckRedirect == nil || orig.CheckRedirect != nil {
		t.Errorf("client %+v", client)
	}
}
