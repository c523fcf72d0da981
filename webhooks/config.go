package webhooks

import (
	"context"
	"net/http"
	"time"
)

// Config tunes a Dispatcher. Zero (or negative) values take the defaults.
type Config struct {
	// DefaultSecret (VOICEDOCK_WEBHOOK_SECRET) signs the deliveries with
	// no AssistantID; empty sends them unsigned.
	DefaultSecret string
	// MaxAge is how long a delivery is retried: one whose next attempt
	// would fall later than this after its creation is dead. Default 24h.
	MaxAge time.Duration
	// Concurrency bounds the deliveries in flight at once (one per call
	// at a time, so that a call's events arrive in order). Default 32.
	Concurrency int
	// Timeout bounds one attempt: the secret's look-up, the request and
	// reading the response. Default 10s.
	Timeout time.Duration
	// BackoffBase and BackoffMax shape the wait before a retry: a random
	// time up to BackoffBase * 2^(attempts-1), at most BackoffMax.
	// Defaults 1s and 10m.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// UserAgent is sent as User-Agent. Default "voicedock-webhooks".
	UserAgent string
	// Client's Transport sends the deliveries (nil: a client of its
	// own); redirects are never followed, and the attempt's Timeout
	// bounds each. RequestAssistant uses the client, whose redirect
	// policy is replaced likewise.
	Client *http.Client
	// OnAttempt, when set, is told the outcome of every recorded attempt:
	// the delivery's new status (core.DeliveryDelivered, DeliveryDead,
	// or DeliveryPending for a retry). Metrics count them.
	OnAttempt func(status string)
}

// SecretSource returns the webhook secret of the assistant with the given
// id, "" when it has none (its deliveries are then sent unsigned). An
// error with core.CodeNotFound makes the delivery dead (there is no
// secret to sign it with any more); any other error is retried.
type SecretSource func(ctx context.Context, assistantID string) (string, error)

// Defaults.
const (
	DefaultMaxAge      = 24 * time.Hour
	DefaultConcurrency = 256
	DefaultTimeout     = 10 * time.Second
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 10 * time.Minute
	DefaultUserAgent   = "voicedock-webhooks"
)

// withDefaults returns c with its zero values replaced by the defaults.
func (c Config) withDefaults() Config {
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	c.BackoffMax = max(c.BackoffMax, c.BackoffBase)
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// httpClient returns the client to send with: c.Client's settings, or a
// client of its own, that never follows a redirect.
func (c Config) httpClient() *http.Client {
	client := &http.Client{Transport: c.transport()}
	if c.Client != nil {
		copied := *c.Client
		client = &copied
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return client
}

// idleConnTimeout is how long a receiver's unused connection is kept.
const idleConnTimeout = 90 * time.Second

// transport is the dispatcher's own HTTP transport: http.DefaultTransport
// keeps 2 idle connections per host, so with more deliveries in flight to
// one receiver (the usual case: one backend's URL) most requests opened a
// new TCP (and TLS) connection and closed it after. This one keeps as many
// idle connections per receiver as deliveries may be in flight, so each is
// reused.
func (c Config) transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = c.Concurrency
	t.MaxIdleConns = max(t.MaxIdleConns, 4*c.Concurrency)
	t.IdleConnTimeout = idleConnTimeout
	return t
}
