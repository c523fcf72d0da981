package transport

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// bodyReadTimeout bounds reading a request body (see serve.go: the server
// has no ReadTimeout, which would cut streams).
const bodyReadTimeout = 30 * time.Second

// servePost serves POST /mcp, a message from the client, behind the guard:
// the body capped and checked against the key's scope, and against the
// session rules, before mcp-go reads it.
func (h *HTTPHandler) servePost(w http.ResponseWriter, r *http.Request) {
	body, msg, ok := h.preparePost(w, r)
	if !ok {
		return
	}
	caller, _ := CallerFrom(r.Context())
	if !h.checkScope(w, r, caller, body) {
		return
	}
	if h.answerStored != nil {
		if resp, ok := h.answerStored(r.Context(), body, r.Header.Get(mcpserver.HeaderKeySessionID)); ok {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(resp)
			return
		}
	}
	if h.direct.serve(w, r, body, msg, h.sessions) {
		return
	}
	h.mcp.ServeHTTP(w, r)
}

// serveSession serves GET /mcp (the session's listening stream) and DELETE
// /mcp (ending the session) behind the guard.
func (h *HTTPHandler) serveSession(w http.ResponseWriter, r *http.Request) {
	if !h.checkSession(w, r) {
		return
	}
	h.mcp.ServeHTTP(w, r)
}

// mcpMethodNotAllowed answers the methods /mcp does not serve, as JSON-RPC
// (what an MCP client reads at /mcp).
func mcpMethodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "GET, POST, DELETE")
	writeJSONRPCError(w, http.StatusMethodNotAllowed, mcp.INVALID_REQUEST, "Method not allowed")
}

// reject logs a refused request. It never logs credentials.
func (h *HTTPHandler) reject(r *http.Request, reason string, attrs ...any) {
	logRejected(h.logger, r, reason, attrs...)
}

// preparePost reads the capped body, hands mcp-go a replayable copy, and
// enforces the session header for requests of the session-based protocol
// era. It returns the body and, when it had to read it, the parsed message
// (nil otherwise), or writes the error response and returns false to stop.
func (h *HTTPHandler) preparePost(w http.ResponseWriter, r *http.Request) ([]byte, *message, bool) {
	if r.ContentLength > h.maxBody {
		h.reject(r, "request body too large", "content_length", r.ContentLength)
		writeJSONRPCError(w, http.StatusRequestEntityTooLarge, mcp.INVALID_REQUEST, "Request body too large")
		return nil, nil, false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) // unsupported by some writers (httptest): fine
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			h.reject(r, "request body too large")
			writeJSONRPCError(w, http.StatusRequestEntityTooLarge, mcp.INVALID_REQUEST, "Request body too large")
			return nil, nil, false
		}
		h.reject(r, "reading request body failed", "err", err)
		writeJSONRPCError(w, http.StatusBadRequest, mcp.PARSE_ERROR, "Could not read request body")
		return nil, nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))

	// A request on a live session passes whatever the message is, so the
	// body is parsed only for the others: a JSON decode saved on nearly
	// every request (BenchmarkGetCallHTTP).
	if h.sessions.exists(r.Header.Get(mcpserver.HeaderKeySessionID)) {
		return body, nil, true
	}
	msg, ok := parseMessage(body)
	if !ok {
		// Not a single JSON-RPC object: mcp-go answers the parse error.
		return body, nil, true
	}
	if msg.modern(r.Header) || msg.Method == string(mcp.MethodInitialize) {
		// A sessionless 2026-07-28 request, or the session's start.
		return body, msg, true
	}
	return body, msg, h.requireSession(w, r)
}
