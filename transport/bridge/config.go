package bridge

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Config says where Run forwards to.
type Config struct {
	// URL is the server's MCP endpoint, e.g. http://localhost/mcp.
	URL string
	// Client does the HTTP; nil is a client without timeouts (streams
	// last as long as the session). UnixClient reaches a Unix socket.
	Client *http.Client
	// Header is added to every request (Authorization for a remote server).
	Header http.Header
	// Server names the server in messages, e.g. "the voicedock server
	// owning /var/lib/voicedock".
	Server string

	// Gone, if not nil, is closed when the server is known to have gone
	// (the owner of a data directory let its lock go): the bridge ends as
	// when a request finds it gone.
	Gone <-chan struct{}

	// keepAlive is the idle time before a keep-alive ping; 0 is
	// defaultKeepAlive (tests shorten it).
	keepAlive time.Duration
}

// UnixClient returns an HTTP client that connects to the Unix socket at
// path whatever the URL's host.
func UnixClient(path string) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConnsPerHost: 16,
		DisableCompression:  true,
	}}
}

// defaultKeepAlive is how often an idle bridge pings the server, so that a
// 2025-11-25 session is not ended as idle (transport.HTTPConfig.SessionIdleTTL,
// an hour by default) while the client sits unused.
const defaultKeepAlive = 5 * time.Minute

// GoneCode is the JSON-RPC error code a bridge answers requests in
// flight with when the server stops answering (-32000 is the first of the
// codes JSON-RPC leaves to implementations).
const GoneCode = -32000
