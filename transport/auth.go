package transport

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
)

// guard is the one check in front of every route that serves data (/mcp,
// /metrics, /console/events), whichever listener serves it:
//
//  1. the caller: a bearer API key (any scope) when keys are configured;
//     without keys the anonymous caller (the socket caller on the Unix
//     socket), but
//  2. only on a loopback address or the Unix socket: ServeHTTP refuses to
//     listen elsewhere without keys, and this refuses requests to a
//     keyless handler mounted on some other server;
//  3. the per-client rate limit (see rateLimiter), when there is one.
//
// The Origin check comes before it, on every route (see allowedOrigins).
type guard struct {
	keys *keyring
	// limiter is nil when rate limiting is off.
	limiter *rateLimiter
	logger  *slog.Logger
}

// protect returns next behind the guard. next finds the caller in the
// request's context ([CallerFrom]).
func (g *guard) protect(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, ok := g.authenticate(r)
		if !ok {
			logRejected(g.logger, r, "missing or invalid API key")
			w.Header().Set("WWW-Authenticate", `Bearer realm="voicedock"`)
			writeAPIError(w, http.StatusUnauthorized, "unauthorized", "Invalid or missing API key")
			return
		}
		noteCaller(w, caller)
		if g.keys.empty() && !arrivedOnLoopback(r) {
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

// authenticate returns the caller for the request's bearer key, or the
// anonymous caller when no keys are configured.
func (g *guard) authenticate(r *http.Request) (Caller, bool) {
	if g.keys.empty() {
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
		return Caller{}, false
	}
	return Caller{KeyName: k.Name, Scope: k.Scope, Transport: TransportHTTP}, true
}

// allowRate applies the per-client limit: it sets the rate limit headers,
// and on a refusal writes the 429 and returns false.
func (g *guard) allowRate(w http.ResponseWriter, r *http.Request, caller Caller) bool {
	if g.limiter == nil {
		return true
	}
	d := g.limiter.allow(g.rateClient(r, caller))
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

// rateClient is the bucket a request draws from: its API key's name, or
// for keyless (anonymous, loopback-only) use the client's address.
func (g *guard) rateClient(r *http.Request, caller Caller) string {
	if !g.keys.empty() {
		return "key:" + caller.KeyName
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}
