package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/voicedock/voicedock/core"
)

// tasksExtension is the id of the tasks extension of protocol 2026-07-28,
// listed in the server's extensions (as {}) and in a request's client
// capabilities when the client can take a task for its tools/call.
const tasksExtension = "io.modelcontextprotocol/tasks"

// v2PollInterval is the pollIntervalMs a 2026-07-28 task suggests: a
// transfer's steps come a few hundred milliseconds apart at the fastest.
const v2PollInterval = 500 * time.Millisecond

// On 2026-07-28 the tasks of 2025-11-25 are gone from the core protocol
// (mcp-go refuses tasks/get there, as the official client does) and live
// in the tasks extension, whose shapes differ: tools/call answers a flat
// {resultType: "task", taskId, status, ...}, tasks/get answers the task
// with its result or error inline, tasks/cancel answers {resultType:
// "complete"}. mcp-go v1.6.0 implements none of it, so the server does:
// it answers these messages before mcp-go (the transports' StoredAnswerer
// seam, see AnswerStoredTask) and runs the tool call itself through
// mcp-go's HandleMessage in a goroutine of its own, on the same taskRun,
// record and finish path as the tasks of 2025-11-25.

// v2Message is the part of a 2026-07-28 request the tasks extension reads.
type v2Message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Name   string `json:"name"`
		TaskID string `json:"taskId"`
		Meta   struct {
			ProtocolVersion    string `json:"io.modelcontextprotocol/protocolVersion"`
			ClientCapabilities struct {
				Extensions map[string]json.RawMessage `json:"extensions"`
			} `json:"io.modelcontextprotocol/clientCapabilities"`
		} `json:"_meta"`
	} `json:"params"`
}

// v2Task is a task as the 2026-07-28 tasks extension shows it.
type v2Task struct {
	ResultType     string          `json:"resultType"`
	TaskID         string          `json:"taskId"`
	Status         mcp.TaskStatus  `json:"status"`
	StatusMessage  string          `json:"statusMessage,omitempty"`
	CreatedAt      string          `json:"createdAt"`
	LastUpdatedAt  string          `json:"lastUpdatedAt"`
	TTLMs          *int64          `json:"ttlMs"` // null: kept without limit
	PollIntervalMs int64           `json:"pollIntervalMs,omitempty"`
	Result         json.RawMessage `json:"result,omitempty"`
	Error          *v2Error        `json:"error,omitempty"`
	// Meta names what the task works on (taskRefMetaKey), as on 2025-11-25.
	Meta map[string]any `json:"_meta,omitempty"`
}

// withRef sets t's _meta to name the call and transfer it works on.
func (t *v2Task) withRef(ref map[string]string) {
	if ref["call_id"] != "" {
		t.Meta = map[string]any{taskRefMetaKey: ref}
	}
}

type v2Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// answerV2 answers a 2026-07-28 message of the tasks extension: a
// tools/call of a tool that waits on the phone network from a client that
// lists the extension, tasks/get, tasks/cancel and tasks/update. It
// returns false for every other message.
func (s *Server) answerV2(ctx context.Context, body []byte) ([]byte, bool) {
	var m v2Message
	if err := json.Unmarshal(body, &m); err != nil || len(m.ID) == 0 || !mcp.IsModernProtocol(m.Params.Meta.ProtocolVersion) {
		return nil, false
	}
	switch m.Method {
	case string(mcp.MethodToolsCall):
		hints, waits := s.taskTools[m.Params.Name]
		if _, asks := m.Params.Meta.ClientCapabilities.Extensions[tasksExtension]; !asks || !waits {
			return nil, false // an ordinary call: mcp-go answers it
		}
		if readOnlyActor(ctx) && !hints.ReadOnly {
			return nil, false // mcp-go refuses it at once (scopeFilter)
		}
		return s.startV2(ctx, m, body), true
	case string(mcp.MethodTasksGet), string(mcp.MethodTasksCancel):
		if s.mcpGoTask(m.Params.TaskID) {
			return nil, false // a task mcp-go runs (params.task): mcp-go answers
		}
		if m.Method == string(mcp.MethodTasksGet) {
			return s.getV2(ctx, m), true
		}
		return s.cancelV2(ctx, m), true
	case "tasks/update":
		// No tool of this server asks for input while it runs as a task.
		return rpcError(m.ID, mcp.INVALID_PARAMS, "task takes no input"), true
	}
	return nil, false
}

// mcpGoTask reports whether mcp-go runs the task id in this process: one
// a client started with params.task (2025-11-25's way, which mcp-go also
// serves on 2026-07-28), not through the extension.
func (s *Server) mcpGoTask(id string) bool {
	s.runs.mu.Lock()
	run := s.runs.byTask[id]
	s.runs.mu.Unlock()
	return run != nil && run.cancel == nil
}

// startV2 runs the tools/call body as a task and answers with the task.
func (s *Server) startV2(ctx context.Context, m v2Message, body []byte) []byte {
	now := time.Now().UTC()
	run := &taskRun{
		key: uuid.NewString(), ready: make(chan struct{}), done: make(chan struct{}),
		owner: taskOwner(ctx), tool: m.Params.Name, ttl: taskKeep, status: mcp.TaskStatusWorking,
		taskID: uuid.NewString(), createdAt: now, updatedAt: now, store: s.runs.store,
	}
	close(run.ready)
	// The task outlives the request (an HTTP request ends with this
	// answer); tasks/cancel ends it.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	run.cancel = cancel
	s.runs.mu.Lock()
	s.runs.byKey[run.key] = run
	s.runs.byTask[run.taskID] = run
	s.runs.mu.Unlock()
	if run.store != nil {
		run.store(run)
	}
	go func() {
		defer cancel()
		resp := s.MCP.HandleMessage(context.WithValue(runCtx, v2RunKey{}, run), body)
		select {
		case <-run.done:
		default:
			// Refused before the tool ran (unknown arguments, scope, ...).
			run.fail(rpcErrorOf(resp))
		}
		time.AfterFunc(taskKeep, func() { s.runs.forget(run) })
	}()
	t := s.v2FromRun(run)
	t.ResultType = "task"
	return rpcResult(m.ID, t)
}

// v2RunKey marks the context of a tool call the server runs as a
// 2026-07-28 task with its taskRun.
type v2RunKey struct{}

// rpcErrorOf is the JSON-RPC error of resp, a response mcp-go returned.
func rpcErrorOf(resp mcp.JSONRPCMessage) v2Error {
	if e, ok := resp.(mcp.JSONRPCError); ok {
		return v2Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	if e, ok := resp.(*mcp.JSONRPCError); ok && e != nil {
		return v2Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	return v2Error{Code: mcp.INTERNAL_ERROR, Message: "the tool did not run"}
}

// getV2 answers tasks/get: from the run when this process runs the task,
// else from its stored record (after a restart).
func (s *Server) getV2(ctx context.Context, m v2Message) []byte {
	t, errResp := s.v2Lookup(ctx, m)
	if errResp != nil {
		return errResp
	}
	t.ResultType = "complete"
	return rpcResult(m.ID, t)
}

// cancelV2 answers tasks/cancel: the transfer (or test call) the task
// runs stops, and the caller stays with the assistant. After a restart a
// task reads as ended (the restart's recovery ended its call and
// transfer), and is refused as such.
func (s *Server) cancelV2(ctx context.Context, m v2Message) []byte {
	t, errResp := s.v2Lookup(ctx, m)
	if errResp != nil {
		return errResp
	}
	if t.Status.IsTerminal() {
		return rpcError(m.ID, mcp.INVALID_PARAMS, "task already "+string(t.Status))
	}
	s.runs.mu.Lock()
	run := s.runs.byTask[m.Params.TaskID]
	s.runs.mu.Unlock()
	if run != nil && run.cancel != nil {
		run.cancel()
		// The tool cancels the transfer when its context ends; wait for
		// it, so that the next tasks/get shows the task cancelled.
		select {
		case <-run.done:
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
		}
		return rpcResult(m.ID, map[string]any{"resultType": "complete"})
	}
	// Not run by this process: a task read from the store reads as ended
	// (see storedTasks.answer), so this is one another process runs.
	return rpcError(m.ID, mcp.INVALID_PARAMS, "task is not running in this server process")
}

// v2Lookup finds the task m names for ctx's caller, or the error response.
func (s *Server) v2Lookup(ctx context.Context, m v2Message) (v2Task, []byte) {
	if m.Params.TaskID == "" {
		return v2Task{}, rpcError(m.ID, mcp.INVALID_PARAMS, "taskId is required")
	}
	s.runs.mu.Lock()
	run := s.runs.byTask[m.Params.TaskID]
	s.runs.mu.Unlock()
	if run != nil {
		if run.owner != taskOwner(ctx) {
			return v2Task{}, rpcError(m.ID, mcp.INVALID_PARAMS, "task not found")
		}
		return s.v2FromRun(run), nil
	}
	if s.stored == nil {
		return v2Task{}, rpcError(m.ID, mcp.INVALID_PARAMS, "task not found")
	}
	rec, err := s.stored.records.TaskRecord(ctx, m.Params.TaskID)
	if core.HasCode(err, core.CodeNotFound) {
		return v2Task{}, rpcError(m.ID, mcp.INVALID_PARAMS, "task not found")
	}
	if err != nil {
		return v2Task{}, rpcError(m.ID, mcp.INTERNAL_ERROR, "task could not be read")
	}
	if rec.Owner != taskOwner(ctx) {
		return v2Task{}, rpcError(m.ID, mcp.INVALID_PARAMS, "task not found")
	}
	if rec.Expired(time.Now()) {
		return v2Task{}, rpcError(m.ID, mcp.INVALID_PARAMS, "task has expired")
	}
	task, result := s.stored.answer(ctx, rec, nil)
	out := v2Task{
		TaskID: task.TaskId, Status: task.Status, StatusMessage: task.StatusMessage,
		CreatedAt: task.CreatedAt, LastUpdatedAt: task.LastUpdatedAt, TTLMs: task.TTL,
	}
	out.withRef(map[string]string{"call_id": rec.CallID, "transfer_id": rec.TransferID})
	setV2Outcome(&out, result)
	return out, nil
}

// v2FromRun is the task of a run this process holds.
func (s *Server) v2FromRun(r *taskRun) v2Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	ttl := r.ttl.Milliseconds()
	t := v2Task{
		TaskID: r.taskID, Status: r.status, StatusMessage: r.message,
		CreatedAt:     r.createdAt.Format(time.RFC3339Nano),
		LastUpdatedAt: r.updatedAt.Format(time.RFC3339Nano),
		TTLMs:         &ttl, PollIntervalMs: v2PollInterval.Milliseconds(),
	}
	if r.ttl == 0 {
		t.TTLMs = nil
	}
	t.withRef(r.ref)
	setV2Outcome(&t, r.result)
	return t
}

// setV2Outcome puts an ended task's outcome inline: a completed task's
// tool result (a complete CallToolResult), a failed task's error.
func setV2Outcome(t *v2Task, result []byte) {
	switch t.Status {
	case mcp.TaskStatusCompleted:
		var res map[string]any
		if json.Unmarshal(result, &res) != nil || res == nil {
			t.Status, t.Error = mcp.TaskStatusFailed, &v2Error{Code: mcp.INTERNAL_ERROR, Message: "the task's result was lost"}
			return
		}
		res["resultType"] = "complete"
		t.Result, _ = json.Marshal(res)
	case mcp.TaskStatusFailed:
		var e v2Error
		if json.Unmarshal(result, &e) != nil || e.Message == "" {
			e = v2Error{Code: mcp.INTERNAL_ERROR, Message: t.StatusMessage}
			if e.Message == "" {
				e.Message = "the task failed"
			}
		}
		t.Error = &e
	}
}

// listTasksExtension lists the tasks extension in the server's
// capabilities for 2026-07-28 (server/discover) only: on 2025-11-25 the
// tasks capability says it, and an extension there would only confuse.
func listTasksExtension(h *mcpserver.Hooks) mcpserver.ServerOption {
	h.AddAfterInitialize(func(_ context.Context, _ any, _ *mcp.InitializeRequest, res *mcp.InitializeResult) {
		if res == nil || res.Capabilities.Extensions == nil {
			return
		}
		// A copy: the map is the server's own.
		ext := map[string]any{}
		for k, v := range res.Capabilities.Extensions {
			if k != tasksExtension {
				ext[k] = v
			}
		}
		res.Capabilities.Extensions = ext
		if len(ext) == 0 {
			res.Capabilities.Extensions = nil
		}
	})
	return mcpserver.WithExtensions(map[string]any{tasksExtension: map[string]any{}})
}
