package transport

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// allowedOrigins are the configured extra origins, normalized. Loopback
// origins (http or https, host localhost, 127.0.0.1 or [::1], any port) are
// always allowed; requests without an Origin header (non-browser clients)
// are not affected.
type allowedOrigins map[string]bool

func newAllowedOrigins(list []string) (allowedOrigins, error) {
	origins := make(allowedOrigins, len(list))
	for _, o := range list {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("allowed origin %q: %w", o, err)
		}
		origins[norm] = true
	}
	return origins, nil
}

// check returns next behind the Origin check, which every route passes,
// before any other: a page in a browser on a foreign origin must not reach
// the server, not even its health probe.
func (a allowedOrigins) check(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !a.allow(origin) {
			logRejected(logger, r, "origin not allowed", "origin", origin)
			writeAPIError(w, http.StatusForbidden, "forbidden", "Origin not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allow reports whether a request's Origin header value is allowed: a
// loopback origin, or one of the configured origins.
func (a allowedOrigins) allow(origin string) bool {
	norm, err := normalizeOrigin(origin)
	if err != nil {
		return false // includes "null" and anything malformed
	}
	if a[norm] {
		return true
	}
	u, _ := url.Parse(norm)
	return isLoopbackHost(u.Hostname())
}

// normalizeOrigin parses an origin, scheme://host[:port] with scheme http or
// https, and returns it lower-cased and without the scheme's default port,
// as browsers send it.
func normalizeOrigin(origin string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("scheme must be http or https")
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") {
		return "", errors.New("want scheme://host[:port]")
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
