package transport

import (
	"context"
	"net/http"
	"time"

	"github.com/voicedock/voicedock/oauth"
)

// Paths served by the HTTP handler.
const (
	MCPPath     = "/mcp"
	HealthzPath = "/healthz"
	// MetricsPath is where the Prometheus metrics are served.
	MetricsPath = "/metrics"
	// ConsolePath is the web console's page; its assets are below it.
	ConsolePath = "/console"
	// ConsoleEventsPath is the console's event stream.
	ConsoleEventsPath = "/console/events"
)

// Defaults for HTTPConfig's zero values.
const (
	DefaultMaxBodyBytes   int64 = 1 << 20
	DefaultSessionIdleTTL       = time.Hour
)

// HTTPConfig configures the streamable HTTP transport.
type HTTPConfig struct {
	// Addr is the listen address, e.g. 127.0.0.1:8080 (port 0 picks one).
	Addr string
	// Keys are the accepted bearer keys. Empty, without OAuth, means no
	// authentication, which ServeHTTP allows on loopback addresses only.
	Keys []APIKey
	// AllowedOrigins are extra allowed Origin values, exactly
	// scheme://host[:port] (see allowedOrigins).
	AllowedOrigins []string
	// MaxBodyBytes caps a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// SessionIdleTTL ends MCP sessions idle for longer; 0 means
	// DefaultSessionIdleTTL, negative disables expiry.
	SessionIdleTTL time.Duration
	// RateLimitPerMinute limits the requests to /mcp, /metrics and
	// /console/events together, per API key (per client address without
	// keys), as a token bucket described at rateLimiter; 0 means
	// DefaultRateLimitPerMinute, negative disables the limit.
	RateLimitPerMinute int
	// SharedRateLimit, when set, keeps the API keys' buckets for all the
	// servers of the deployment; nil counts on this server alone.
	SharedRateLimit SharedRateLimit
	// WriteTools are the tools that change something: a read key calling
	// one gets 403 before the request reaches the MCP server.
	WriteTools []string
	// ConsolePage serves the web console's page and assets at ConsolePath
	// and below, to GET and HEAD without a key: they hold no data, and the
	// page asks for the key. Nil serves no console.
	ConsolePage http.Handler
	// ConsoleEvents serves ConsoleEventsPath to GET requests that pass the
	// guard, as /mcp does. Nil serves none.
	ConsoleEvents http.Handler
	// Metrics, when set, is served at GET /metrics behind the guard, as
	// /mcp is. Prometheus sends the key with its scrape config's
	// authorization: {credentials: ...}.
	Metrics http.Handler
	// AnswerStored, when set, may answer a POST /mcp message before
	// mcp-go does (see [StoredAnswerer]).
	AnswerStored StoredAnswerer
	// OAuth, when set, also accepts OAuth access tokens besides Keys and
	// serves the Protected Resource Metadata (see oauth.go).
	OAuth *oauth.Verifier
	// NodeKey, when set, is the key the nodes of a cluster share: a
	// request bearing it and naming its node (HeaderNode) was carried
	// here by another node for a call this one holds. It is never logged.
	NodeKey string

	// now is the rate limiter's clock; nil is time.Now (tests set it).
	now func() time.Time
}

// StoredAnswerer answers a JSON-RPC message (body) that mcp-go cannot,
// from what the server stored (a task after a restart or from another
// session: server.Server.AnswerStoredTask), with the response to write;
// false leaves the message to mcp-go. ctx carries the [Caller]; sessionID
// is the request's MCP session, "" without one.
type StoredAnswerer func(ctx context.Context, body []byte, sessionID string) ([]byte, bool)
