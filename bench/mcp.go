package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

const (
	ourNumber   = "+31850835037"
	salesNumber = "+31612345678"
)

// dialMCP connects an initialized MCP client over streamable HTTP.
func dialMCP(ctx context.Context, url string) (*client.Client, error) {
	tr, err := transport.NewStreamableHTTP(url)
	if err != nil {
		return nil, err
	}
	c := client.NewClient(tr)
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	if err := initMCP(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func initMCP(ctx context.Context, c *client.Client) error {
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "voicedock-bench", Version: "1"}
	_, err := c.Initialize(ctx, req)
	return err
}

// callTool runs a tool and returns its structured result; a tool error is
// an error carrying its text.
func callTool(ctx context.Context, c *client.Client, tool string, args any) (map[string]any, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	raw := res.RawStructuredContent
	if len(raw) == 0 && res.StructuredContent != nil {
		raw, _ = json.Marshal(res.StructuredContent)
	}
	_ = json.Unmarshal(raw, &out)
	if res.IsError {
		// An error result has no structured content: its text says it.
		text := string(raw)
		for _, c := range res.Content {
			if tc, ok := c.(mcp.TextContent); ok {
				text = tc.Text
			}
		}
		return out, fmt.Errorf("%s: %s", tool, text)
	}
	return out, nil
}

func field(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, _ := v.(map[string]any)
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// configure creates the assistant (one transfer destination), the trunk
// at the sipp target and the number the callers dial.
func configure(ctx context.Context, c *client.Client, targetPort int) error {
	a, err := callTool(ctx, c, "create_assistant", json.RawMessage(`{"name":"Bench desk","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales"}]}]}}`))
	if err != nil {
		return err
	}
	tr, err := callTool(ctx, c, "configure_trunk", json.RawMessage(`{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(targetPort)+`}`))
	if err != nil {
		return err
	}
	_, err = callTool(ctx, c, "create_phone_number", json.RawMessage(`{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`))
	return err
}

// webhookCounter is the deployment-wide webhook: it counts the distinct
// calls whose completed transfer and end-of-call report were delivered.
type webhookCounter struct {
	mu        sync.Mutex
	completed map[string]bool // call ids with a transfer-update "completed"
	reports   map[string]bool // call ids with an end-of-call-report
	changed   chan struct{}
	url       string
	srv       *http.Server
	// received counts every delivery received, whatever its event.
	received atomic.Int64
}

func startWebhooks() (*webhookCounter, error) {
	w := &webhookCounter{completed: map[string]bool{}, reports: map[string]bool{}, changed: make(chan struct{}, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.url = "http://" + ln.Addr().String() + "/hook"
	w.srv = &http.Server{Handler: http.HandlerFunc(w.serve), ReadHeaderTimeout: 10 * time.Second}
	go w.srv.Serve(ln)
	return w, nil
}

func (w *webhookCounter) serve(rw http.ResponseWriter, r *http.Request) {
	w.received.Add(1)
	// Only a transfer's completion and a call's report are counted: the
	// other events are read and not decoded, nor is a transfer-update
	// whose body does not even contain "completed" (the decode below
	// checks the status of those that do). Decoding every body cost CPU
	// that the server's dispatcher shares two cores with: the ramp's
	// deliveries drained at about 6,000/s with it, 7,300/s without.
	event := r.Header.Get("X-Webhook-Event")
	if event != "transfer-update" && event != "end-of-call-report" {
		io.Copy(io.Discard, r.Body)
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, err.Error(), 400)
		return
	}
	if event == "transfer-update" && !bytes.Contains(body, []byte(`"completed"`)) {
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	var m struct {
		Message struct {
			Type     string                  `json:"type"`
			Call     struct{ ID string }     `json:"call"`
			Transfer struct{ Status string } `json:"transfer"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(rw, err.Error(), 400)
		return
	}
	w.mu.Lock()
	switch {
	case m.Message.Type == "transfer-update" && m.Message.Transfer.Status == "completed":
		w.completed[m.Message.Call.ID] = true
	case m.Message.Type == "end-of-call-report":
		w.reports[m.Message.Call.ID] = true
	}
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	rw.WriteHeader(http.StatusNoContent)
}

// waitFor waits until every call in ids has both events delivered, or
// until no event arrived for idle, or max; it returns how many calls
// lack one. Deliveries come from the server's durable outbox at the
// dispatcher's pace, which may be behind the calls.
func (w *webhookCounter) waitFor(ids []string, idle, max time.Duration) (missingCompleted, missingReports int) {
	deadline := time.Now().Add(max)
	lastChange := time.Now()
	prev := -1
	for {
		missingCompleted, missingReports = 0, 0
		w.mu.Lock()
		for _, id := range ids {
			if !w.completed[id] {
				missingCompleted++
			}
			if !w.reports[id] {
				missingReports++
			}
		}
		w.mu.Unlock()
		if missingCompleted == 0 && missingReports == 0 {
			return
		}
		if n := missingCompleted + missingReports; n != prev {
			prev, lastChange = n, time.Now()
		}
		if time.Since(lastChange) > idle || time.Now().After(deadline) {
			return
		}
		select {
		case <-w.changed:
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// outbox counts the server's webhook deliveries by status: those not yet
// delivered are pending (queued or being retried) or dead (given up).
func outbox(ctx context.Context, c *client.Client) (pending, dead int) {
	count := func(status string) int {
		out, err := callTool(ctx, c, "list_webhook_deliveries", map[string]any{"status": status, "limit": 1})
		if err != nil {
			return -1
		}
		p, _ := out["pagination"].(map[string]any)
		total, _ := p["total"].(float64)
		return int(total)
	}
	return count("pending"), count("dead")
}

// clientPool spreads requests over several MCP sessions, as several agents
// would.
type clientPool struct {
	clients []*client.Client
	mu      sync.Mutex
	next    int
}

func newClientPool(ctx context.Context, url string, n int) (*clientPool, error) {
	p := &clientPool{}
	for range n {
		c, err := dialMCP(ctx, url)
		if err != nil {
			p.close()
			return nil, err
		}
		p.clients = append(p.clients, c)
	}
	return p, nil
}

func (p *clientPool) get() *client.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[p.next%len(p.clients)]
	p.next++
	return c
}

func (p *clientPool) close() {
	for _, c := range p.clients {
		c.Close()
	}
}

func errText(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.ReplaceAll(s, "\n", " ")
}
