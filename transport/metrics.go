package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
)

// MetricsPath is where the Prometheus metrics are served.
const MetricsPath = "/metrics"

// serveMetrics answers a scrape with the same authentication as /mcp:
// a bearer API key (any scope) when keys are configured, else only on a
// loopback address. Prometheus sends the key with its scrape config's
// authorization: {credentials: ...}.
func (h *HTTPHandler) serveMetrics(w http.ResponseWriter, r *http.Request) Caller {
	if h.metrics == nil {
		writeAPIError(w, http.StatusNotFound, "not_found", "Not found")
		return Caller{}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
		return Caller{}
	}
	caller, ok := h.authenticate(r)
	if !ok {
		h.unauthorized(w, r)
		return Caller{}
	}
	if h.open() && !arrivedOnLoopback(r) {
		writeAPIError(w, http.StatusForbidden, "forbidden", "API keys are required for non-loopback access")
		return caller
	}
	h.metrics.ServeHTTP(w, r)
	return caller
}

// ServeMetrics serves the metrics alone on addr (VOICEDOCK_METRICS_ADDR)
// until ctx is done, with /metrics's authentication: keys when given, and
// without keys only a loopback address is accepted. ready, if not nil,
// gets the bound address.
func ServeMetrics(ctx context.Context, addr string, metrics http.Handler, keys []APIKey, logger *slog.Logger, ready func(net.Addr)) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(keys) == 0 && !isLoopbackListenAddr(addr) {
		return fmt.Errorf("transport: refusing to serve metrics on %q without API keys: set VOICEDOCK_API_KEYS or use a loopback address", addr)
	}
	kr, err := newKeyring(keys)
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	h := &HTTPHandler{keys: kr, logger: logger, metrics: metrics}
	mux := http.NewServeMux()
	mux.HandleFunc(MetricsPath, func(w http.ResponseWriter, r *http.Request) { h.serveMetrics(w, r) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("transport: metrics listen: %w", err)
	}
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", MetricsPath)
	if ready != nil {
		ready(ln.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("transport: metrics serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("transport: metrics serve: %w", err)
	}
	return nil
}
