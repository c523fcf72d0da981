package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"
)

// Server timeouts. There is deliberately no WriteTimeout (it would cut SSE
// streams) and no ReadTimeout (net/http cancels the request context of a
// long-lived handler when it expires); the request body is bounded per
// request by bodyReadTimeout instead.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 5 * time.Second
)

// ServeHTTP listens on cfg.Addr and serves the MCP server until ctx is done,
// then shuts down gracefully: sessions and their streams are closed and
// in-flight requests get up to 5 s before connections are cut. It refuses to
// start on a non-loopback address when cfg.Keys is empty and cfg.OAuth nil. ready, if not nil,
// is called with the bound address once the listener is open (Addr may use
// port 0). It returns nil after a shutdown caused by ctx.
func ServeHTTP(ctx context.Context, mcpServer *mcpserver.MCPServer, cfg HTTPConfig, logger *slog.Logger, ready func(net.Addr)) error {
	if mcpServer == nil {
		return errors.New("transport: nil MCP server")
	}
	ln, err := listenTCP(ctx, cfg, "listen")
	if err != nil {
		return err
	}
	return serveListener(ctx, mcpServer, cfg, logger, ln, ready)
}

// ServeUnix serves the MCP server over streamable HTTP on a Unix socket at
// path, as ServeHTTP does on TCP. A socket file left at path by a process
// that is gone is replaced: the caller must own path (see package owner).
// The socket is made mode 0600, so only processes of the same user can
// connect; they could read the data directory anyway, so the socket asks
// for no API key, like stdio. cfg.Addr is ignored.
func ServeUnix(ctx context.Context, mcpServer *mcpserver.MCPServer, path string, cfg HTTPConfig, logger *slog.Logger, ready func(net.Addr)) error {
	if mcpServer == nil {
		return errors.New("transport: nil MCP server")
	}
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

// ServeMetrics serves cfg.Metrics alone on cfg.Addr
// (VOICEDOCK_METRICS_ADDR) until ctx is done, behind the same Origin check
// and guard as on the MCP listener (cfg.Keys, cfg.RateLimitPerMinute,
// cfg.AllowedOrigins); without keys only a loopback address is accepted.
// ready, if not nil, gets the bound address.
func ServeMetrics(ctx context.Context, cfg HTTPConfig, logger *slog.Logger, ready func(net.Addr)) error {
	if cfg.Metrics == nil {
		return errors.New("transport: no metrics to serve")
	}
	ln, err := listenTCP(ctx, cfg, "serve metrics")
	if err != nil {
		return err
	}
	return serveListener(ctx, nil, cfg, logger, ln, ready)
}

// listenTCP opens cfg.Addr to do what says, refusing an address that is
// not loopback when there are no keys: the guard would let anyone in.
func listenTCP(ctx context.Context, cfg HTTPConfig, what string) (net.Listener, error) {
	if len(cfg.Keys) == 0 && cfg.OAuth == nil && !isLoopbackListenAddr(cfg.Addr) {
		return nil, fmt.Errorf("transport: refusing to %s on %q without API keys: set VOICEDOCK_API_KEYS or use a loopback address such as 127.0.0.1", what, cfg.Addr)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", what, err)
	}
	return ln, nil
}

// serveListener serves on ln until ctx is done: MCP (and what cfg adds to
// it) when mcpServer is set, else cfg.Metrics alone.
func serveListener(ctx context.Context, mcpServer *mcpserver.MCPServer, cfg HTTPConfig, logger *slog.Logger, ln net.Listener, ready func(net.Addr)) error {
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

	addr := ln.Addr().String()
	if mcpServer == nil {
		logger.Info("serving metrics", "addr", addr, "path", MetricsPath)
	} else {
		if len(cfg.Keys) == 0 && cfg.OAuth == nil && ln.Addr().Network() != "unix" {
			logger.Warn("serving MCP over HTTP without API keys; any local process can call it", "addr", addr)
		}
		logger.Info("serving MCP over HTTP", "addr", addr, "path", MCPPath, "keys", len(cfg.Keys))
	}
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

	logger.Info("shutting down HTTP server", "addr", addr)
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
