package webhooks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/voicedock/voicedock/core"
)

// maxReason bounds LastError, in bytes.
const maxReason = 256

// settle returns del after the attempt that came to r at now: delivered,
// dead, or pending with its next attempt scheduled.
func (d *Dispatcher) settle(del core.WebhookDelivery, r result, now time.Time) core.WebhookDelivery {
	del.Attempts++
	del.UpdatedAt, del.NextAttemptAt = now, now
	del.LastStatus, del.LastError = r.status, r.reason
	switch {
	case success(r.status):
		del.Status, del.DeliveredAt, del.LastError = core.DeliveryDelivered, &now, ""
	case r.final || !retryable(r.status):
		del.Status = core.DeliveryDead
	default:
		wait := d.backoff(del.Attempts)
		if r.hasRetryAfter {
			wait = max(wait, min(r.retryAfter, d.cfg.BackoffMax))
		}
		next := now.Add(wait)
		if next.After(del.CreatedAt.Add(d.cfg.MaxAge)) {
			del.Status = core.DeliveryDead
			del.LastError = bound(fmt.Sprintf("%s; given up after %d attempts: older than %s",
				r.reason, del.Attempts, d.cfg.MaxAge))
			break
		}
		del.Status, del.NextAttemptAt = core.DeliveryPending, next
	}
	return del
}

// backoff is the wait before the next attempt after the given number of
// attempts, with full jitter: uniformly random between zero and
// BackoffBase * 2^(attempts-1), at most BackoffMax.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	window := d.cfg.BackoffBase
	for i := 1; i < attempts && window < d.cfg.BackoffMax; i++ {
		window *= 2
	}
	window = min(window, d.cfg.BackoffMax)
	return time.Duration(rand.Int64N(int64(window) + 1))
}

func success(status int) bool { return status >= 200 && status < 300 }

// retryable reports whether an attempt that came to status (0: no
// response) may succeed if made again.
func retryable(status int) bool {
	return status == 0 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests ||
		status >= 500
}

// parseRetryAfter reads a Retry-After header: a number of seconds or an
// HTTP date. It reports false when there is none or it is unreadable; a
// date in the past is zero.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 63); err == nil {
		const maxSecs = uint64(1 << 32) // far past any cap, far from overflowing
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// statusError is LastError for a response that is not a 2xx.
func statusError(status int) string {
	s := "HTTP " + strconv.Itoa(status)
	if text := http.StatusText(status); text != "" {
		s += " " + text
	}
	if status >= 300 && status < 400 {
		s += ": redirects are not followed"
	}
	return s
}

// requestError is LastError for a request that got no response. The URL
// (which may carry credentials) is left out.
func requestError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "no response within " + timeout.String()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return bound(err.Error())
}

// bound cuts s to at most maxReason bytes, on a character boundary.
func bound(s string) string {
	if len(s) <= maxReason {
		return s
	}
	const ellipsis = "..."
	cut := maxReason - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
