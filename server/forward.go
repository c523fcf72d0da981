package server

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// Forwarder carries a tool call to the node holding its call, over that
// node's own MCP endpoint (package peer implements it).
//
// The inter-node path is MCP itself rather than PostgreSQL LISTEN/NOTIFY:
// the owner's endpoint already authenticates, limits, reports progress
// and encodes results and errors exactly as a client expects them, so
// what the client on this node gets is what the owner made, unchanged;
// NOTIFY payloads stop at 8000 bytes and have no reply stream to carry
// a transfer's steps back while it runs.
type Forwarder interface {
	// Forward sends f.Request to the owner and returns the owner's result
	// as it made it, errors included. Every progress notification the
	// owner sends for it reaches f.Progress, in order, before Forward
	// returns. An error means the owner could not be asked or did not
	// answer.
	Forward(ctx context.Context, f Forwarded) (*mcp.CallToolResult, error)
}

// Forwarded is one tool call carried to the node holding its call.
type Forwarded struct {
	// Node and URL name the owner and its MCP endpoint.
	Node, URL string
	// Request is the client's call; Forward drops its task parameters
	// (a task runs here, on the node the client reached).
	Request mcp.CallToolRequest
	// Protocol is the MCP version the client speaks, so that the owner
	// answers as it would answer the client.
	Protocol string
	// Progress relays the owner's progress to the client.
	Progress tools.ProgressFunc
	// Task is set when the client here runs the call as a task: the owner
	// runs it as one too (TaskMetaKey), so that the task cancelled here,
	// which ends the forwarded request, cancels what the call started
	// there (a transfer) as it would on one node.
	Task bool
	// Elicit, when set, asks the client a question the owner puts (the
	// confirmation of an ad-hoc transfer destination); nil when the
	// client cannot be asked, as the owner is then told.
	Elicit func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error)
}

// TaskMetaKey, true in the _meta of a call another node carried here,
// says that node runs the call as a task for its client.
const TaskMetaKey = "voicedock/task"

// forwardedTask reports whether req was carried here by another node for
// a task it runs; only a node's requests are believed.
func forwardedTask(ctx context.Context, req mcp.CallToolRequest) bool {
	a, ok := core.ActorFrom(ctx)
	if !ok || a.ViaNode == "" || req.Params.Meta == nil {
		return false
	}
	v, _ := req.Params.Meta.AdditionalFields[TaskMetaKey].(bool)
	return v
}

// forwarding decides which tool calls run on another node; nil (one node)
// runs all here.
type forwarding struct {
	calls  *core.Calls
	fwd    Forwarder
	logger *slog.Logger
}

// place says where a call of t with args runs: here unless t acts on a
// live call that another node holds. A call another node carried here
// runs here whatever the store says: it is never carried on again.
func (f *forwarding) place(ctx context.Context, t tools.Tool, args json.RawMessage) (core.CallPlace, error) {
	if f == nil || !t.Hints.LiveCall {
		return core.CallPlace{Local: true}, nil
	}
	if a, ok := core.ActorFrom(ctx); ok && a.ViaNode != "" {
		return core.CallPlace{Local: true}, nil
	}
	var in struct {
		CallID string `json:"call_id"`
	}
	if err := json.Unmarshal(args, &in); err != nil {
		return core.CallPlace{Local: true}, nil // the tool reports the bad input
	}
	return f.calls.Locate(ctx, in.CallID)
}

// forward runs the call on the node holding its call and returns that
// node's result; a node that cannot be reached is CodeUnavailable.
func (f *forwarding) forward(ctx context.Context, place core.CallPlace, req mcp.CallToolRequest, progress tools.ProgressFunc, task bool) *mcp.CallToolResult {
	res, err := f.fwd.Forward(ctx, Forwarded{
		Node: place.Node, URL: place.URL, Request: req, Task: task,
		Protocol: mcpserver.RequestProtocolVersion(ctx),
		Progress: progress,
		Elicit:   elicitRelay(ctx),
	})
	if err != nil {
		f.logger.WarnContext(ctx, "tool call not carried to the node holding the call", "tool", req.Params.Name, "node", place.Node, "err", err)
		return ErrorResult(ctx, f.logger, req.Params.Name, core.Errorf(core.CodeUnavailable,
			"the node holding the call (%s) did not answer: %v; retry", place.Node, err))
	}
	f.logger.DebugContext(ctx, "tool call carried to the node holding the call", "tool", req.Params.Name, "node", place.Node, "is_error", res.IsError)
	return res
}

// elicitRelay asks the client of the request being handled what the
// owner asks, when that client can be asked by elicitation/create (the
// conditions of confirmer); nil otherwise.
func elicitRelay(ctx context.Context) func(context.Context, mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	srv := mcpserver.ServerFromContext(ctx)
	session := mcpserver.ClientSessionFromContext(ctx)
	if srv == nil || session == nil || mcp.IsModernProtocol(mcpserver.RequestProtocolVersion(ctx)) {
		return nil
	}
	withInfo, ok := session.(mcpserver.SessionWithClientInfo)
	if !ok || withInfo.GetClientCapabilities().Elicitation == nil {
		return nil
	}
	if _, ok := session.(mcpserver.SessionWithElicitation); !ok {
		return nil
	}
	// The question goes out on the client's own request's context: its
	// session, and its cancellation.
	return func(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		return srv.RequestElicitation(ctx, req)
	}
}
