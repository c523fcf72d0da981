package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// binary is the voicedock binary built once for the end-to-end tests.
var binary string

// rtpStarts counts the servers baseEnv configured (see there).
var rtpStarts atomic.Int64

// serverBinary is a voicedock binary built with -race from this package
// before the tests (scripts/test.sh builds it beside its other builds, so
// that no compiler or linker runs beside these tests); empty, TestMain
// builds one.
var serverBinary = flag.String("server-binary", "", "a voicedock binary built with -race from this package, used instead of building one")

func TestMain(m *testing.M) {
	flag.Parse()
	defaultParallel()
	dir, err := os.MkdirTemp("", "voicedock-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "voicedock")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	if *serverBinary != "" {
		build = exec.Command("cp", *serverBinary, binary)
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build voicedock:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if err := postgresCluster.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// syncBuffer collects a child's stderr while tests read it, and wakes
// waiters on every write.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

// waitFor waits until the log has a match of re after offset from, and
// returns the match and the offset just past it.
func (b *syncBuffer) waitFor(t *testing.T, re *regexp.Regexp, from int, timeout time.Duration) ([]string, int) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		text := b.buf.String()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		if from <= len(text) {
			if loc := re.FindStringSubmatchIndex(text[from:]); loc != nil {
				m := re.FindStringSubmatch(text[from:])
				return m, from + loc[1]
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("log never matched %s; log:\n%s", re, text)
		}
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// baseEnv is a clean environment for the server: the data dir and debug
// logs, nothing inherited that could change its behaviour.
func baseEnv(dataDir string, extra ...string) []string {
	// Servers side by side all began at the bottom of the default RTP
	// range: a port one had just released, its far side still sending to
	// it, was the next one's human leg, and when the human sent nothing
	// that stray stream was learned as the leg's media (media/source.go;
	// a fresh clone's consult test heard nothing). Each server begins
	// 400 ports above the one before, over the same range.
	rtpMin := 10000 + int(rtpStarts.Add(1)%20)*400
	env := []string{
		"VOICEDOCK_RTP_PORT_MIN=" + strconv.Itoa(rtpMin),
		"VOICEDOCK_RTP_PORT_MAX=20000",
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dataDir,
		"VOICEDOCK_DATA_DIR=" + dataDir,
		"VOICEDOCK_LOG_LEVEL=debug",
		// Tests run side by side: each server takes a free SIP port.
		"VOICEDOCK_SIP_ADDR=127.0.0.1:0",
		// sipp scenarios expect exactly their messages: no background
		// OPTIONS probes unless a test asks for them (a later entry wins).
		"VOICEDOCK_TRUNK_PROBE_INTERVAL=0",
	}
	return append(env, extra...)
}

// stdioServer starts `voicedock serve --transport stdio` as an MCP client's
// subprocess and initializes the session, on the client's default (newest)
// protocol version.
func stdioServer(t *testing.T, dataDir string, env ...string) (*client.Client, *syncBuffer) {
	t.Helper()
	return stdioServerVersion(t, "", dataDir, env...)
}

// stdioServerVersion is stdioServer pinned to a protocol version ("" for
// the client's default).
func stdioServerVersion(t *testing.T, version, dataDir string, env ...string) (*client.Client, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	tr := transport.NewStdioWithOptions(binary, baseEnv(dataDir, env...), []string{"serve", "--transport", "stdio"},
		transport.WithCommandStderrWriter(stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatalf("start stdio server: %v", err)
	}
	var opts []client.ClientOption
	if version != "" {
		opts = append(opts, client.WithProtocolVersion(version))
	}
	c := client.NewClient(tr, opts...)
	t.Cleanup(func() { c.Close() })
	// Start hooks up the notification handlers (the transport is running).
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("start client: %v", err)
	}
	initialize(t, c, stderr)
	return c, stderr
}

func initialize(t *testing.T, c *client.Client, stderr *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "voicedock-e2e", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize: %v\nserver stderr:\n%s", err, stderr)
	}
}

var listeningAddr = regexp.MustCompile(`msg="mcp http listening" addr=(\S+)`)

// httpServer starts `voicedock serve --transport http` on a free loopback
// port and returns its /mcp URL once it listens.
func httpServer(t *testing.T, dataDir string, env ...string) (string, *syncBuffer) {
	t.Helper()
	url, logs, _ := httpServerProcess(t, dataDir, env...)
	return url, logs
}

// httpServerProcess is httpServer that also returns the process, for tests
// that kill it.
func httpServerProcess(t *testing.T, dataDir string, env ...string) (string, *syncBuffer, *exec.Cmd) {
	t.Helper()
	stderr := &syncBuffer{}
	cmd := exec.Command(binary, "serve", "--transport", "http", "--http-addr", "127.0.0.1:0")
	cmd.Env = baseEnv(dataDir, env...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		pw.Close()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			stderr.Write([]byte(line + "\n"))
			if m := listeningAddr.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return "http://" + addr + "/mcp", stderr, cmd
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start listening; stderr:\n%s", stderr)
	}
	return "", nil, nil
}

// httpClient connects an initialized MCP client to url.
func httpClient(t *testing.T, url string, headers map[string]string) *client.Client {
	t.Helper()
	return httpClientVersion(t, url, "", headers)
}

// httpClientVersion is httpClient pinned to a protocol version ("" for the
// client's default).
func httpClientVersion(t *testing.T, url, version string, headers map[string]string) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPHeaders(headers))
	if err != nil {
		t.Fatal(err)
	}
	var opts []client.ClientOption
	if version != "" {
		opts = append(opts, client.WithProtocolVersion(version))
	}
	c := client.NewClient(tr, opts...)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	initialize(t, c, &syncBuffer{})
	return c
}

// toolResult is a tool call's answer, decoded.
type toolResult struct {
	raw        *mcp.CallToolResult
	isError    bool
	text       string
	structured map[string]any
	json       []byte
}

// errorCode returns the code of an error result.
func (r toolResult) errorCode() string {
	e, _ := r.structured["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r toolResult) errorParam() string {
	e, _ := r.structured["error"].(map[string]any)
	p, _ := e["param"].(string)
	return p
}

// call runs a tool with arguments given as JSON text.
func call(t *testing.T, c *client.Client, tool, args string) toolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = json.RawMessage(args)
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	checkResultShape(t, tool, res, nil)
	out := toolResult{raw: res, isError: res.IsError}
	var texts []string
	for _, content := range res.Content {
		if tc, ok := content.(mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	out.text = strings.Join(texts, "\n")
	out.json = res.RawStructuredContent
	if len(out.json) == 0 && res.StructuredContent != nil {
		out.json, _ = json.Marshal(res.StructuredContent)
	}
	// An error result has no structuredContent.
	if len(out.json) > 0 {
		if err := json.Unmarshal(out.json, &out.structured); err != nil {
			t.Fatalf("%s: structuredContent %q: %v", tool, out.json, err)
		}
	}
	out.structured = withToolError(res, out.structured)
	return out
}

// mustCall runs a tool that must succeed.
func mustCall(t *testing.T, c *client.Client, tool, args string) toolResult {
	t.Helper()
	r := call(t, c, tool, args)
	if r.isError {
		t.Fatalf("%s(%s) failed: %s", tool, args, r.text)
	}
	return r
}

// field digs a string out of structured content: field(r, "assistant", "id").
func field(r toolResult, path ...string) string {
	var v any = r.structured
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}
