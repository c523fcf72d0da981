package transport

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultRateLimitPerMinute is HTTPConfig.RateLimitPerMinute's default: the
// VoiceDock API's 100 requests per minute per API key.
const DefaultRateLimitPerMinute = 100

// rateWindow is the period the limit is expressed in.
const rateWindow = time.Minute

// maxRateBuckets bounds the limiter's memory whatever the traffic: API keys
// are few, but keyless loopback use is limited per client address.
const maxRateBuckets = 10000

// Rate limit response headers.
const (
	headerRateLimit     = "X-RateLimit-Limit"
	headerRateRemaining = "X-RateLimit-Remaining"
	headerRateReset     = "X-RateLimit-Reset"
	headerRetryAfter    = "Retry-After"
)

// rateLimiter limits requests per client (an API key, or for keyless
// loopback use a client address) with one token bucket each
// (golang.org/x/time/rate):
//
//   - The bucket holds limit tokens and refills at limit tokens per minute,
//     continuously (one token every minute/limit). It starts full.
//   - Each request takes one token; a request finding less than one is
//     refused, and takes none.
//   - X-RateLimit-Limit is limit; X-RateLimit-Remaining the whole tokens
//     left after the request; X-RateLimit-Reset the Unix second (rounded
//     up) at which the bucket is full again if no request comes; and a
//     refused request's Retry-After the seconds (rounded up, at least 1)
//     until the next token.
//
// So a client may burst limit requests, and in any minute gets at most
// about 2*limit (a full bucket plus a minute's refill); sustained, limit.
//
// A bucket not used for a minute is full, the same as a new one: such
// buckets are dropped, in a sweep at most once a minute, so the state is
// bounded by the clients active in the last minute, and never holds more
// than maxEntries (the least recently used bucket goes first).
type rateLimiter struct {
	limit      int
	perSecond  rate.Limit
	now        func() time.Time
	maxEntries int

	mu        sync.Mutex
	buckets   map[string]*rateBucket
	nextSweep time.Time

	// shared, when set, holds the API keys' buckets for every server of
	// the deployment (see allowRequest).
	shared *sharedRate
}

type rateBucket struct {
	lim  *rate.Limiter
	last time.Time // the last request
}

// rateDecision is the answer for one request.
type rateDecision struct {
	allowed    bool
	limit      int
	remaining  int
	reset      time.Time     // when the bucket is full again
	retryAfter time.Duration // until the next token, when refused
}

// newRateLimiter returns a limiter of limit requests per minute per
// client, or nil (no limit) when limit is not positive. now may be nil
// (time.Now).
func newRateLimiter(limit int, now func() time.Time) *rateLimiter {
	if limit <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &rateLimiter{
		limit:      limit,
		perSecond:  rate.Limit(float64(limit) / rateWindow.Seconds()),
		now:        now,
		maxEntries: maxRateBuckets,
		buckets:    map[string]*rateBucket{},
	}
}

// allow takes a token from client's bucket if there is one.
func (rl *rateLimiter) allow(client string) rateDecision {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := rl.now()
	if !now.Before(rl.nextSweep) {
		rl.sweepLocked(now)
	}
	b := rl.buckets[client]
	if b == nil {
		if len(rl.buckets) >= rl.maxEntries {
			rl.sweepLocked(now)
			if len(rl.buckets) >= rl.maxEntries {
				rl.evictOldestLocked()
			}
		}
		b = &rateBucket{lim: rate.NewLimiter(rl.perSecond, rl.limit)}
		rl.buckets[client] = b
	}
	b.last = now
	d := rateDecision{limit: rl.limit, allowed: b.lim.AllowN(now, 1)}
	tokens := b.lim.TokensAt(now)
	// The limiter's float arithmetic may leave 0.9999999 of a token that
	// is really 1, hence the epsilon, and the times are rounded to the
	// millisecond for the same reason.
	d.remaining = max(0, int(math.Floor(tokens+1e-9)))
	d.reset = now.Add(rl.tokensTime(float64(rl.limit) - tokens))
	if !d.allowed {
		d.retryAfter = rl.tokensTime(1 - tokens)
	}
	return d
}

// tokensTime is how long the bucket takes to refill n tokens, to the
// millisecond.
func (rl *rateLimiter) tokensTime(n float64) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(n / float64(rl.perSecond) * float64(time.Second)).Round(time.Millisecond)
}

// sweepLocked drops the buckets that are full again (idle for a window).
func (rl *rateLimiter) sweepLocked(now time.Time) {
	for k, b := range rl.buckets {
		if now.Sub(b.last) >= rateWindow {
			delete(rl.buckets, k)
		}
	}
	rl.nextSweep = now.Add(rateWindow)
}

// evictOldestLocked drops the least recently used bucket.
func (rl *rateLimiter) evictOldestLocked() {
	var oldest string
	var at time.Time
	first := true
	for k, b := range rl.buckets {
		if first || b.last.Before(at) {
			oldest, at, first = k, b.last, false
		}
	}
	delete(rl.buckets, oldest)
}

// size is the number of buckets held.
func (rl *rateLimiter) size() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.buckets)
}

// setHeaders puts the X-RateLimit-* headers (and Retry-After when
// refused) on the response.
func (d rateDecision) setHeaders(h http.Header) {
	h.Set(headerRateLimit, strconv.Itoa(d.limit))
	h.Set(headerRateRemaining, strconv.Itoa(d.remaining))
	h.Set(headerRateReset, strconv.FormatInt(ceilUnix(d.reset), 10))
	if !d.allowed {
		h.Set(headerRetryAfter, strconv.Itoa(d.retryAfterSeconds()))
	}
}

// retryAfterSeconds is Retry-After: whole seconds, rounded up, at least 1.
func (d rateDecision) retryAfterSeconds() int {
	return max(1, int(math.Ceil(d.retryAfter.Seconds())))
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
