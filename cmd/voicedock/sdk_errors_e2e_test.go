package main

import "github.com/mark3labs/mcp-go/mcp"

// withToolError puts an error result's coded error, which the server sends
// in _meta["voicedock/error"] (never as structuredContent: that must match
// the tool's output schema), under structured["error"], where the tests
// read it.
func withToolError(res *mcp.CallToolResult, structured map[string]any) map[string]any {
	if res == nil || !res.IsError || res.Meta == nil {
		return structured
	}
	body, ok := res.Meta.AdditionalFields["voicedock/error"].(map[string]any)
	if !ok {
		return structured
	}
	if structured == nil {
		structured = map[string]any{}
	}
	structured["error"] = body
	return structured
}
