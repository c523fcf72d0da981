package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// queueSession is a client session whose notification queue holds one.
type queueSession struct{ ch chan mcp.JSONRPCNotification }

func (s *queueSession) Initialize()                                         {}
func (s *queueSession) Initialized() bool                                   { return true }
func (s *queueSession) NotificationChannel() chan<- mcp.JSONRPCNotification { return s.ch }
func (s *queueSession) SessionID() string                                   { return "queue" }

// stepsTool runs a tools/call on srv whose handler reports the given
// progress steps through progressReporter, with ctx as the request's; it
// returns when the handler has.
func stepsTool(ctx context.Context, srv *mcpserver.MCPServer, steps ...string) {
	srv.AddTool(mcp.NewTool("steps"), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		progress := progressReporter(ctx, req, slog.New(slog.DiscardHandler))
		for i, s := range steps {
			progress(float64(i+1), 5, s)
		}
		return mcp.NewToolResultText("done"), nil
	})
	srv.HandleMessage(ctx, []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"steps","_meta":{"progressToken":"tok"}}}`))
}

// TestProgressWaitsForRoom: a progress step that finds the session's
// notification queue full (as under load, behind other notifications) is
// delivered once there is room, not dropped.
func TestProgressWaitsForRoom(t *testing.T) {
	blocked := make(chan struct{}, 100)
	hooks := &mcpserver.Hooks{}
	hooks.AddOnError(func(context.Context, any, mcp.MCPMethod, any, error) {
		select {
		case blocked <- struct{}{}:
		default:
		}
	})
	srv := mcpserver.NewMCPServer("test", "1", mcpserver.WithHooks(hooks))
	sess := &queueSession{ch: make(chan mcp.JSONRPCNotification, 1)}
	sess.ch <- mcp.JSONRPCNotification{} // another notification fills the queue
	ctx := srv.WithContext(t.Context(), sess)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		stepsTool(ctx, srv, "requested", "accepted")
	}()
	select {
	case <-blocked: // the first step found the queue full
	case <-time.After(5 * time.Second):
		t.Fatal("the first step never found the queue full")
	}
	<-sess.ch
	for _, want := range []string{"requested", "accepted"} {
		select {
		case n := <-sess.ch:
			if got := n.Params.AdditionalFields["message"]; got != want {
				t.Fatalf("progress %v, want %s", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("progress %q never queued", want)
		}
	}
	<-sent
}

// TestProgressGivesUpWithTheRequest: a step waiting for room stops
// waiting when the request ends.
func TestProgressGivesUpWithTheRequest(t *testing.T) {
	srv := mcpserver.NewMCPServer("test", "1")
	sess := &queueSession{ch: make(chan mcp.JSONRPCNotification, 1)}
	ctx, cancel := context.WithCancel(srv.WithContext(t.Context(), sess))
	done := make(chan struct{})
	go func() {
		defer close(done)
		stepsTool(ctx, srv, "requested", "accepted")
	}()
	select {
	case <-sess.ch: // the first step; the second waits for room
	case <-time.After(5 * time.Second):
		t.Fatal("no progress queued")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("progress kept waiting after the request ended")
	}
}
