package transport

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
)

// readOnlyKeyMessage is the 403 body's message for a read key that calls
// a writing tool.
const readOnlyKeyMessage = "This API key is read-only"

// checkScope refuses, with 403, a request of a read-only key that calls a
// tool in HTTPConfig.WriteTools, before mcp-go sees it. body is the
// request body (a POST). It returns false when it wrote the refusal.
//
// The server behind the transport enforces the same rule (read keys do not
// see writing tools, and cannot run them); this answers it in plain HTTP.
func (h *HTTPHandler) checkScope(w http.ResponseWriter, r *http.Request, caller Caller, body []byte) bool {
	if caller.CanWrite() || len(h.writeTools) == 0 {
		return true
	}
	tool, refused := h.callsWriteTool(body)
	if !refused {
		return true
	}
	h.reject(r, "read-only API key called a writing tool", "key", caller.KeyName, "tool", tool)
	writeAPIError(w, http.StatusForbidden, "forbidden", readOnlyKeyMessage)
	return false
}

// rpcCall is what checkScope reads of a JSON-RPC message. It is decoded
// with encoding/json, as mcp-go decodes it, so both read the same method
// and name (case-insensitive keys, the last of duplicate keys).
type rpcCall struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// callsWriteTool reports whether body, a JSON-RPC message or a batch of
// them, calls a writing tool, and which. mcp-go v1.2.1 refuses batches
// with a parse error, but each element is checked anyway, so that a
// library that accepts them does not open a way around the scope. A
// tools/call whose tool name cannot be read is treated as writing; a body
// that is not JSON is left to mcp-go, which answers a parse error and runs
// nothing.
func (h *HTTPHandler) callsWriteTool(body []byte) (string, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(trimmed, &batch); err != nil {
			return "", false
		}
		for _, m := range batch {
			if tool, ok := h.messageCallsWriteTool(m); ok {
				return tool, true
			}
		}
		return "", false
	}
	return h.messageCallsWriteTool(trimmed)
}

func (h *HTTPHandler) messageCallsWriteTool(raw []byte) (string, bool) {
	var m rpcCall
	if err := json.Unmarshal(raw, &m); err != nil || m.Method != string(mcp.MethodToolsCall) {
		return "", false
	}
	var params struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(m.Params, &params); err != nil {
		return "", true
	}
	return params.Name, h.writeTools[params.Name]
}
