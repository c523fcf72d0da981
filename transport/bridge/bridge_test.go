package bridge

import (
	"bufio"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcptransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/transport"
)

// startBridge serves s on a Unix socket and connects an mcp-go stdio
// client to it through Run. It returns the client and Run's result.
func startBridge(t testing.TB, s *mcpserver.MCPServer, keepAlive time.Duration) (*client.Client, <-chan error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- transport.ServeUnix(ctx, s, sock, transport.HTTPConfig{RateLimitPerMinute: -1}, nil, func(net.Addr) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-served:
		t.Fatalf("ServeUnix: %v", err)
	}
	t.Cleanup(func() { cancel(); <-served })

	toBridge, clientOut := io.Pipe()
	clientIn, fromBridge := io.Pipe()
	bridged := make(chan error, 1)
	go func() {
		bridged <- Run(ctx, Config{URL: "http://localhost/mcp", Client: UnixClient(sock), keepAlive: keepAlive}, toBridge, fromBridge, nil)
		fromBridge.Close()
	}()
	c := client.NewClient(mcptransport.NewIO(clientIn, clientOut, io.NopCloser(strings.NewReader(""))), client.WithProtocolVersion("2025-11-25"))
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-11-25"
	req.Params.ClientInfo = mcp.Implementation{Name: "bridge-test", Version: "1"}
	if _, err := c.Initialize(t.Context(), req); err != nil {
		t.Fatalf("initialize through the bridge: %v", err)
	}
	return c, bridged
}

// TestBridgeKeepAlive: an idle bridge pings the server, so its session is
// not ended as idle, and the pings' answers do not reach the client.
func TestBridgeKeepAlive(t *testing.T) {
	pings := make(chan struct{}, 16)
	hooks := &mcpserver.Hooks{}
	hooks.AddBeforePing(func(context.Context, any, *mcp.PingRequest) {
		select {
		case pings <- struct{}{}:
		default:
		}
	})
	s := newEchoServer()
	mcpserver.WithHooks(hooks)(s)
	c, _ := startBridge(t, s, 10*time.Millisecond)
	unexpected := make(chan mcp.JSONRPCNotification, 1)
	c.OnNotification(func(n mcp.JSONRPCNotification) { unexpected <- n })
	for range 3 {
		select {
		case <-pings:
		case <-time.After(10 * time.Second):
			t.Fatal("an idle bridge sent no keep-alive ping")
		}
	}
	if got, who := callEcho(t, c, "still here"); got != "still here" || who != "socket/write/socket" {
		t.Errorf("echo after keep-alives: %q from %q", got, who)
	}
	select {
	case n := <-unexpected:
		t.Errorf("the client got %v", n)
	default:
	}
}

// TestBridgeServerGone: when the server shuts down, Run returns an
// error naming it instead of waiting for ever.
func TestBridgeServerGone(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- transport.ServeUnix(ctx, newEchoServer(), sock, transport.HTTPConfig{}, nil, func(net.Addr) { close(ready) })
	}()
	<-ready
	in, w := io.Pipe()
	defer w.Close()
	outR, outW := io.Pipe()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	bridged := make(chan error, 1)
	go func() {
		bridged <- Run(t.Context(), Config{URL: "http://localhost/mcp", Client: UnixClient(sock), Server: "the test server"}, in, outW, nil)
		outW.Close()
	}()
	for _, msg := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"info"}}`,
	} {
		if _, err := io.WriteString(w, msg+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{`"id":1`, `"id":2`} {
		select {
		case l := <-lines:
			if !strings.Contains(l, id) {
				t.Fatalf("bridge wrote %s, want the answer with %s", l, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer with %s", id)
		}
	}
	// The listening stream opens after setLevel; the server's shutdown
	// ends it and the session, and the bridge gives up.
	cancel()
	<-served
	select {
	case err := <-bridged:
		if err == nil || !strings.Contains(err.Error(), "the test server") {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still runs after the server has gone")
	}
}

// BenchmarkBridgeCall is a tools/call from a stdio client through the
// bridge and the Unix socket, as an attached agent makes it.
func BenchmarkBridgeCall(b *testing.B) {
	c, _ := startBridge(b, newEchoServer(), 0)
	benchmarkEcho(b, c)
}

// BenchmarkOwnerSocketCall is the same call from an HTTP client straight
// to the Unix socket: the bridge's cost is the difference.
func BenchmarkOwnerSocketCall(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- transport.ServeUnix(ctx, newEchoServer(), sock, transport.HTTPConfig{RateLimitPerMinute: -1}, nil, func(net.Addr) { close(ready) })
	}()
	<-ready
	b.Cleanup(func() { cancel(); <-served })
	tr, err := mcptransport.NewStreamableHTTP("http://localhost/mcp", mcptransport.WithHTTPBasicClient(UnixClient(sock)))
	if err != nil {
		b.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion("2025-11-25"))
	b.Cleanup(func() { c.Close() })
	if err := c.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-11-25"
	req.Params.ClientInfo = mcp.Implementation{Name: "bench", Version: "1"}
	if _, err := c.Initialize(b.Context(), req); err != nil {
		b.Fatal(err)
	}
	benchmarkEcho(b, c)
}

func benchmarkEcho(b *testing.B, c *client.Client) {
	req := mcp.CallToolRequest{}
	req.Params.Name = "echo"
	req.Params.Arguments = map[string]any{"message": "hello"}
	for b.Loop() {
		if _, err := c.CallTool(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}
