package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

type scopeTestOutput struct {
	OK bool `json:"ok"`
}

// scopeTools are a read-only tool and a writing one, counting their runs.
func scopeTools(runs *atomic.Int32) []tools.Tool {
	call := func(context.Context, json.RawMessage) (tools.Result, error) {
		runs.Add(1)
		return tools.Result{Summary: "ok", Structured: scopeTestOutput{OK: true}}, nil
	}
	return []tools.Tool{
		{Name: "get_thing", Hints: tools.Hints{ReadOnly: true, Idempotent: true}, Input: &struct{}{}, Output: &scopeTestOutput{}, Call: call},
		{Name: "change_thing", Hints: tools.Hints{Destructive: true}, Input: &struct{}{}, Output: &scopeTestOutput{}, Call: call},
	}
}

func inProcessClient(t *testing.T, list []tools.Tool) *client.Client {
	t.Helper()
	s, err := New(list, Options{Name: "scope-test", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewInProcessClient(s.MCP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "scope-test", Version: "1"}
	if _, err := c.Initialize(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	return c
}

func toolNames(t *testing.T, ctx context.Context, c *client.Client) []string {
	t.Helper()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

func callTool(ctx context.Context, c *client.Client, name string) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = map[string]any{}
	return c.CallTool(ctx, req)
}

// TestReadScopeSeesAndRunsOnlyReadOnlyTools: the actor the transport sets
// decides. A read actor lists only the read-only tools and cannot run a
// writing one; a write actor, and a request without an actor (in-process
// use), can do everything.
func TestReadScopeSeesAndRunsOnlyReadOnlyTools(t *testing.T) {
	var runs atomic.Int32
	c := inProcessClient(t, scopeTools(&runs))
	read := core.WithActor(t.Context(), core.Actor{Name: "viewer", Scope: "read"})
	write := core.WithActor(t.Context(), core.Actor{Name: "ops", Scope: ScopeWrite})

	if got := toolNames(t, read, c); !slices.Equal(got, []string{"get_thing"}) {
		t.Errorf("read actor lists %v", got)
	}
	for name, ctx := range map[string]context.Context{"write actor": write, "no actor": t.Context()} {
		if got := toolNames(t, ctx, c); !slices.Equal(got, []string{"change_thing", "get_thing"}) {
			t.Errorf("%s lists %v", name, got)
		}
	}

	if res, err := callTool(read, c, "get_thing"); err != nil || res.IsError {
		t.Fatalf("read actor, read-only tool: %v %+v", err, res)
	}
	// The filter hides the writing tool at call time too (mcp-go answers
	// it as an unknown tool); it never runs.
	before := runs.Load()
	if res, err := callTool(read, c, "change_thing"); err == nil && !res.IsError {
		t.Fatalf("read actor ran a writing tool: %+v", res)
	}
	if runs.Load() != before {
		t.Fatal("the writing tool ran for a read actor")
	}
	if res, err := callTool(write, c, "change_thing"); err != nil || res.IsError {
		t.Fatalf("write actor, writing tool: %v %+v", err, res)
	}
}

// TestToolWrapperForbidsReadScope is the defence behind the filter: the
// wrapper of a writing tool answers a read actor with the tool error
// forbidden, and does not run the tool.
func TestToolWrapperForbidsReadScope(t *testing.T) {
	var runs atomic.Int32
	list := scopeTools(&runs)
	logger := slog.New(slog.DiscardHandler)
	req := mcp.CallToolRequest{}
	req.Params.Name = "change_thing"
	req.Params.Arguments = map[string]any{}

	for _, scope := range []string{"read", ""} {
		st, err := serverTool(list[1], logger, nil, nil, newStateSigner(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := core.WithActor(t.Context(), core.Actor{Name: "viewer", Scope: scope})
		res, err := st.Handler(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := ErrorOf(res)
		if !res.IsError || body.Code != core.CodeForbidden {
			t.Errorf("scope %q: %+v", scope, res)
		}
		if text := res.Content[0].(mcp.TextContent).Text; text[:len("forbidden: ")] != "forbidden: " {
			t.Errorf("scope %q: text %q", scope, text)
		}
	}
	if runs.Load() != 0 {
		t.Fatalf("the writing tool ran %d times for read actors", runs.Load())
	}

	// A read-only tool runs for a read actor; a writing one for a write actor.
	readCtx := core.WithActor(t.Context(), core.Actor{Name: "viewer", Scope: "read"})
	writeCtx := core.WithActor(t.Context(), core.Actor{Name: "ops", Scope: ScopeWrite})
	for _, tc := range []struct {
		tool tools.Tool
		ctx  context.Context
	}{{list[0], readCtx}, {list[1], writeCtx}} {
		st, err := serverTool(tc.tool, logger, nil, nil, newStateSigner(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := st.Handler(tc.ctx, req); err != nil || res.IsError {
			t.Errorf("%s: %v %+v", tc.tool.Name, err, res)
		}
	}
	if runs.Load() != 2 {
		t.Errorf("runs = %d, want 2", runs.Load())
	}
}

func TestWriteTools(t *testing.T) {
	var runs atomic.Int32
	if got := WriteTools(scopeTools(&runs)); !slices.Equal(got, []string{"change_thing"}) {
		t.Errorf("WriteTools = %v", got)
	}
	all := tools.All(tools.Deps{})
	write := WriteTools(all)
	for _, name := range []string{"transfer_call", "end_call", "create_call", "create_assistant", "delete_trunk", "retry_webhook_delivery"} {
		if !slices.Contains(write, name) {
			t.Errorf("WriteTools lacks %s", name)
		}
	}
	for _, name := range []string{"get_call", "list_calls", "list_assistants"} {
		if slices.Contains(write, name) {
			t.Errorf("WriteTools has read-only %s", name)
		}
	}
}
