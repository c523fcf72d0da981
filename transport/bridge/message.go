package bridge

import (
	"bytes"
	"encoding/json"

	"github.com/mark3labs/mcp-go/mcp"
)

// envelope is what the bridge reads of a message.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
}

func (e envelope) hasID() bool {
	return len(e.ID) > 0 && string(e.ID) != "null"
}

func (e envelope) isRequest() bool { return e.Method != "" && e.hasID() }

// progressToken returns the idKey of the request's progress token, or "".
func (e envelope) progressToken() string {
	var p struct {
		Meta struct {
			ProgressToken json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(e.Params, &p) != nil || len(p.Meta.ProgressToken) == 0 || string(p.Meta.ProgressToken) == "null" {
		return ""
	}
	return idKey(p.Meta.ProgressToken)
}

func (e envelope) metaVersion() string {
	var p struct {
		Meta *mcp.Meta `json:"_meta"`
	}
	if json.Unmarshal(e.Params, &p) != nil {
		return ""
	}
	return p.Meta.ProtocolVersion()
}

// idKey is the map key of a JSON-RPC id: its compact JSON, so that 1 and
// "1" stay apart.
func idKey(id json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, id) != nil {
		return string(id)
	}
	return buf.String()
}

func errorMessage(id json.RawMessage, code int, message string) []byte {
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": mcp.JSONRPC_VERSION,
		"id":      id,
		"error":   map[string]any{"code": code, "message": message},
	})
	return b
}

// isJSONRPC reports whether body is a JSON-RPC message.
func isJSONRPC(body []byte) bool {
	var m struct {
		JSONRPC string `json:"jsonrpc"`
	}
	return json.Unmarshal(body, &m) == nil && m.JSONRPC == mcp.JSONRPC_VERSION
}

// withID gives a transport-level JSON-RPC error (id null) the id of the
// request it answers, so that the client can match it.
func withID(body []byte, sent envelope) []byte {
	if !sent.hasID() || sent.Method == "" {
		return body
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	if id, ok := m["id"]; ok && string(id) != "null" {
		return body
	}
	m["id"] = sent.ID
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}
