package transport

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzParseMessage: whatever body a client POSTs, the transport's one
// decode reads the tool name and protocol version as encoding/json reads
// them, so that the direct path and mcp-go never disagree on which tool a
// request names.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_call","arguments":{"call_id":"c"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`))
	f.Add([]byte(`{"id":"a","method":"tools/call","params":{"name":"get\u005fcall"}}`))
	f.Add([]byte(`{"params":{"name":"\u2028<&>","_meta":{"progressToken":null}}}`))
	f.Add([]byte(`[{"method":"ping"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, ok := parseMessage(body)
		if !ok {
			return
		}
		var want struct {
			Params struct {
				Name any `json:"name"`
			} `json:"params"`
		}
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("parseMessage accepted what encoding/json refuses: %v", err)
		}
		name, isString := want.Params.Name.(string)
		if !isString {
			name = ""
		}
		// A name with invalid UTF-8 is one no tool has, on either path.
		if got := m.toolName(); got != name && utf8.ValidString(got) {
			t.Fatalf("tool name %q, encoding/json reads %q", got, name)
		}
		_ = m.modern(nil)
	})
}
