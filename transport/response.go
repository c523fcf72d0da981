package transport

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/server"
)

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

// notFound answers every path no route serves.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeAPIError(w, http.StatusNotFound, "not_found", "Not found")
}

// methodNotAllowed answers a method a path does not serve. It stands behind
// the method patterns of a path, as its pattern without a method, so that
// the answer has the transport's JSON body rather than ServeMux's text.
func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
	}
}

// logRejected logs a refused request. It never logs credentials.
func logRejected(logger *slog.Logger, r *http.Request, reason string, attrs ...any) {
	args := append([]any{"reason", reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr}, attrs...)
	logger.Info("http request rejected", args...)
}

// statusWriter records the response status, and the caller the guard
// authenticated, for the access log. It keeps streaming working: Flush is
// forwarded, and Unwrap lets http.ResponseController reach the connection.
type statusWriter struct {
	http.ResponseWriter
	code int
	// keyName is the authenticated caller's key name, "" before the guard
	// (or on a route without it).
	keyName string
	// tracker hears of the progress notifications written on this
	// response, so the request's result waits for them (see
	// server.DeliveryTracker).
	tracker *server.DeliveryTracker
}

// noteCaller tells the access log who the guard let in. It is a field on
// the response writer rather than a context value so that the log, which
// wraps the routes, sees it without an allocation per request.
func noteCaller(w http.ResponseWriter, c Caller) {
	if sw, ok := w.(*statusWriter); ok {
		sw.keyName = c.KeyName
	}
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
