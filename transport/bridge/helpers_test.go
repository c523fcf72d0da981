package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/transport"
)

// newEchoServer returns an MCP server with one tool, echo, that answers
// its message and, as a second text, the caller the transport set.
func newEchoServer() *mcpserver.MCPServer {
	s := mcpserver.NewMCPServer("bridge-test", "1", mcpserver.WithToolCapabilities(false), mcpserver.WithLogging())
	echo := mcp.NewTool("echo", mcp.WithString("message", mcp.Required()))
	s.AddTool(echo, func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		who := "none"
		if c, ok := transport.CallerFrom(ctx); ok {
			who = fmt.Sprintf("%s/%s/%s", c.KeyName, c.Scope, c.Transport)
		}
		return mcp.NewToolResultText(req.GetString("message", "") + "\n" + who), nil
	})
	return s
}

// callEcho calls the echo tool and returns its message and caller.
func callEcho(t *testing.T, c *client.Client, msg string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "echo"
	req.Params.Arguments = map[string]any{"message": msg}
	res, err := c.CallTool(ctx, req)
	if err != nil || res.IsError || len(res.Content) != 1 {
		t.Fatalf("tools/call: %+v, %v", res, err)
	}
	text, ok := mcp.AsTextContent(res.Content[0])
	if !ok {
		t.Fatalf("content is %T", res.Content[0])
	}
	got, who, _ := strings.Cut(text.Text, "\n")
	return got, who
}
