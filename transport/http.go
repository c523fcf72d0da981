package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/oauth"
	vdserver "github.com/voicedock/voicedock/server"
)

// Paths served by the HTTP handler.
const (
	MCPPath     = "/mcp"
	HealthzPath = "/healthz"
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

// Server timeouts. There is deliberately no WriteTimeout (it would cut SSE
// streams) and no ReadTimeout (net/http cancels the request context of a
// long-lived handler when it expires); the request body is bounded per
// request by bodyReadTimeout instead.
const (
	readHeaderTimeout = 10 * time.Second
	bodyReadTimeout   = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 5 * time.Second
	// heartbeatInterval is how often a ping goes down an open GET stream:
	// it keeps proxies from cutting the idle stream and counts as session
	// activity, so a client that keeps a stream open is not expired.
	heartbeatInterval = 30 * time.Second
	// eventsPerSession bounds what a session can resume: a transfer sends
	// about six progress notifications, so this covers dozens of them.
	eventsPerSession = 256
)

// HTTPConfig configures the streamable HTTP transport.
type HTTPConfig struct {
	// Addr is the listen address, e.g. 127.0.0.1:8080 (port 0 picks one).
	Addr string
	// Keys are the accepted bearer keys. Empty means no authentication,
	// which ServeHTTP allows on loopback addresses only.
	Keys []APIKey
	// AllowedOrigins are extra allowed Origin values, exactly
	// scheme://host[:port]. Loopback origins (http or https, host
	// localhost, 127.0.0.1 or [::1], any port) are always allowed; requests
	// without an Origin header (non-browser clients) are not affected.
	AllowedOrigins []string
	// MaxBodyBytes caps a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// SessionIdleTTL ends MCP sessions idle for longer; 0 means
	// DefaultSessionIdleTTL, negative disables expiry.
	SessionIdleTTL time.Duration
	// RateLimitPerMinute limits /mcp requests per API key (per client
	// address without keys), as a token bucket described at rateLimiter;
	// 0 means DefaultRateLimitPerMinute, negative disables the limit.
	RateLimitPerMinute int
	// WriteTools are the tools that change something: a read key calling
	// one gets 403 before the request reaches the MCP server.
	WriteTools []string
	// ConsolePage serves the web console's page and assets at ConsolePath
	// and below, to GET and HEAD without a key: they hold no data, and the
	// page asks for the key. Nil serves no console.
	ConsolePage http.Handler
	// ConsoleEvents serves ConsoleEventsPath to GET requests that pass the
	// same key, loopback and rate checks as /mcp. Nil serves none.
	ConsoleEvents http.Handler
	// Metrics, when set, is served at GET /metrics with the same
	// authentication as /mcp (see serveMetrics).
	Metrics http.Handler
	// OAuth, when set, also accepts OAuth access tokens besides Keys and
	// serves the Protected Resource Metadata (see oauth.go).
	OAuth *oauth.Verifier

	// now is the rate limiter's clock; nil is time.Now (tests set it).
	now func() time.Time
}

// HTTPHandler serves MCP over streamable HTTP at /mcp and a health probe at
// GET /healthz. Create it with NewHTTPHandler; Close it when done to end
// the sessions and stop its idle-session sweeper.
type HTTPHandler struct {
	mcp      *server.StreamableHTTPServer
	sessions *sessionManager
	keys     *keyring
	origins  map[string]bool
	maxBody  int64
	logger   *slog.Logger
	// limiter is nil when rate limiting is off.
	limiter    *rateLimiter
	writeTools map[string]bool

	consolePage   http.Handler
	consoleEvents http.Handler
	metrics       http.Handler
	oauth         *oauth.Verifier
}

// NewHTTPHandler returns the handler serving mcpServer at /mcp and
// GET /healthz, with the checks described in the package documentation.
func NewHTTPHandler(mcpServer *server.MCPServer, cfg HTTPConfig, logger *slog.Logger) (*HTTPHandler, error) {
	return newHTTPHandler(mcpServer, cfg, logger, nil)
}

func newHTTPHandler(mcpServer *server.MCPServer, cfg HTTPConfig, logger *slog.Logger, srv *http.Server) (*HTTPHandler, error) {
	if mcpServer == nil {
		return nil, errors.New("transport: nil MCP server")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	keys, err := newKeyring(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	origins := make(map[string]bool, len(cfg.AllowedOrigins))
	for _, o := range cfg.AllowedOrigins {
		norm, err := normalizeOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("transport: allowed origin %q: %w", o, err)
		}
		origins[norm] = true
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	if maxBody < 0 {
		return nil, errors.New("transport: negative MaxBodyBytes")
	}
	ttl := cfg.SessionIdleTTL
	if ttl == 0 {
		ttl = DefaultSessionIdleTTL
	}

	rateLimit := cfg.RateLimitPerMinute
	if rateLimit == 0 {
		rateLimit = DefaultRateLimitPerMinute
	}
	writeTools := make(map[string]bool, len(cfg.WriteTools))
	for _, name := range cfg.WriteTools {
		writeTools[name] = true
	}

	h := &HTTPHandler{
		sessions:   newSessionManager(),
		keys:       keys,
		origins:    origins,
		maxBody:    maxBody,
		logger:     logger,
		limiter:    newRateLimiter(rateLimit, cfg.now),
		writeTools: writeTools,

		consolePage:   cfg.ConsolePage,
		consoleEvents: cfg.ConsoleEvents,
		metrics:       cfg.Metrics,
		oauth:         cfg.OAuth,
	}
	opts := []server.StreamableHTTPOption{
		server.WithEndpointPath(MCPPath),
		server.WithSessionIdManager(h.sessions),
		server.WithHTTPContextFunc(callerContext),
		server.WithStreamableHTTPLogger(logger),
		server.WithHeartbeatInterval(heartbeatInterval),
		server.WithEventStore(newEventStore(eventsPerSession)),
	}
	if ttl > 0 {
		opts = append(opts, server.WithSessionIdleTTL(ttl))
	}
	if srv != nil {
		opts = append(opts, server.WithStreamableHTTPServer(srv))
	}
	h.mcp = server.NewStreamableHTTPServer(mcpServer, opts...)
	return h, nil
}

// Close ends every MCP session (closing their SSE streams) and stops the
// idle-session sweeper. The handler answers 404 to the old sessions after.
func (h *HTTPHandler) Close(ctx context.Context) error {
	return h.mcp.Shutdown(ctx)
}

// callerContext carries the caller that HTTPHandler authenticated from the
// HTTP request's context into the context mcp-go hands to tool handlers.
func callerContext(ctx context.Context, r *http.Request) context.Context {
	if t := vdserver.DeliveryTrackerFrom(r.Context()); t != nil {
		ctx = vdserver.WithDeliveryTracker(ctx, t)
	}
	if c, ok := CallerFrom(r.Context()); ok {
		return WithCaller(ctx, c)
	}
	return ctx
}

// ServeHTTP implements http.Handler.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	tracker := h.sessions.tracker(r.Header.Get(server.HeaderKeySessionID))
	sw := &statusWriter{ResponseWriter: w, tracker: tracker}
	caller := h.serve(sw, r.WithContext(vdserver.WithDeliveryTracker(r.Context(), tracker)))
	// Asked first: the line's arguments cost allocations on every request
	// (BenchmarkGetCallHTTP) even when the handler would drop it.
	if h.logger.Enabled(r.Context(), slog.LevelDebug) {
		h.logger.Debug("http request",
			"method", r.Method, "path", r.URL.Path, "status", sw.status(),
			"duration", time.Since(start), "remote", r.RemoteAddr, "key", caller.KeyName)
	}
}

// serve routes and checks the request; it returns the caller, if any, for
// the access log.
func (h *HTTPHandler) serve(w http.ResponseWriter, r *http.Request) Caller {
	if serveOAuthMetadata(h.oauth, w, r) { // public, for any origin
		return Caller{}
	}
	if origin := r.Header.Get("Origin"); origin != "" && !h.originAllowed(origin) {
		h.reject(r, "origin not allowed", "origin", origin)
		writeAPIError(w, http.StatusForbidden, "forbidden", "Origin not allowed")
		return Caller{}
	}
	switch r.URL.Path {
	case HealthzPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
			return Caller{}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
		return Caller{}
	case MCPPath:
		return h.serveMCP(w, r)
	case MetricsPath:
		return h.serveMetrics(w, r)
	case ConsoleEventsPath:
		return h.serveConsoleEvents(w, r)
	}
	if r.URL.Path == ConsolePath || strings.HasPrefix(r.URL.Path, ConsolePath+"/") {
		h.serveConsolePage(w, r)
		return Caller{}
	}
	writeAPIError(w, http.StatusNotFound, "not_found", "Not found")
	return Caller{}
}

// serveConsolePage serves the console's page and assets: static files,
// the same for everyone, so without a key.
func (h *HTTPHandler) serveConsolePage(w http.ResponseWriter, r *http.Request) {
	if h.consolePage == nil {
		writeAPIError(w, http.StatusNotFound, "not_found", "Not found")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		return
	}
	h.consolePage.ServeHTTP(w, r)
}

// serveConsoleEvents serves the console's event stream to callers /mcp
// would accept: it shows the same calls list_calls does.
func (h *HTTPHandler) serveConsoleEvents(w http.ResponseWriter, r *http.Request) Caller {
	if h.consoleEvents == nil {
		writeAPIError(w, http.StatusNotFound, "not_found", "Not found")
		return Caller{}
	}
	caller, ok := h.authenticate(r)
	if !ok {
		h.unauthorized(w, r)
		return Caller{}
	}
	if h.open() && !arrivedOnLoopback(r) {
		h.reject(r, "no API keys configured and request did not arrive on loopback")
		writeAPIError(w, http.StatusForbidden, "forbidden", "API keys are required for non-loopback access")
		return caller
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		return caller
	}
	if !h.checkRate(w, r, caller) {
		return caller
	}
	h.consoleEvents.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), caller)))
	return caller
}

func (h *HTTPHandler) serveMCP(w http.ResponseWriter, r *http.Request) Caller {
	caller, ok := h.authenticate(r)
	if !ok {
		h.unauthorized(w, r)
		return Caller{}
	}
	if h.open() && !arrivedOnLoopback(r) {
		// ServeHTTP refuses such a configuration; this guards handlers
		// mounted on other servers.
		h.reject(r, "no API keys configured and request did not arrive on loopback")
		writeAPIError(w, http.StatusForbidden, "forbidden", "API keys are required for non-loopback access")
		return caller
	}
	if !h.checkRate(w, r, caller) {
		return caller
	}

	switch r.Method {
	case http.MethodPost:
		body, ok := h.preparePost(w, r)
		if !ok || !h.checkScope(w, r, caller, body) {
			return caller
		}
	case http.MethodGet, http.MethodDelete:
		if !h.checkSession(w, r) {
			return caller
		}
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeJSONRPCError(w, http.StatusMethodNotAllowed, mcp.INVALID_REQUEST, "Method not allowed")
		return caller
	}

	h.mcp.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), caller)))
	return caller
}

// authenticate returns the caller for the request's bearer key, or the
// anonymous caller when no keys are configured.
func (h *HTTPHandler) authenticate(r *http.Request) (Caller, bool) {
	if h.open() {
		if arrivedOnUnixSocket(r) {
			return socketCaller, true
		}
		return anonymousCaller, true
	}
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return Caller{}, false
	}
	k, ok := h.keys.match(token)
	if !ok {
		return tokenCaller(h.oauth, h.logger, r, token)
	}
	return Caller{KeyName: k.Name, Scope: k.Scope, Transport: TransportHTTP}, true
}

// preparePost reads the capped body, hands mcp-go a replayable copy, and
// enforces the session header for requests of the session-based protocol
// era. It returns the body, or writes the error response and returns false
// to stop.
func (h *HTTPHandler) preparePost(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > h.maxBody {
		h.reject(r, "request body too large", "content_length", r.ContentLength)
		writeJSONRPCError(w, http.StatusRequestEntityTooLarge, mcp.INVALID_REQUEST, "Request body too large")
		return nil, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) // unsupported by some writers (httptest): fine
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			h.reject(r, "request body too large")
			writeJSONRPCError(w, http.StatusRequestEntityTooLarge, mcp.INVALID_REQUEST, "Request body too large")
			return nil, false
		}
		h.reject(r, "reading request body failed", "err", err)
		writeJSONRPCError(w, http.StatusBadRequest, mcp.PARSE_ERROR, "Could not read request body")
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	// A request on a live session passes whatever the message is, so the
	// body is parsed only for the others: a JSON decode saved on nearly
	// every request (BenchmarkGetCallHTTP).
	if h.sessions.exists(r.Header.Get(server.HeaderKeySessionID)) {
		return body, true
	}
	msg, ok := parseMessage(body)
	if !ok || msg.modern(r.Header) || msg.Method == string(mcp.MethodInitialize) {
		// Not a single JSON-RPC object (mcp-go answers the parse error),
		// a sessionless 2026-07-28 request, or the session's start.
		return body, true
	}
	return body, h.requireSession(w, r)
}

// checkSession applies the session rules to GET (the listening stream) and
// DELETE (session termination). mcp-go would open a stream with a fresh
// session for a GET without or with an unknown id, and answer 200 to a
// DELETE of any id. Requests of the sessionless era fall through to mcp-go,
// which answers them 405.
func (h *HTTPHandler) checkSession(w http.ResponseWriter, r *http.Request) bool {
	if mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
		return true
	}
	return h.requireSession(w, r)
}

// requireSession answers 400 when the Mcp-Session-Id header is missing and
// 404 when it names no live session.
func (h *HTTPHandler) requireSession(w http.ResponseWriter, r *http.Request) bool {
	id := r.Header.Get(server.HeaderKeySessionID)
	if id == "" {
		h.reject(r, "missing session id")
		writeJSONRPCError(w, http.StatusBadRequest, mcp.INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required")
		return false
	}
	if !h.sessions.exists(id) {
		h.reject(r, "unknown or terminated session")
		writeJSONRPCError(w, http.StatusNotFound, sessionNotFoundCode, "Session not found")
		return false
	}
	return true
}

// sessionNotFoundCode is the JSON-RPC error code the reference SDK uses for
// an unknown session.
const sessionNotFoundCode = -32001

// message is the part of a JSON-RPC message the transport looks at.
type message struct {
	Method string `json:"method"`
	Params struct {
		Meta *mcp.Meta `json:"_meta"`
	} `json:"params"`
}

func parseMessage(body []byte) (message, bool) {
	var m message
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return m, false
	}
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return m, false
	}
	return m, true
}

// modern reports whether the message belongs to the sessionless protocol
// era (2026-07-28 and later), decided as mcp-go's detectRequestEra does:
// the version in either the header or the body's _meta.
func (m message) modern(h http.Header) bool {
	return mcp.IsModernProtocol(h.Get(mcp.HeaderProtocolVersion)) ||
		mcp.IsModernProtocol(m.Params.Meta.ProtocolVersion())
}

// reject logs a refused request. It never logs credentials.
func (h *HTTPHandler) reject(r *http.Request, reason string, attrs ...any) {
	args := append([]any{"reason", reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr}, attrs...)
	h.logger.Info("http request rejected", args...)
}

// writeAPIError writes the transport's own JSON error body.
func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// writeJSONRPCError writes a JSON-RPC error with a null id, as MCP clients
// expect for transport-level failures at /mcp.
func writeJSONRPCError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": mcp.JSONRPC_VERSION,
		"id":      nil,
		"error":   map[string]any{"code": code, "message": msg},
	})
}

// statusWriter records the response status for the access log. It keeps
// streaming working: Flush is forwarded, and Unwrap lets
// http.ResponseController reach the connection.
type statusWriter struct {
	http.ResponseWriter
	code int
	// tracker hears of the progress notifications written on this
	// response, so the request's result waits for them (see
	// server.DeliveryTracker).
	tracker *vdserver.DeliveryTracker
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	noteProgressWritten(s.tracker, p)
	return n, err
}

func (s *statusWriter) Flush() {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// ServeHTTP listens on cfg.Addr and serves the MCP server until ctx is done,
// then shuts down gracefully: sessions and their streams are closed and
// in-flight requests get up to 5 s before connections are cut. It refuses to
// start on a non-loopback address when cfg.Keys is empty. ready, if not nil,
// is called with the bound address once the listener is open (Addr may use
// port 0). It returns nil after a shutdown caused by ctx.
func ServeHTTP(ctx context.Context, mcpServer *server.MCPServer, cfg HTTPConfig, logger *slog.Logger, ready func(net.Addr)) error {
	if len(cfg.Keys) == 0 && cfg.OAuth == nil && !isLoopbackListenAddr(cfg.Addr) {
		return fmt.Errorf("transport: refusing to listen on %q without API keys: set VOICEDOCK_API_KEYS or listen on a loopback address such as 127.0.0.1", cfg.Addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("transport: listen: %w", err)
	}
	return serveListener(ctx, mcpServer, cfg, logger, ln, ready)
}

// ServeUnix serves the MCP server over streamable HTTP on a Unix socket at
// path, as ServeHTTP does on TCP. A socket file left at path by a process
// that is gone is replaced: the caller must own path (see package owner).
// The socket is made mode 0600, so only processes of the same user can
// connect; they could read the data directory anyway, so the socket asks
// for no API key, like stdio. cfg.Addr is ignored.
func ServeUnix(ctx context.Context, mcpServer *server.MCPServer, path string, cfg HTTPConfig, logger *slog.Logger, ready func(net.Addr)) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("transport: remove stale socket: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("transport: listen: %w", err)
	}
	// The data directory is 0700, so nobody else could reach the socket in
	// the moment before this chmod either.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("transport: socket mode: %w", err)
	}
	return serveListener(ctx, mcpServer, cfg, logger, ln, ready)
}

func serveListener(ctx context.Context, mcpServer *server.MCPServer, cfg HTTPConfig, logger *slog.Logger, ln net.Listener, ready func(net.Addr)) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	h, err := newHTTPHandler(mcpServer, cfg, logger, srv)
	if err != nil {
		ln.Close()
		return err
	}
	srv.Handler = h

	if len(cfg.Keys) == 0 && cfg.OAuth == nil && ln.Addr().Network() != "unix" {
		logger.Warn("serving MCP over HTTP without API keys; any local process can call it", "addr", ln.Addr().String())
	}
	logger.Info("serving MCP over HTTP", "addr", ln.Addr().String(), "path", MCPPath, "keys", len(cfg.Keys))
	if ready != nil {
		ready(ln.Addr())
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		_ = h.Close(context.Background())
		return fmt.Errorf("transport: serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down HTTP server", "addr", ln.Addr().String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Close ends the sessions (their GET streams would otherwise never let
	// the server go idle) and shuts srv down.
	if err := h.Close(sctx); err != nil {
		logger.Warn("graceful shutdown incomplete, closing connections", "err", err)
		_ = srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("transport: serve: %w", err)
	}
	return nil
}

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
