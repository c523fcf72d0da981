package transport

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
)

// message is what the transport reads of a JSON-RPC message before mcp-go
// does: the protocol era and whether the message starts a session
// (preparePost), and whether it is a direct read (directReads.serve). One
// decode serves both. Members it does not name are left to mcp-go's checks.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		// Name stays raw, so that a name of the wrong type fails nothing
		// here (mcp-go answers it) and a plain one is read without a copy.
		Name json.RawMessage `json:"name"`
		Meta metaFields      `json:"_meta"`
		Task json.RawMessage `json:"task"`
	} `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// parseMessage decodes body when it is a single JSON object.
func parseMessage(body []byte) (*message, bool) {
	// JSON's whitespace only: bytes.TrimSpace also takes \v, \f and
	// Unicode spaces, which encoding/json refuses (the fuzzer found "{}\v").
	trimmed := bytes.Trim(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	var m message
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return nil, false
	}
	return &m, true
}

// modern reports whether the message belongs to the sessionless protocol
// era (2026-07-28 and later), decided as mcp-go's detectRequestEra does:
// the version in either the header or the body's _meta.
func (m *message) modern(h http.Header) bool {
	return mcp.IsModernProtocol(h.Get(mcp.HeaderProtocolVersion)) ||
		mcp.IsModernProtocol(m.Params.Meta.protocolVersion())
}

// toolName is the params' name as mcp-go decodes it, or "" when it is not
// a string.
func (m *message) toolName() string {
	return jsonString(m.Params.Name)
}

// jsonString is the string raw (valid JSON) encodes, or "" when it is not
// a string; one without escapes is read without a decode.
func jsonString(raw json.RawMessage) string {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// metaFields is a request's _meta as the transport reads it: each member
// kept raw. mcp-go decodes _meta (mcp.Meta) into a map[string]any; this
// map has the same keys, matched exactly and the last of duplicates
// winning, as that one, without building the values the transport never
// reads (the client's info and capabilities).
type metaFields map[string]json.RawMessage

// has reports whether key is set to something other than null: what
// mcp.Meta reads as a progress token or a field that is set.
func (f metaFields) has(key string) bool {
	v, ok := f[key]
	return ok && string(v) != "null"
}

// protocolVersion is mcp.Meta.ProtocolVersion: the version string, or ""
// when it is missing or not a string.
func (f metaFields) protocolVersion() string {
	return jsonString(f[mcp.MetaKeyProtocolVersion])
}
