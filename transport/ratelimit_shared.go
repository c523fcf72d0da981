package transport

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// SharedRateLimit keeps the rate limit's buckets of API keys where the
// servers of one deployment share them (its nodes on PostgreSQL), so that
// a key's budget is the deployment's, not each node's. A bucket is the
// token bucket described at rateLimiter.
type SharedRateLimit interface {
	// TakeToken takes a token from client's bucket, which holds at most
	// limit tokens, refills at limit tokens per window and starts full;
	// it returns the tokens left after the request, and whether one was
	// taken (none is when less than one was there).
	TakeToken(ctx context.Context, client string, limit int, window time.Duration) (left float64, taken bool, err error)
}

// sharedRateTimeout bounds asking the shared buckets: a request is not
// held up longer by a slow database; it is counted by this server alone.
const sharedRateTimeout = time.Second

// sharedRate is the part of the limiter that asks the shared buckets.
type sharedRate struct {
	store  SharedRateLimit
	logger *slog.Logger
	// warned is when a failure was last logged (Unix seconds), so that
	// an unreachable database is one line a minute, not one per request.
	warned atomic.Int64
}

// allowRequest is allow for a request: an API key's token comes from the
// shared bucket when there is one; anonymous (loopback) clients, and any
// client while the shared buckets cannot be reached, draw from this
// server's own.
func (rl *rateLimiter) allowRequest(ctx context.Context, client string) rateDecision {
	if rl.shared == nil || !strings.HasPrefix(client, "key:") {
		return rl.allow(client)
	}
	ctx, cancel := context.WithTimeout(ctx, sharedRateTimeout)
	defer cancel()
	left, taken, err := rl.shared.store.TakeToken(ctx, client, rl.limit, rateWindow)
	now := rl.now()
	if err != nil {
		if last := rl.shared.warned.Load(); now.Unix()-last >= int64(rateWindow.Seconds()) && rl.shared.warned.CompareAndSwap(last, now.Unix()) {
			rl.shared.logger.Warn("shared rate limit unavailable; this server counts on its own", "err", err)
		}
		return rl.allow(client)
	}
	d := rateDecision{limit: rl.limit, allowed: taken, remaining: max(0, int(math.Floor(left+1e-9)))}
	d.reset = now.Add(rl.tokensTime(float64(rl.limit) - left))
	if !taken {
		d.retryAfter = rl.tokensTime(1 - left)
	}
	return d
}
