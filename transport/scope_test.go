package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/tools"
)

type thingOutput struct {
	OK bool `json:"ok"`
}

// scopedServer is the real voicedock MCP server (its scope filter and tool
// wrapper) with a read-only tool and a writing one that count their runs.
func scopedServer(t *testing.T) (*mcpserver.MCPServer, []tools.Tool, *atomic.Int32) {
	t.Helper()
	runs := &atomic.Int32{}
	call := func(context.Context, json.RawMessage) (tools.Result, error) {
		runs.Add(1)
		return tools.Result{Summary: "ok", Structured: thingOutput{OK: true}}, nil
	}
	list := []tools.Tool{
		{Name: "get_thing", Hints: tools.Hints{ReadOnly: true}, Input: &struct{}{}, Output: &thingOutput{}, Call: call},
		{Name: "change_thing", Hints: tools.Hints{Destructive: true}, Input: &struct{}{}, Output: &thingOutput{}, Call: call},
	}
	s, err := server.New(list, server.Options{Name: "voicedock-test", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return s.MCP, list, runs
}

func callThing(c interface {
	CallTool(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error)
}, name string) (*mcp.CallToolResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = map[string]any{}
	return c.CallTool(ctx, req)
}

// TestHTTPReadKeyScope: with an mcp-go client in both protocol eras, a
// read key lists only the read-only tools and runs them; its call of a
// writing tool is a 403 before the server; a write key does everything.
func TestHTTPReadKeyScope(t *testing.T) {
	s, list, runs := scopedServer(t)
	ts := startHTTPServer(t, s, HTTPConfig{Keys: testKeys, WriteTools: server.WriteTools(list)})
	for _, version := range []string{legacyVersion, ""} {
		t.Run("protocol="+version, func(t *testing.T) {
			reader, _, err := newHTTPClient(t, ts.url, readKey, version)
			if err != nil {
				t.Fatal(err)
			}
			writer, _, err := newHTTPClient(t, ts.url, writeKey, version)
			if err != nil {
				t.Fatal(err)
			}
			if got := listTools(t, reader); !slices.Equal(got, []string{"get_thing"}) {
				t.Errorf("read key lists %v", got)
			}
			got := listTools(t, writer)
			slices.Sort(got)
			if !slices.Equal(got, []string{"change_thing", "get_thing"}) {
				t.Errorf("write key lists %v", got)
			}
			before := runs.Load()
			if res, err := callThing(reader, "get_thing"); err != nil || res.IsError {
				t.Fatalf("read key, read-only tool: %v %+v", err, res)
			}
			_, err = callThing(reader, "change_thing")
			if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), readOnlyKeyMessage) {
				t.Fatalf("read key, writing tool: %v", err)
			}
			if res, err := callThing(writer, "change_thing"); err != nil || res.IsError {
				t.Fatalf("write key, writing tool: %v %+v", err, res)
			}
			if n := runs.Load() - before; n != 2 {
				t.Errorf("tools ran %d times, want 2 (the read key's write never)", n)
			}
		})
	}
}

// TestHTTPReadKeyForbiddenBody checks the raw 403 and the shapes of
// tools/call a read key might try: batches, unreadable names, duplicate
// keys (encoding/json keeps the last, as mcp-go does).
func TestHTTPReadKeyForbiddenBody(t *testing.T) {
	s, list, runs := scopedServer(t)
	ts := startHTTPServer(t, s, HTTPConfig{Keys: testKeys, WriteTools: server.WriteTools(list)})
	h := sessionHeaders(bearer(readKey), openSession(t, ts.url, bearer(readKey)))
	call := func(id int, name any) map[string]any {
		return map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": map[string]any{"name": name, "arguments": map[string]any{}}}
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	forbidden := map[string]string{
		"single":         js(call(1, "change_thing")),
		"batch":          js([]any{call(1, "get_thing"), call(2, "change_thing")}),
		"name a number":  js(call(1, 5)),
		"no params":      `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`,
		"duplicate name": `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_thing","name":"change_thing"}}`,
		"key case":       `{"jsonrpc":"2.0","id":1,"METHOD":"tools/call","params":{"NAME":"change_thing"}}`,
	}
	for name, body := range forbidden {
		r := do(t, http.MethodPost, ts.url, h, body)
		if r.status != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		if code, msg := apiError(t, r); code != "forbidden" || msg != readOnlyKeyMessage {
			t.Errorf("%s: body %s", name, r.body)
		}
		if r.header.Get(headerRateLimit) == "" {
			t.Errorf("%s: the 403 lacks the rate limit headers", name)
		}
	}
	if string(do(t, http.MethodPost, ts.url, h, js(call(1, "change_thing"))).body) != `{"error":{"code":"forbidden","message":"This API key is read-only"}}`+"\n" {
		t.Error("403 body differs from the reference's shape")
	}

	// What a read key may send goes through.
	for name, body := range map[string]string{
		"read-only tool": js(call(7, "get_thing")),
		"tools/list":     rpc(8, "tools/list", nil),
	} {
		if r := do(t, http.MethodPost, ts.url, h, body); r.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// A batch of reads is not refused for scope; mcp-go v1.2.1 refuses
	// batches as such.
	if r := do(t, http.MethodPost, ts.url, h, js([]any{call(1, "get_thing")})); r.status == http.StatusForbidden {
		t.Errorf("batch of reads: 403")
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("tools ran %d times, want 1 (get_thing)", n)
	}
}

// TestHTTPReadKeyServerDefence: without WriteTools the transport lets the
// call through, and the server refuses it itself.
func TestHTTPReadKeyServerDefence(t *testing.T) {
	s, _, runs := scopedServer(t)
	ts := startHTTPServer(t, s, HTTPConfig{Keys: testKeys})
	reader, _, err := newHTTPClient(t, ts.url, readKey, legacyVersion)
	if err != nil {
		t.Fatal(err)
	}
	res, err := callThing(reader, "change_thing")
	if err == nil && !res.IsError {
		t.Fatalf("read key ran a writing tool: %+v", res)
	}
	if err != nil && strings.Contains(err.Error(), "403") {
		t.Fatalf("the transport refused without WriteTools: %v", err)
	}
	if runs.Load() != 0 {
		t.Fatal("the writing tool ran")
	}
}

func TestScopeNamesAgree(t *testing.T) {
	if server.ScopeWrite != ScopeWrite {
		t.Fatalf("mcpserver.ScopeWrite %q != transport.ScopeWrite %q", server.ScopeWrite, ScopeWrite)
	}
}
