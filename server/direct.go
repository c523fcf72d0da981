package server

import "github.com/voicedock/voicedock/tools"

// DirectTools names the tools the HTTP transport may hand to the MCP server
// without mcp-go's streamable HTTP request machinery
// (transport.HTTPConfig.DirectTools): the read-only tools that do not run
// as tasks. Those only read and answer: they send no progress and ask the
// client nothing, so their call has nothing to stream.
func DirectTools(list []tools.Tool) []string {
	var out []string
	for _, t := range list {
		if t.Hints.ReadOnly && !t.Hints.Waits {
			out = append(out, t.Name)
		}
	}
	return out
}
