package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/schemas"
	"github.com/voicedock/voicedock/tools"
)

// Options configure the MCP server.
type Options struct {
	Name    string
	Version string
	Logger  *slog.Logger
	// Calls and Config back the resources; without them the server has
	// tools only.
	Calls  *core.Calls
	Config *core.Configuration
	// ValidateOutput checks every structured result against its output
	// schema (mcp-go's output validation); tests turn it on.
	ValidateOutput bool
	// OnToolCall, when set, is told of every tool call: the tool, the
	// outcome ("ok" or the error code) and how long it took. Metrics
	// count with it.
	OnToolCall func(tool, outcome string, d time.Duration)
	// Tasks keeps the tool calls run as tasks, so that a task answers
	// tasks/get and tasks/result from another session and after a restart
	// (see Server.AnswerStoredTask); nil keeps them in memory only.
	Tasks core.TaskRecords
	// Forward carries the tools that act on a live call (Hints.LiveCall)
	// to the node holding the call, when Calls is one node of several
	// (core.Calls.JoinCluster); nil runs every tool here.
	Forward Forwarder
}

const instructions = `VoiceDock moves live phone calls from an AI assistant to humans.
Configure assistants (with a transfer_call tool listing the allowed destinations), SIP trunks (where transfers go) and phone numbers (which assistant answers, which trunk transfers go through).
Every error result has isError set and one line of text "code: message (param)"; its _meta["voicedock/error"] is {code, message, param, retry_after, sip_status}. Codes are stable.`

// Server is the MCP server with what it needs to keep clients informed.
type Server struct {
	// MCP is what the transports serve.
	MCP       *mcpserver.MCPServer
	resources *resources
	stored    *storedTasks
	runs      *taskRuns
	// taskTools are the tools that run as tasks when the client asks.
	taskTools map[string]tools.Hints
}

// Run forwards domain events to the clients (resource updates, list
// changes, log messages) until ctx ends.
func (s *Server) Run(ctx context.Context) {
	if s.resources == nil {
		<-ctx.Done()
		return
	}
	s.resources.forward(ctx, s.resources.calls.Bus())
}

// WaitTasks waits until the tool calls run as tasks have returned and
// their results are stored, or until ctx ends, and reports how many were
// still running then. A shutdown calls it once the calls have ended (which
// ends the tools waiting on them) and before the store closes: a task's
// result stored after that was lost, and the task then answered from its
// transfer's record instead of its own.
func (s *Server) WaitTasks(ctx context.Context) (running int) {
	return s.runs.wait(ctx)
}

// New returns an MCP server exposing the given tools, and the resources
// when opts has Calls and Config.
func New(list []tools.Tool, opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	serverOpts := []mcpserver.ServerOption{
		mcpserver.WithToolCapabilities(false),
		mcpserver.WithLogging(),
		mcpserver.WithRecovery(),
		mcpserver.WithInstructions(instructions),
		mcpserver.WithToolFilter(scopeFilter),
	}
	if opts.ValidateOutput {
		serverOpts = append(serverOpts, mcpserver.WithOutputSchemaValidation())
	}
	hooks := &mcpserver.Hooks{}
	// The tools that wait on the phone network run as tasks when the
	// client asks (tasks/get, tasks/result, tasks/list, tasks/cancel).
	runs := newTaskRuns()
	var stored *storedTasks
	if opts.Tasks != nil {
		stored = &storedTasks{records: opts.Tasks, calls: opts.Calls, runs: runs, logger: logger}
		runs.store = stored.save
	}
	taskHooks := &mcpserver.TaskHooks{}
	runs.hooks(hooks, taskHooks)
	serverOpts = append(serverOpts, mcpserver.WithTaskCapabilities(true, true, true), mcpserver.WithTaskHooks(taskHooks), listTasksExtension(hooks))
	var res *resources
	if opts.Calls != nil && opts.Config != nil {
		res = newResources(opts.Calls, opts.Config, logger)
		res.hooks(hooks)
		serverOpts = append(serverOpts, mcpserver.WithResourceCapabilities(true, true), mcpserver.WithPromptCapabilities(false))
	}
	serverOpts = append(serverOpts, mcpserver.WithHooks(hooks))
	s := mcpserver.NewMCPServer(opts.Name, opts.Version, serverOpts...)
	signer := newStateSigner()
	var fw *forwarding
	if opts.Forward != nil && opts.Calls != nil {
		fw = &forwarding{calls: opts.Calls, fwd: opts.Forward, logger: logger}
	}
	taskTools := map[string]tools.Hints{}
	for _, t := range list {
		if t.Hints.Waits {
			taskTools[t.Name] = t.Hints
		}
		st, err := serverTool(t, logger, opts.OnToolCall, runs, signer, fw)
		if err != nil {
			return nil, err
		}
		s.AddTools(st)
	}
	if res != nil {
		res.register(s)
		registerPrompts(s, opts.Config)
	}
	return &Server{MCP: s, resources: res, stored: stored, runs: runs, taskTools: taskTools}, nil
}

// Tool returns the MCP definition of t: its schemas generated from its Go
// types and its annotations.
func Tool(t tools.Tool) (mcp.Tool, error) {
	in, err := schemas.Reflect(t.Input)
	if err != nil {
		return mcp.Tool{}, fmt.Errorf("tool %s: %w", t.Name, err)
	}
	out, err := schemas.Reflect(t.Output)
	if err != nil {
		return mcp.Tool{}, fmt.Errorf("tool %s: %w", t.Name, err)
	}
	var execution *mcp.ToolExecution
	if t.Hints.Waits {
		execution = &mcp.ToolExecution{TaskSupport: mcp.TaskSupportOptional}
	}
	// A struct literal rather than mcp.NewTool: NewTool fills InputSchema,
	// and InputSchema together with RawInputSchema makes tools/list fail
	// to encode (an empty answer).
	return mcp.Tool{
		Execution:       execution,
		Name:            t.Name,
		Title:           t.Title,
		Description:     t.Description,
		RawInputSchema:  in,
		RawOutputSchema: out,
		Annotations: mcp.ToolAnnotation{
			Title:           t.Title,
			ReadOnlyHint:    mcp.ToBoolPtr(t.Hints.ReadOnly),
			DestructiveHint: mcp.ToBoolPtr(t.Hints.Destructive),
			IdempotentHint:  mcp.ToBoolPtr(t.Hints.Idempotent),
			OpenWorldHint:   mcp.ToBoolPtr(t.Hints.OpenWorld),
		},
	}, nil
}

func serverTool(t tools.Tool, logger *slog.Logger, observe func(tool, outcome string, d time.Duration), runs *taskRuns, signer *stateSigner, fw *forwarding) (mcpserver.ServerTool, error) {
	def, err := Tool(t)
	if err != nil {
		return mcpserver.ServerTool{}, err
	}
	call := t.Call
	name := t.Name
	handler := func(ctx context.Context, req mcp.CallToolRequest) (out *mcp.CallToolResult, _ error) {
		if err := forbidWrite(ctx, t); err != nil {
			return ErrorResult(ctx, logger, name, err), nil
		}
		args, err := rawArguments(req)
		if err != nil {
			return ErrorResult(ctx, logger, name, core.Errorf(core.CodeInvalidRequest, "arguments must be a JSON object")), nil
		}
		place, err := fw.place(ctx, t, args)
		if err != nil {
			return ErrorResult(ctx, logger, name, err), nil
		}
		progress := progressReporter(ctx, req, logger)
		run := runs.run(ctx, req)
		if run != nil {
			ctx = tools.WithTaskRef(tools.WithTask(ctx), run.setRef)
			notify := progress
			progress = func(done, total float64, message string) {
				taskStep(ctx, run, message)
				notify(done, total, message)
			}
		}
		if run == nil && forwardedTask(ctx, req) {
			ctx = tools.WithTask(ctx)
		}
		ctx = tools.WithProgress(ctx, progress)
		if !place.Local {
			out = fw.forward(ctx, place, req, progress, run != nil)
			waitForProgress(ctx, req)
			if run != nil {
				defer func() { run.finish(out, ctx.Err() != nil) }()
			}
			return out, nil
		}
		var rt *roundTrip
		if c, ok := confirmer(ctx, logger); ok {
			ctx = tools.WithConfirm(ctx, c)
		} else if c, r, ok := roundTripConfirmer(ctx, req, signer); ok {
			ctx, rt = tools.WithConfirm(ctx, c), r
		}
		res, err := call(ctx, args)
		waitForProgress(ctx, req)
		if run != nil {
			defer func() { run.finish(out, ctx.Err() != nil) }()
		}
		if rt != nil && rt.question != nil && errors.Is(err, core.ErrAskLater) {
			return rt.inputRequired(), nil
		}
		if err != nil {
			return ErrorResult(ctx, logger, name, err), nil
		}
		return successResult(res)
	}
	if observe != nil {
		inner := handler
		handler = func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			start := time.Now()
			res, err := inner(ctx, req)
			observe(name, outcome(res, err), time.Since(start))
			return res, err
		}
	}
	return mcpserver.ServerTool{Tool: def, Handler: handler}, nil
}

func rawArguments(req mcp.CallToolRequest) (json.RawMessage, error) {
	switch v := req.GetRawArguments().(type) {
	case json.RawMessage:
		return v, nil
	case nil:
		return nil, nil
	default:
		return json.Marshal(v)
	}
}

func successResult(res tools.Result) (*mcp.CallToolResult, error) {
	body, err := json.Marshal(res.Structured)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	// The JSON goes into the text as well: clients that read only text
	// content (and the LLMs behind them) see the same data.
	return &mcp.CallToolResult{
		Content: []mcp.Content{
			mcp.NewTextContent(res.Summary),
			mcp.NewTextContent(string(body)),
		},
		StructuredContent: json.RawMessage(body),
	}, nil
}

// outcome is a tool result's metrics label: "ok", the error code, or
// "internal" when no result was made.
func outcome(res *mcp.CallToolResult, err error) string {
	if err != nil || res == nil {
		return string(core.CodeInternal)
	}
	if !res.IsError {
		return "ok"
	}
	if b, ok := ErrorOf(res); ok {
		return string(b.Code)
	}
	return string(core.CodeInternal)
}

// ErrorMetaKey is the _meta key under which an error result carries its
// ErrorBody.
const ErrorMetaKey = "voicedock/error"

// ErrorBody is the coded error of every failed tool call, in the result's
// _meta under ErrorMetaKey.
type ErrorBody struct {
	Code       core.Code `json:"code"`
	Message    string    `json:"message"`
	Param      string    `json:"param,omitempty"`
	RetryAfter int       `json:"retry_after,omitempty"`
	SIPStatus  int       `json:"sip_status,omitempty"`
}

// ErrorOf returns the coded error a result made by ErrorResult carries.
func ErrorOf(res *mcp.CallToolResult) (ErrorBody, bool) {
	if res == nil || res.Meta == nil {
		return ErrorBody{}, false
	}
	b, ok := res.Meta.AdditionalFields[ErrorMetaKey].(ErrorBody)
	return b, ok
}

// ErrorResult turns an error into a tool result with isError set and one
// line of text starting with the code. Internal errors are logged in full
// and reported without their details.
//
// An error carries no structuredContent: clients built on the official
// SDKs validate any structuredContent against the tool's output schema,
// which describes the success value, and turn a mismatch into a protocol
// error that hides the tool's answer from the agent. The coded error goes
// into the text, which every client shows, and into _meta for clients
// that branch on it.
func ErrorResult(ctx context.Context, logger *slog.Logger, tool string, err error) *mcp.CallToolResult {
	e := core.AsError(err)
	if e.Code == core.CodeInternal {
		// e.Error() is what clients see; the cause is for the log only.
		logger.ErrorContext(ctx, "tool failed", "tool", tool, "err", err, "cause", errors.Unwrap(e))
	} else {
		logger.DebugContext(ctx, "tool refused", "tool", tool, "code", e.Code, "param", e.Param)
	}
	body := ErrorBody{Code: e.Code, Message: e.Message, Param: e.Param, RetryAfter: e.RetryAfter, SIPStatus: e.SIPStatus}
	return &mcp.CallToolResult{
		Result:  mcp.Result{Meta: &mcp.Meta{AdditionalFields: map[string]any{ErrorMetaKey: body}}},
		IsError: true,
		Content: []mcp.Content{mcp.NewTextContent(e.Error())},
	}
}

// progressReporter sends notifications/progress for the request when the
// client asked for them with a progress token, and does nothing otherwise.
func progressReporter(ctx context.Context, req mcp.CallToolRequest, logger *slog.Logger) tools.ProgressFunc {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return func(float64, float64, string) {}
	}
	token := req.Params.Meta.ProgressToken
	srv := mcpserver.ServerFromContext(ctx)
	if srv == nil {
		return func(float64, float64, string) {}
	}
	tracker := trackerFrom(ctx)
	return func(progress, total float64, message string) {
		params := map[string]any{"progressToken": token, "progress": progress, "total": total, "message": message}
		if tracker != nil {
			tracker.Sent(TokenKey(token))
		}
		if err := sendProgress(ctx, srv, params); err != nil {
			if tracker != nil {
				tracker.Written(TokenKey(token))
			}
			logger.WarnContext(ctx, "progress notification not sent", "err", err)
		}
	}
}

// waitForProgress holds the result back until the request's progress
// notifications are written, where the transport tracks them.
func waitForProgress(ctx context.Context, req mcp.CallToolRequest) {
	tracker := trackerFrom(ctx)
	if tracker == nil || req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return
	}
	tracker.Wait(ctx, TokenKey(req.Params.Meta.ProgressToken))
}
