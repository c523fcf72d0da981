package transport

import (
	"bytes"
	"encoding/json"
	"testing"
)

// compactAlready says yes only for JSON that encoding/json's compaction
// (with HTML escaping, as inside json.Marshal) leaves unchanged, and yes
// for whatever json.Marshal writes.
func TestCompactAlready(t *testing.T) {
	marshalled := []any{
		map[string]any{"call": map[string]any{"id": "a b", "error": `say "<hi> & bye"` + "\u2028\u2029\t\n é 🙂 \\ /", "n": 1.5, "ok": true, "none": nil}},
		[]any{"", " ", []any{}, map[string]any{}},
		"\x00\x1f\x7f",
		"invalid \xff utf-8",
	}
	for _, v := range marshalled {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !compactAlready(b) {
			t.Errorf("json.Marshal wrote %s: not compact already", b)
		}
	}
	for _, raw := range []string{
		`{"a":1}`, `{"a":"x y"}`, `["\"",1]`, `{"a":"\\"}`, `"\u003c"`,
		`{"a": 1}`, "{\"a\":1}\n", "{\n\"a\":1}", `{"a":"<"}`, `{"a":"&"}`, `{"a":">"}`,
		"{\"a\":\"\u2028\"}", "{\"a\":\"\u2029\"}", "{\"a\":\"\u2027\"}", "\t1", `{"a":"x\"}`, ``,
	} {
		var compacted bytes.Buffer
		err := json.Compact(&compacted, []byte(raw))
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, compacted.Bytes())
		unchanged := err == nil && escaped.String() == raw
		if got := compactAlready([]byte(raw)); got && !unchanged {
			t.Errorf("compactAlready(%q) = true, but compacting gives %q (%v)", raw, escaped.String(), err)
		} else if !got && unchanged {
			t.Errorf("compactAlready(%q) = false for JSON compacting leaves as it is", raw)
		}
	}
}
