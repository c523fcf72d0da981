package llm

import (
	"testing"
	"unicode/utf8"
)

// The endpoint's answer is untrusted: decoding it never panics, and what
// it yields is bounded.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"choices":[{"message":{"role":"assistant","content":"Hello"}}]}`))
	f.Add([]byte(`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"transfer_call","arguments":"{\"destination\":\"+31612345678\"}"}}]}}]}`))
	f.Add([]byte(`{"choices":[{"message":{"refusal":"no"}}]}`))
	f.Add([]byte(`{"error":{"message":"bad"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m := errorMessage(b); !utf8.ValidString(m) || len(m) > 210 {
			t.Fatalf("error message %q", m)
		}
		reply, err := decodeResponse(b)
		if err != nil {
			return
		}
		if len(reply.ToolCalls) > maxToolCalls {
			t.Fatalf("%d tool calls", len(reply.ToolCalls))
		}
		for _, tc := range reply.ToolCalls {
			if tc.Name == "" || tc.ID == "" {
				t.Fatalf("tool call %+v", tc)
			}
		}
	})
}
