package transport

import (
	"net"
	"net/http"
	"strings"
)

// isLoopbackListenAddr reports whether addr binds to loopback only.
// An empty host (all interfaces) and host names other than localhost
// are not loopback.
func isLoopbackListenAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return isLoopbackHost(host)
}

func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// arrivedOnUnixSocket reports whether the request came in on a Unix
// socket (see ServeUnix).
func arrivedOnUnixSocket(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && addr != nil && addr.Network() == "unix"
}

// arrivedOnLoopback reports whether the request came in on a loopback
// address or a Unix socket (reachable from this machine only, see
// ServeUnix). A request without a local address (not served by net/http)
// does not count as loopback.
func arrivedOnLoopback(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || addr == nil {
		return false
	}
	if arrivedOnUnixSocket(r) {
		return true
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		host = addr.String()
	}
	return isLoopbackHost(host)
}
