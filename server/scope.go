package server

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// ScopeWrite is the actor scope that may change things; it is the
// transport's ScopeWrite (a test keeps them equal). Any other scope, read
// above all, may only use the read-only tools.
const ScopeWrite = "write"

// readOnlyActor reports whether the request's actor (core.ActorFrom, set
// by the transport from the API key) may only read: one whose scope is not
// write. A request without an actor (in-process use) may do everything.
func readOnlyActor(ctx context.Context) bool {
	a, ok := core.ActorFrom(ctx)
	return ok && a.Scope != ScopeWrite
}

// scopeFilter is the server's tool filter: a read-only actor sees, and
// can call, only the tools annotated read-only. mcp-go applies it to
// tools/list and to tools/call (a filtered tool is "not found" there).
func scopeFilter(ctx context.Context, list []mcp.Tool) []mcp.Tool {
	if !readOnlyActor(ctx) {
		return list
	}
	out := make([]mcp.Tool, 0, len(list))
	for _, t := range list {
		if t.Annotations.ReadOnlyHint != nil && *t.Annotations.ReadOnlyHint {
			out = append(out, t)
		}
	}
	return out
}

// forbidWrite is the tool wrapper's own check, behind the filter: a tool
// that is not read-only refuses a read-only actor.
func forbidWrite(ctx context.Context, t tools.Tool) error {
	if t.Hints.ReadOnly || !readOnlyActor(ctx) {
		return nil
	}
	return core.Errorf(core.CodeForbidden, "this API key is read-only; %s changes something and needs a write key", t.Name)
}

// WriteTools names the tools that change something (not read-only): the
// ones a read key may not call. The HTTP transport refuses such calls
// itself (transport.HTTPConfig.WriteTools).
func WriteTools(list []tools.Tool) []string {
	var out []string
	for _, t := range list {
		if !t.Hints.ReadOnly {
			out = append(out, t.Name)
		}
	}
	return out
}
