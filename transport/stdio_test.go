package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcptransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// mcp-go keeps one stdio session per process, so the stdio tests run one
// after another and never in parallel.

func TestStdioRoundTrip(t *testing.T) {
	serverIn, clientOut := io.Pipe()
	clientIn, serverOut := io.Pipe()
	logger, logs := newTestLogger()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- ServeStdio(ctx, newTestMCPServer(), serverIn, serverOut, logger)
		_ = serverOut.Close()
	}()

	tr := mcptransport.NewIO(clientIn, clientOut, io.NopCloser(strings.NewReader("")))
	c := client.NewClient(tr)
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := c.Start(cctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = legacyVersion
	req.Params.ClientInfo = mcp.Implementation{Name: "stdio-test", Version: "1"}
	if _, err := c.Initialize(cctx, req); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	if names := listTools(t, c); !slices.Equal(names, []string{"echo"}) {
		t.Errorf("tools = %v", names)
	}
	if msg, who := callEcho(t, c, "hi"); msg != "hi" || who != "stdio/write/stdio" {
		t.Errorf("echo = %q, %q", msg, who)
	}

	// Closing the input ends ServeStdio without error.
	_ = c.Close() // closes clientOut, so the server sees EOF
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeStdio = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeStdio did not return after EOF")
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

// Everything written to out is a JSON-RPC message, including the answer
// to garbage input; ServeStdio returns nil when ctx ends.
func TestStdioOutputIsOnlyMCP(t *testing.T) {
	serverIn, clientOut := io.Pipe()
	clientIn, serverOut := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeStdio(ctx, newTestMCPServer(), serverIn, serverOut, nil)
	}()

	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(clientIn)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	send := func(s string) {
		if _, err := io.WriteString(clientOut, s+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	next := func() map[string]any {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("output closed")
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["jsonrpc"] != "2.0" {
				t.Fatalf("non-MCP output line %q", l)
			}
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("no output")
			return nil
		}
	}

	send("this is not json")
	if m := next(); m["error"] == nil {
		t.Errorf("garbage answered with %v", m)
	}
	send(initializeBody(legacyVersion))
	if m := next(); m["result"] == nil {
		t.Errorf("initialize answered with %v", m)
	}
	send(rpc(0, "notifications/initialized", nil))
	send(rpc(7, "ping", nil))
	if m := next(); m["id"] != float64(7) {
		t.Errorf("ping answered with %v", m)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeStdio after cancel = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeStdio did not return after cancel")
	}
	_ = clientOut.Close() // releases mcp-go's reader goroutine
	_ = serverOut.Close()
}
