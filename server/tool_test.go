package server

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// TestToolDefinitionEncodes shows why Tool builds a struct literal rather
// than starting from mcp.NewTool: NewTool fills InputSchema, and mcp-go
// (v1.6.0 as v1.2.1) refuses to encode a tool that also has
// RawInputSchema, which empties tools/list. Every tool's definition must
// encode, and the tools that wait on the phone network offer tasks.
func TestToolDefinitionEncodes(t *testing.T) {
	withBoth := mcp.NewTool("x")
	withBoth.RawInputSchema = json.RawMessage(`{"type":"object"}`)
	if _, err := json.Marshal(withBoth); err == nil {
		t.Fatal("mcp-go encodes a tool with InputSchema and RawInputSchema: Tool may use mcp.NewTool again")
	}
	waits := map[string]bool{"transfer_call": true, "test_destination": true, "create_call": true, "test_trunk": true}
	for _, tool := range tools.All(tools.Deps{}) {
		def, err := Tool(tool)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(def); err != nil {
			t.Errorf("%s: %v", tool.Name, err)
		}
		task := def.Execution != nil && def.Execution.TaskSupport == mcp.TaskSupportOptional
		if task != waits[tool.Name] {
			t.Errorf("%s: task support %v, want %v", tool.Name, task, waits[tool.Name])
		}
	}
}

// TestErrorResultShape: an error is one coded line with the code in
// _meta, and no structuredContent, which SDK clients would validate
// against the success schema.
func TestErrorResultShape(t *testing.T) {
	res := ErrorResult(t.Context(), slog.New(slog.DiscardHandler), "get_call", core.FieldError(core.CodeNotFound, "id", "call %q not found", "x"))
	if !res.IsError || res.StructuredContent != nil || len(res.Content) != 1 {
		t.Fatalf("%+v", res)
	}
	if text := res.Content[0].(mcp.TextContent).Text; text != `not_found: call "x" not found (id)` {
		t.Errorf("text %q", text)
	}
	if b, ok := ErrorOf(res); !ok || b.Code != core.CodeNotFound || b.Param != "id" {
		t.Errorf("_meta error %+v", b)
	}
	if outcome(res, nil) != "not_found" {
		t.Errorf("outcome %q", outcome(res, nil))
	}
}
