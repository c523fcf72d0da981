package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/server"
)

const (
	// heartbeatInterval is how often a ping goes down an open GET stream:
	// it keeps proxies from cutting the idle stream and counts as session
	// activity, so a client that keeps a stream open is not expired.
	heartbeatInterval = 30 * time.Second
	// eventsPerSession bounds what a session can resume: a transfer sends
	// about six progress notifications, so this covers dozens of them.
	eventsPerSession = 256
)

// HTTPHandler serves MCP over streamable HTTP at /mcp and a health probe at
// GET /healthz, and the metrics and console when configured. Create it with
// NewHTTPHandler; Close it when done to end the sessions and stop its
// idle-session sweeper.
type HTTPHandler struct {
	// mcp is nil on a handler that serves the metrics alone (ServeMetrics).
	mcp      *mcpserver.StreamableHTTPServer
	sessions *sessionManager
	guard    *guard
	maxBody  int64
	// answerStored is HTTPConfig.AnswerStored.
	answerStored StoredAnswerer
	logger       *slog.Logger
	// writeTools are HTTPConfig.WriteTools (see checkScope).
	writeTools map[string]bool
	// root is the Origin check in front of the routes.
	root http.Handler
	// srv is the server a ServeMetrics handler stops on Close (an MCP
	// handler's server is stopped by mcp-go).
	srv *http.Server
}

// NewHTTPHandler returns the handler serving mcpServer at /mcp and
// GET /healthz, with the checks described in the package documentation.
func NewHTTPHandler(mcpServer *mcpserver.MCPServer, cfg HTTPConfig, logger *slog.Logger) (*HTTPHandler, error) {
	if mcpServer == nil {
		return nil, errors.New("transport: nil MCP server")
	}
	return newHTTPHandler(mcpServer, cfg, logger, nil)
}

// newHTTPHandler builds the handler; srv, when not nil, is the server it
// will run on, which Close shuts down. Without an MCP server it serves
// cfg.Metrics alone.
func newHTTPHandler(mcpServer *mcpserver.MCPServer, cfg HTTPConfig, logger *slog.Logger, srv *http.Server) (*HTTPHandler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	keys, err := newKeyring(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	origins, err := newAllowedOrigins(cfg.AllowedOrigins)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	if maxBody < 0 {
		return nil, errors.New("transport: negative MaxBodyBytes")
	}
	node, err := newNodeKey(cfg.NodeKey)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	rateLimit := cfg.RateLimitPerMinute
	if rateLimit == 0 {
		rateLimit = DefaultRateLimitPerMinute
	}
	writeTools := make(map[string]bool, len(cfg.WriteTools))
	for _, name := range cfg.WriteTools {
		writeTools[name] = true
	}
	limiter := newRateLimiter(rateLimit, cfg.now)
	if limiter != nil && cfg.SharedRateLimit != nil {
		limiter.shared = &sharedRate{store: cfg.SharedRateLimit, logger: logger}
	}
	h := &HTTPHandler{
		sessions:   newSessionManager(),
		guard:      &guard{keys: keys, oauth: cfg.OAuth, limiter: limiter, node: node, logger: logger},
		maxBody:    maxBody,
		logger:     logger,
		writeTools: writeTools,

		answerStored: cfg.AnswerStored,
	}
	if mcpServer != nil {
		h.mcp = newStreamableServer(mcpServer, h.sessions, cfg.SessionIdleTTL, logger, srv)
	} else {
		h.srv = srv
	}
	h.root = withOAuthMetadata(cfg.OAuth, origins.check(logger, h.routes(cfg)))
	return h, nil
}

// newStreamableServer is mcp-go's streamable HTTP server with this
// package's sessions, event store and caller context.
func newStreamableServer(mcpServer *mcpserver.MCPServer, sessions *sessionManager, ttl time.Duration, logger *slog.Logger, srv *http.Server) *mcpserver.StreamableHTTPServer {
	if ttl == 0 {
		ttl = DefaultSessionIdleTTL
	}
	opts := []mcpserver.StreamableHTTPOption{
		mcpserver.WithEndpointPath(MCPPath),
		mcpserver.WithSessionIdManager(sessions),
		mcpserver.WithHTTPContextFunc(callerContext),
		mcpserver.WithStreamableHTTPLogger(logger),
		mcpserver.WithHeartbeatInterval(heartbeatInterval),
		mcpserver.WithEventStore(newEventStore(eventsPerSession)),
	}
	if ttl > 0 {
		opts = append(opts, mcpserver.WithSessionIdleTTL(ttl))
	}
	if srv != nil {
		opts = append(opts, mcpserver.WithStreamableHTTPServer(srv))
	}
	return mcpserver.NewStreamableHTTPServer(mcpServer, opts...)
}

// routes maps each path and method to its handler. The routes with data
// pass the one guard; each path's pattern without a method answers the
// methods it does not serve (405, with the transport's JSON body rather
// than ServeMux's text); "/" answers every other path (404).
func (h *HTTPHandler) routes(cfg HTTPConfig) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", notFound)
	if cfg.Metrics != nil {
		mux.Handle("GET "+MetricsPath, h.guard.protect(cfg.Metrics.ServeHTTP))
		mux.HandleFunc(MetricsPath, methodNotAllowed("GET, HEAD"))
	}
	if h.mcp == nil {
		return mux
	}
	mux.HandleFunc("GET "+HealthzPath, serveHealthz)
	mux.HandleFunc(HealthzPath, methodNotAllowed("GET, HEAD"))

	mux.Handle("POST "+MCPPath, h.guard.protect(h.servePost))
	mux.Handle("GET "+MCPPath, h.guard.protect(h.serveSession))
	mux.Handle("DELETE "+MCPPath, h.guard.protect(h.serveSession))
	// A GET pattern also matches HEAD, which MCP does not have.
	mux.HandleFunc("HEAD "+MCPPath, mcpMethodNotAllowed)
	mux.HandleFunc(MCPPath, mcpMethodNotAllowed)

	consoleRoutes(mux, cfg.ConsolePage, h.guard.protect, cfg.ConsoleEvents)
	return mux
}

// consoleRoutes serves the console's page and assets without a key (static
// files, the same for everyone: the page asks for the key) and its event
// stream behind the guard (it shows the same calls list_calls does).
func consoleRoutes(mux *http.ServeMux, page http.Handler, protect func(http.HandlerFunc) http.Handler, events http.Handler) {
	if events != nil {
		mux.Handle("GET "+ConsoleEventsPath, protect(events.ServeHTTP))
		// A stream has no HEAD.
		mux.HandleFunc("HEAD "+ConsoleEventsPath, methodNotAllowed("GET"))
	} else if page != nil {
		// Below the page, but no asset.
		mux.HandleFunc("GET "+ConsoleEventsPath, notFound)
	}
	if page == nil {
		if events != nil {
			mux.HandleFunc(ConsoleEventsPath, methodNotAllowed("GET"))
		}
		return
	}
	mux.Handle("GET "+ConsolePath, page)
	mux.Handle("GET "+ConsolePath+"/", page)
	mux.HandleFunc(ConsolePath, methodNotAllowed("GET, HEAD"))
	// This one also answers the other methods of ConsoleEventsPath: a
	// pattern without a method there would conflict with "GET /console/".
	pageTree := methodNotAllowed("GET, HEAD")
	stream := methodNotAllowed("GET")
	mux.HandleFunc(ConsolePath+"/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == ConsoleEventsPath && events != nil {
			stream(w, r)
			return
		}
		pageTree(w, r)
	})
}

// ServeHTTP implements http.Handler: it routes the request and logs it.
func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	tracker := h.sessions.tracker(r.Header.Get(mcpserver.HeaderKeySessionID))
	sw := &statusWriter{ResponseWriter: w, tracker: tracker}
	h.root.ServeHTTP(sw, r.WithContext(server.WithDeliveryTracker(r.Context(), tracker)))
	// Asked first: the line's arguments cost allocations on every request
	// (BenchmarkGetCallHTTP) even when the handler would drop it.
	if h.logger.Enabled(r.Context(), slog.LevelDebug) {
		h.logger.Debug("http request",
			"method", r.Method, "path", r.URL.Path, "status", sw.status(),
			"duration", time.Since(start), "remote", r.RemoteAddr, "key", sw.keyName)
	}
}

// Close ends every MCP session (closing their SSE streams) and stops the
// idle-session sweeper, and shuts down the server the handler runs on. The
// handler answers 404 to the old sessions after.
func (h *HTTPHandler) Close(ctx context.Context) error {
	if h.mcp != nil {
		return h.mcp.Shutdown(ctx)
	}
	if h.srv != nil {
		return h.srv.Shutdown(ctx)
	}
	return nil
}

// callerContext carries the caller that the guard authenticated from the
// HTTP request's context into the context mcp-go hands to tool handlers.
func callerContext(ctx context.Context, r *http.Request) context.Context {
	if t := server.DeliveryTrackerFrom(r.Context()); t != nil {
		ctx = server.WithDeliveryTracker(ctx, t)
	}
	if c, ok := CallerFrom(r.Context()); ok {
		return WithCaller(ctx, c)
	}
	return ctx
}

func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
}
