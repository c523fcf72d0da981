package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	mcptransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

const (
	writeKey = "write-key-0123456789abcdef"
	readKey  = "read-key-0123456789abcdef"
	// legacyVersion is the last protocol version with sessions.
	legacyVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
)

var testKeys = []APIKey{
	{Name: "ops", Key: writeKey, Scope: ScopeWrite},
	{Name: "viewer", Key: readKey, Scope: ScopeRead},
}

// newTestMCPServer returns a tiny MCP server with one tool, echo, that
// answers its message and, as a second text, the caller the transport set.
func newTestMCPServer() *mcpserver.MCPServer {
	s := mcpserver.NewMCPServer("voicedock-test", "0.0.1",
		mcpserver.WithToolCapabilities(false),
		mcpserver.WithLogging(),
	)
	echo := mcp.NewTool("echo",
		mcp.WithDescription("Echo a message back"),
		mcp.WithString("message", mcp.Required(), mcp.Description("text to echo")),
	)
	s.AddTool(echo, func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		msg, err := req.RequireString("message")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		who := "none"
		if c, ok := CallerFrom(ctx); ok {
			who = fmt.Sprintf("%s/%s/%s", c.KeyName, c.Scope, c.Transport)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{
			mcp.NewTextContent(msg),
			mcp.NewTextContent(who),
		}}, nil
	})
	return s
}

// testLogger writes through t.Log and remembers everything it wrote, so
// tests can check that no secret was logged.
type testLogger struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newTestLogger() (*slog.Logger, *testLogger) {
	tl := &testLogger{}
	return slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: slog.LevelDebug})), tl
}

// testServer is a running ServeHTTP.
type testServer struct {
	url     string // the /mcp endpoint
	base    string // scheme://host:port
	cancel  context.CancelFunc
	done    chan error
	logs    *testLogger
	stopped bool
}

// startHTTP runs ServeHTTP on 127.0.0.1:0 until the test ends.
func startHTTP(t *testing.T, cfg HTTPConfig) *testServer {
	t.Helper()
	return startHTTPServer(t, newTestMCPServer(), cfg)
}

// startHTTPServer is startHTTP with a given MCP server.
func startHTTPServer(t *testing.T, s *mcpserver.MCPServer, cfg HTTPConfig) *testServer {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	logger, logs := newTestLogger()
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan net.Addr, 1)
	ts := &testServer{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() {
		ts.done <- ServeHTTP(ctx, s, cfg, logger, func(a net.Addr) { addrCh <- a })
	}()
	select {
	case a := <-addrCh:
		ts.base = "http://" + a.String()
		ts.url = ts.base + MCPPath
	case err := <-ts.done:
		cancel()
		t.Fatalf("ServeHTTP: %v", err)
	}
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop cancels the server and waits for ServeHTTP to return.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	if ts.stopped {
		return
	}
	ts.stopped = true
	ts.cancel()
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("ServeHTTP returned %v", err)
		}
	case <-time.After(2 * shutdownTimeout):
		t.Errorf("ServeHTTP did not return after cancel")
	}
	for _, secret := range []string{writeKey, readKey} {
		if strings.Contains(ts.logs.String(), secret) {
			t.Errorf("log contains an API key:\n%s", ts.logs.String())
		}
	}
}

// newHTTPClient connects an mcp-go client. version "" lets the client pick
// the newest (sessionless) era; legacyVersion pins the session-based era.
func newHTTPClient(t *testing.T, url, key, version string) (*client.Client, *mcp.InitializeResult, error) {
	t.Helper()
	var opts []mcptransport.StreamableHTTPCOption
	if key != "" {
		opts = append(opts, mcptransport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + key}))
	}
	c, err := client.NewStreamableHttpClient(url, opts...)
	if err != nil {
		t.Fatalf("NewStreamableHttpClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = version
	req.Params.ClientInfo = mcp.Implementation{Name: "transport-test", Version: "1"}
	res, err := c.Initialize(ctx, req)
	return c, res, err
}

// callEcho calls the echo tool and returns its two texts.
func callEcho(t *testing.T, c *client.Client, msg string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "echo"
	req.Params.Arguments = map[string]any{"message": msg}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	if res.IsError || len(res.Content) != 2 {
		t.Fatalf("tools/call result: %+v", res)
	}
	texts := make([]string, 2)
	for i, ct := range res.Content {
		tc, ok := mcp.AsTextContent(ct)
		if !ok {
			t.Fatalf("content %d is %T", i, ct)
		}
		texts[i] = tc.Text
	}
	return texts[0], texts[1]
}

func listTools(t *testing.T, c *client.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// response is a raw HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one raw request. body may be a string, []byte or io.Reader.
func do(t *testing.T, method, url string, header map[string]string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		t.Fatalf("bad body type %T", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func rpc(id int, method string, params any) string {
	m := map[string]any{"jsonrpc": "2.0", "method": method}
	if id != 0 {
		m["id"] = id
	}
	if params != nil {
		m["params"] = params
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func initializeBody(version string) string {
	return rpc(1, "initialize", map[string]any{
		"protocolVersion": version,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "raw", "version": "1"},
	})
}

// openSession initializes a session-based-era session with raw requests
// and returns its id.
func openSession(t *testing.T, url string, auth map[string]string) string {
	t.Helper()
	r := do(t, http.MethodPost, url, auth, initializeBody(legacyVersion))
	if r.status != http.StatusOK {
		t.Fatalf("initialize: %d %s", r.status, r.body)
	}
	id := r.header.Get(mcpserver.HeaderKeySessionID)
	if id == "" {
		t.Fatalf("initialize returned no session id")
	}
	h := sessionHeaders(auth, id)
	if r := do(t, http.MethodPost, url, h, rpc(0, "notifications/initialized", nil)); r.status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d %s", r.status, r.body)
	}
	return id
}

func sessionHeaders(base map[string]string, id string) map[string]string {
	h := map[string]string{mcpserver.HeaderKeySessionID: id, mcp.HeaderProtocolVersion: legacyVersion}
	for k, v := range base {
		h[k] = v
	}
	return h
}

func bearer(key string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + key}
}

// apiError decodes the transport's {"error":{...}} body.
func apiError(t *testing.T, r response) (code, message string) {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q", ct)
	}
	return body.Error.Code, body.Error.Message
}

// rpcError decodes a JSON-RPC error body.
func rpcError(t *testing.T, r response) (int, string) {
	t.Helper()
	var body struct {
		JSONRPC string
		Error   struct {
			Code    int
			Message string
		}
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.JSONRPC != "2.0" {
		t.Fatalf("JSON-RPC error body %q: %v", r.body, err)
	}
	return body.Error.Code, body.Error.Message
}
