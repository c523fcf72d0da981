package transport

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
)

// writeResponse writes what json.NewEncoder(w).Encode(resp) writes, as
// mcp-go writes a response, with less work for a tool's result.
//
// Encoding a tool result the library's way builds a map of its members
// (mcp.CallToolResult.MarshalJSON), encodes it, and then encoding/json
// re-scans and compacts the bytes twice over: the structured content (a
// json.RawMessage, a json.Marshaler) inside the result, and the whole
// result (a json.Marshaler itself) inside the response. Here the members
// are written in the order the map's encoding sorts them into, each
// encoded by encoding/json as it would be inside the map, and the
// structured content is copied as it is when compacting could not change
// it (compactAlready). Anything else is encoded as mcp-go does.
// TestDirectReadsMatchMCPGo holds the bytes to mcp-go's.
func writeResponse(w io.Writer, resp mcp.JSONRPCMessage) {
	if r, ok := resp.(mcp.JSONRPCResponse); ok && r.JSONRPC == mcp.JSONRPC_VERSION {
		buf := responseBuffers.Get().(*bytes.Buffer)
		defer responseBuffers.Put(buf)
		buf.Reset()
		if appendResponse(buf, r) {
			_, _ = w.Write(buf.Bytes())
			return
		}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// responseBuffers holds the buffers responses are assembled in; a response
// is written in one piece so that a failed encoding leaves nothing
// written.
var responseBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// appendResponse appends r with a newline, as json.Encoder.Encode does, and
// reports whether it could.
func appendResponse(buf *bytes.Buffer, r mcp.JSONRPCResponse) bool {
	enc := json.NewEncoder(buf)
	buf.WriteString(`{"jsonrpc":"2.0","id":`)
	if !encodeValue(buf, enc, r.ID) {
		return false
	}
	buf.WriteString(`,"result":`)
	switch res := r.Result.(type) {
	case *mcp.CallToolResult:
		if res == nil || !appendToolResult(buf, enc, res) {
			return false
		}
	case mcp.CallToolResult:
		if !appendToolResult(buf, enc, &res) {
			return false
		}
	default:
		if !encodeValue(buf, enc, r.Result) {
			return false
		}
	}
	buf.WriteString("}\n")
	return true
}

// appendToolResult appends res as mcp.CallToolResult.MarshalJSON and
// encoding/json's compaction of it would, and reports whether it could:
// the members a multi-round-trip result or a raw structured content adds
// are left to the library.
func appendToolResult(buf *bytes.Buffer, enc *json.Encoder, res *mcp.CallToolResult) bool {
	if len(res.InputRequests) > 0 || res.RequestState != "" || len(res.RawStructuredContent) > 0 {
		return false
	}
	// The members in the order encoding/json sorts the map's keys.
	buf.WriteByte('{')
	if res.Meta != nil {
		buf.WriteString(`"_meta":`)
		if !encodeValue(buf, enc, res.Meta) {
			return false
		}
		buf.WriteByte(',')
	}
	buf.WriteString(`"content":[`)
	for i, c := range res.Content {
		if i > 0 {
			buf.WriteByte(',')
		}
		if c == nil {
			buf.WriteString("null")
		} else if !encodeValue(buf, enc, c) {
			return false
		}
	}
	buf.WriteByte(']')
	if res.IsError {
		buf.WriteString(`,"isError":true`)
	}
	if res.ResultType != "" {
		buf.WriteString(`,"resultType":`)
		if !encodeValue(buf, enc, res.ResultType) {
			return false
		}
	}
	if res.StructuredContent != nil {
		buf.WriteString(`,"structuredContent":`)
		if raw, ok := res.StructuredContent.(json.RawMessage); ok && compactAlready(raw) {
			buf.Write(raw)
		} else if !encodeValue(buf, enc, res.StructuredContent) {
			return false
		}
	}
	buf.WriteByte('}')
	return true
}

// encodeValue appends v as json.Marshal encodes it (enc escapes HTML, as
// json.Marshal does), and reports whether it could.
func encodeValue(buf *bytes.Buffer, enc *json.Encoder, v any) bool {
	if enc.Encode(v) != nil {
		return false
	}
	buf.Truncate(buf.Len() - 1) // Encode's newline
	return true
}

// compactAlready reports whether raw is JSON as encoding/json writes it:
// nothing that compacting with HTML escaping would change (whitespace
// between tokens; <, >, & and U+2028, U+2029 anywhere), so that the
// library's pass over it would copy it unchanged. It does not validate raw:
// the structured content of this server's tools is made by json.Marshal
// (server.successResult), which is why it is compact; for any other
// content, invalid JSON makes the library's encoding fail where this
// copies it, which is why only a direct read's result takes this path.
func compactAlready(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '<' || c == '>' || c == '&' || c < 0x20:
			return false
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && raw[i+2]&^1 == 0xA8:
			return false
		case inString && c == '\\':
			i++ // the escaped byte is never one of the above
		case c == '"':
			inString = !inString
		case !inString && c == ' ':
			return false
		}
	}
	return !inString
}
