// Package peer carries a tool call from the node an MCP client reached to
// the node holding the call the tool acts on, as an MCP client of that
// node's own endpoint authenticated with the key the nodes share (see
// server.Forwarder for why this path).
package peer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/client"
	mcptransport "github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/server"
	"github.com/voicedock/voicedock/transport"
)

// Forwarder is server.Forwarder over streamable HTTP.
type Forwarder struct {
	node, key, version string
	http               *http.Client
	// seq numbers the progress tokens of the calls carried.
	seq atomic.Uint64
}

var _ server.Forwarder = (*Forwarder)(nil)

// New returns the forwarder of node (its id), authenticating with key.
// httpClient carries the requests (nil: http.DefaultClient); version is
// what the forwarder reports as its client version.
func New(node, key, version string, httpClient *http.Client) *Forwarder {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Forwarder{node: node, key: key, version: version, http: httpClient}
}

// Forward calls f.Request's tool on the owner and returns its result.
//
// Each call gets a client of its own, for as long as the call: a session
// kept open between calls would have to survive the owner's restarts and
// idle expiry, and would share one notification handler among calls; one
// session costs a handshake on the nodes' network, small beside a
// transfer's seconds.
func (p *Forwarder) Forward(ctx context.Context, f server.Forwarded) (*mcp.CallToolResult, error) {
	headers := map[string]string{
		"Authorization":      "Bearer " + p.key,
		transport.HeaderNode: p.node,
	}
	if a, ok := core.ActorFrom(ctx); ok && a.Name != "" {
		headers[transport.HeaderActor] = a.Name
	}
	tr, err := mcptransport.NewStreamableHTTP(f.URL, mcptransport.WithHTTPHeaders(headers), mcptransport.WithHTTPBasicClient(p.http))
	if err != nil {
		return nil, fmt.Errorf("node %s at %s: %w", f.Node, f.URL, err)
	}
	var opts []client.ClientOption
	if f.Protocol != "" {
		opts = append(opts, client.WithProtocolVersion(f.Protocol))
	}
	if f.Elicit != nil {
		opts = append(opts, client.WithElicitationHandler(elicitFunc(f.Elicit)))
	}
	c := client.NewClient(tr, opts...)
	defer c.Close()

	// The owner reports progress to a token of ours, always: the client
	// here may run the call as a task, whose status follows the steps
	// even when it asked for no notifications.
	token := fmt.Sprintf("%s/%d", p.node, p.seq.Add(1))
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != string(mcp.MethodNotificationProgress) || f.Progress == nil {
			return
		}
		fields := n.Params.AdditionalFields
		if got, _ := fields["progressToken"].(string); got != token {
			return
		}
		done, _ := fields["progress"].(float64)
		total, _ := fields["total"].(float64)
		message, _ := fields["message"].(string)
		f.Progress(done, total, message)
	})
	if err := c.Start(ctx); err != nil {
		return nil, fmt.Errorf("node %s at %s: %w", f.Node, f.URL, err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = f.Protocol
	init.Params.ClientInfo = mcp.Implementation{Name: "voicedock-node-" + p.node, Version: p.version}
	if _, err := c.Initialize(ctx, init); err != nil {
		return nil, fmt.Errorf("node %s at %s: initialize: %w", f.Node, f.URL, err)
	}
	req := f.Request
	req.Params.Task = nil
	meta := mcp.Meta{}
	if req.Params.Meta != nil {
		meta = *req.Params.Meta
	}
	meta.ProgressToken = token
	if f.Task {
		fields := map[string]any{}
		for k, v := range meta.AdditionalFields {
			fields[k] = v
		}
		fields[server.TaskMetaKey] = true
		meta.AdditionalFields = fields
	}
	req.Params.Meta = &meta
	res, err := c.CallTool(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errors.Join(err, ctx.Err())
		}
		return nil, fmt.Errorf("node %s at %s: %w", f.Node, f.URL, err)
	}
	return res, nil
}

// elicitFunc is client.ElicitationHandler as a function.
type elicitFunc func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error)

func (f elicitFunc) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return f(ctx, req)
}
