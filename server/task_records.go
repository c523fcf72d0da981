package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// storedTasks answers for tasks mcp-go does not hold for the asking
// client. mcp-go keeps tasks in memory, per session, and offers no way to
// answer tasks/get for an id it does not know; so every task is also
// stored (core.TaskRecords) and the transports hand tasks/get and
// tasks/result to AnswerStoredTask before mcp-go. It answers when the task
// is not in this process (a restart) or is in another session (a client
// that reconnected), from the stored record: the transfer the task works
// on (its status and SIP code) or the tool's stored result.
type storedTasks struct {
	records core.TaskRecords
	calls   *core.Calls
	runs    *taskRuns
	logger  *slog.Logger
}

// save stores the run's record. A failure is logged: the task still runs,
// it only cannot be read after a restart.
func (st *storedTasks) save(r *taskRun) {
	r.mu.Lock()
	rec := core.TaskRecord{
		ID: r.taskID, Owner: r.owner, Tool: r.tool, CreatedAt: r.createdAt, TTL: r.ttl,
		Status: string(r.status), Result: r.result, UpdatedAt: time.Now().UTC(),
	}
	if r.ref != nil {
		rec.CallID, rec.TransferID = r.ref["call_id"], r.ref["transfer_id"]
	}
	r.mu.Unlock()
	if rec.ID == "" {
		return // not made yet: saved once mcp-go made the task
	}
	if err := st.records.SaveTaskRecord(context.Background(), rec); err != nil {
		st.logger.Warn("store task", "task_id", rec.ID, "err", err)
	}
}

// taskRequest is the part of a tasks/* request AnswerStoredTask reads.
type taskRequest struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		TaskID string `json:"taskId"`
	} `json:"params"`
}

// AnswerStoredTask answers a tasks/get or tasks/result request (body, one
// JSON-RPC message) for a task that mcp-go does not hold for this client:
// started before a restart, or in another session than sessionID ("" for
// a transport without sessions). It returns the JSON-RPC response, or
// false to leave the message to mcp-go. Only the task's owner (the
// core.Actor in ctx) reads it; anyone else gets "task not found", as for
// an unknown id.
//
// On protocol 2026-07-28 it also answers the messages of the tasks
// extension (see answerV2): a task-augmented tools/call, tasks/get,
// tasks/cancel and tasks/update, for tasks running here or stored.
func (s *Server) AnswerStoredTask(ctx context.Context, body []byte, sessionID string) ([]byte, bool) {
	// Every message passes here: those that cannot be a task's skip the
	// JSON decodes below.
	if !bytes.Contains(body, []byte("tasks")) {
		return nil, false
	}
	if resp, ok := s.answerV2(ctx, body); ok {
		return resp, true
	}
	st := s.stored
	if st == nil {
		return nil, false
	}
	var req taskRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.ID) == 0 || req.Params.TaskID == "" {
		return nil, false
	}
	if req.Method != string(mcp.MethodTasksGet) && req.Method != string(mcp.MethodTasksResult) {
		return nil, false
	}
	st.runs.mu.Lock()
	run := st.runs.byTask[req.Params.TaskID]
	st.runs.mu.Unlock()
	if run != nil {
		run.mu.Lock()
		own := run.sessionID == "" || sessionID == "" || run.sessionID == sessionID
		run.mu.Unlock()
		if own {
			return nil, false // mcp-go holds it for this client
		}
	}
	rec, err := st.records.TaskRecord(ctx, req.Params.TaskID)
	if core.HasCode(err, core.CodeNotFound) {
		return nil, false // mcp-go answers for unknown ids
	}
	if err != nil {
		return rpcError(req.ID, mcp.INTERNAL_ERROR, "task could not be read"), true
	}
	if taskOwner(ctx) != rec.Owner {
		return rpcError(req.ID, mcp.INVALID_PARAMS, "task not found"), true
	}
	if rec.Expired(time.Now()) {
		return rpcError(req.ID, mcp.INVALID_PARAMS, "task has expired"), true
	}
	if req.Method == string(mcp.MethodTasksResult) && run != nil {
		// tasks/result waits for the task's end, as mcp-go's does.
		select {
		case <-run.done:
		case <-ctx.Done():
			return rpcError(req.ID, mcp.REQUEST_INTERRUPTED, "request interrupted"), true
		}
		if rec, err = st.records.TaskRecord(ctx, req.Params.TaskID); err != nil {
			return rpcError(req.ID, mcp.INTERNAL_ERROR, "task could not be read"), true
		}
	}
	task, result := st.answer(ctx, rec, run)
	if req.Method == string(mcp.MethodTasksGet) {
		out := mcp.NewGetTaskResult(task)
		if rec.CallID != "" {
			out.Meta = &mcp.Meta{AdditionalFields: map[string]any{taskRefMetaKey: map[string]string{"call_id": rec.CallID, "transfer_id": rec.TransferID}}}
		}
		return rpcResult(req.ID, out), true
	}
	if !task.Status.IsTerminal() || result == nil {
		return rpcError(req.ID, mcp.INVALID_PARAMS, "task "+string(task.Status)+": "+task.StatusMessage), true
	}
	if task.Status == mcp.TaskStatusCancelled {
		return rpcError(req.ID, mcp.INVALID_PARAMS, "task was cancelled"), true
	}
	return rpcResult(req.ID, result), true
}

// answer is the task rec describes, and the tool's result once it ended
// (nil before). The transfer the task works on is the truth for its step
// and outcome; a task without one answers with its stored result.
func (st *storedTasks) answer(ctx context.Context, rec core.TaskRecord, run *taskRun) (mcp.Task, json.RawMessage) {
	ttl := rec.TTL.Milliseconds()
	task := mcp.Task{
		TaskId: rec.ID, Status: mcp.TaskStatus(rec.Status), TTL: &ttl,
		CreatedAt:     rec.CreatedAt.UTC().Format(time.RFC3339),
		LastUpdatedAt: rec.UpdatedAt.UTC().Format(time.RFC3339),
	}
	if rec.TTL == 0 {
		task.TTL = nil
	}
	if run != nil {
		_, task.StatusMessage = run.snapshot()
	}
	result := json.RawMessage(rec.Result)
	if t, live, ok := st.transfer(ctx, rec); ok {
		task.StatusMessage = tools.DescribeTransfer(t)
		if t.Final() && task.Status == mcp.TaskStatusWorking {
			// Ended while no process ran the task (a restart).
			task.Status = mcp.TaskStatusCompleted
		}
		if result == nil && t.Final() {
			result = transferResult(ctx, st.logger, t, live)
		}
	}
	if run == nil && task.Status == mcp.TaskStatusWorking {
		// No process runs it any more and nothing it worked on ended it.
		task.Status = mcp.TaskStatusFailed
		task.StatusMessage = "the server restarted before the " + rec.Tool + " task ended"
	}
	return task, result
}

// transfer is the stored transfer rec works on, if any, and whether its
// call is still live.
func (st *storedTasks) transfer(ctx context.Context, rec core.TaskRecord) (t core.Transfer, callLive, ok bool) {
	if rec.CallID == "" || st.calls == nil {
		return core.Transfer{}, false, false
	}
	c, err := st.calls.GetCall(ctx, rec.CallID)
	if err != nil {
		st.logger.Warn("task's call", "task_id", rec.ID, "call_id", rec.CallID, "err", err)
		return core.Transfer{}, false, false
	}
	for _, t := range c.Transfers {
		if t.ID == rec.TransferID {
			return t, c.Live(), true
		}
	}
	return core.Transfer{}, false, false
}

// transferResult is transfer_call's result for the ended transfer t.
func transferResult(ctx context.Context, logger *slog.Logger, t core.Transfer, callLive bool) json.RawMessage {
	res, err := tools.TransferResult(t, callLive)
	var out *mcp.CallToolResult
	if err != nil {
		out = ErrorResult(ctx, logger, "transfer_call", err)
	} else if out, err = successResult(res); err != nil {
		return nil
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return body
}

func rpcResult(id json.RawMessage, result any) []byte {
	body, err := json.Marshal(map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": id, "result": result})
	if err != nil {
		return rpcError(id, mcp.INTERNAL_ERROR, "encode result")
	}
	return body
}

func rpcError(id json.RawMessage, code int, message string) []byte {
	body, _ := json.Marshal(map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": id, "error": map[string]any{"code": code, "message": message}})
	return body
}

// taskOwner is who may read the tasks ctx's caller starts: the API key's
// name ("key:" and the name, so no key name passes for the local user),
// or "local" for the machine's own user, whether it comes back on stdio
// (a new process) or on the owner's socket.
func taskOwner(ctx context.Context) string {
	a, _ := core.ActorFrom(ctx)
	switch a.Name {
	case "stdio", "socket": // the transports' names for the local user
		return "local"
	}
	return "key:" + a.Name
}
