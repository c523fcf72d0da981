package transport

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/voicedock/voicedock/oauth"
)

// guard is the one check in front of every route that serves data (/mcp,
// /metrics, /console/events), whichever listener serves it:
//
//  1. the caller: a bearer API key (any scope), or an OAuth access token
//     when a verifier is configured (see oauth.go); with neither keys nor
//     OAuth the anonymous caller (the socket caller on the Unix socket),
//     but
//  2. only on a loopback address or the Unix socket: ServeHTTP refuses to
//     listen elsewhere without credentials, and this refuses requests to
//     an open handler mounted on some other server;
//  3. the per-client rate limit (see rateLimiter), when there is one.
//
// The Origin check comes before it, on every route (see allowedOrigins).
type guard struct {
	keys *keyring
	// oauth checks OAuth access tokens; nil accepts API keys only.
	oauth *oauth.Verifier
	// limiter is nil when rate limiting is off.
	limiter *rateLimiter
	// node accepts the requests the other nodes of a cluster carry here;
	// nil on a single node.
	node   *nodeKey
	logger *slog.Logger
}

// protect returns next behind the guard. next finds the caller in the
// request's context ([CallerFrom]).
func (g *guard) protect(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, ok := g.authenticate(r)
		if !ok {
			logRejected(g.logger, r, writeUnauthorized(w, r, g.oauth))
			return
		}
		noteCaller(w, caller)
		if g.open() && caller.Node == "" && !arrivedOnLoopback(r) {
			logRejected(g.logger, r, "no API keys configured and request did not arrive on loopback")
			writeAPIError(w, http.StatusForbidden, "forbidden", "API keys are required for non-loopback access")
			return
		}
		if !g.allowRate(w, r, caller) {
			return
		}
		next(w, r.WithContext(WithCaller(r.Context(), caller)))
	})
}

// open reports whether the guard asks for no credentials at all (no keys,
// no OAuth): loopback only.
func (g *guard) open() bool { return g.keys.empty() && g.oauth == nil }

// authenticate returns the caller for the request's bearer key or access
// token, or the anonymous caller when the guard is open.
func (g *guard) authenticate(r *http.Request) (Caller, bool) {
	if c, ok := g.node.caller(r); ok {
		return c, true
	}
	if g.open() {
		if arrivedOnUnixSocket(r) {
			return socketCaller, true
		}
		return anonymousCaller, true
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return Caller{}, false
	}
	k, ok := g.keys.match(token)
	if !ok {
		return tokenCaller(g.oauth, g.logger, r, token)
	}
	return Caller{KeyName: k.Name, Scope: k.Scope, Transport: TransportHTTP}, true
}

// allowRate applies the per-client limit: it sets the rate limit headers,
// and on a refusal writes the 429 and returns false.
func (g *guard) allowRate(w http.ResponseWriter, r *http.Request, caller Caller) bool {
	if g.limiter == nil || caller.Node != "" {
		// A node carries its clients' requests, each counted already on
		// the node it reached.
		return true
	}
	d := g.limiter.allowRequest(r.Context(), g.rateClient(r, caller))
	d.setHeaders(w.Header())
	if d.allowed {
		return true
	}
	secs := d.retryAfterSeconds()
	logRejected(g.logger, r, "rate limit exceeded", "key", caller.KeyName, "retry_after", secs)
	writeAPIError(w, http.StatusTooManyRequests, "rate_limit_exceeded",
		fmt.Sprintf("Too many requests. Please retry after %d seconds.", secs))
	return false
}

// rateClient is the bucket a request draws from: its API key's (or
// token's) name, or for open (anonymous, loopback-only) use the client's
// address.
func (g *guard) rateClient(r *http.Request, caller Caller) string {
	if !g.open() {
		return "key:" + caller.KeyName
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}
