package transport

import (
	"errors"
	"net/url"
	"strings"
)

// originAllowed reports whether a request's Origin header value is
// allowed: a loopback origin, or one of the configured origins.
func (h *HTTPHandler) originAllowed(origin string) bool {
	norm, err := normalizeOrigin(origin)
	if err != nil {
		return false // includes "null" and anything malformed
	}
	if h.origins[norm] {
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
