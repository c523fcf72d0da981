package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/tools"
)

// waitOutput is the output of the waiting tool of TestAnswerV2Tasks.
type waitOutput struct {
	OK bool `json:"ok"`
}

// waitingTool waits on release (as a transfer waits on the phone network)
// or on its context, which a cancelled task ends.
func waitingTool(release <-chan struct{}, stopped chan<- struct{}) tools.Tool {
	return tools.Tool{
		Name: "wait", Hints: tools.Hints{Waits: true}, Input: struct{}{}, Output: waitOutput{},
		Call: func(ctx context.Context, _ json.RawMessage) (tools.Result, error) {
			select {
			case <-release:
				return tools.Result{Summary: "done", Structured: waitOutput{OK: true}}, nil
			case <-ctx.Done():
				stopped <- struct{}{}
				return tools.Result{}, core.Errorf(core.CodeTransferFailed, "stopped")
			}
		},
	}
}

const v2Meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{%s}}`

func v2Request(method, params, caps string) []byte {
	meta := strings.Replace(v2Meta, "%s", caps, 1)
	if params != "" {
		params += ","
	}
	return []byte(`{"jsonrpc":"2.0","id":9,"method":"` + method + `","params":{` + params + meta + `}}`)
}

const tasksCaps = `"extensions":{"io.modelcontextprotocol/tasks":{}}`

// v2Answer decodes the result (or error) of a response.
type v2Answer struct {
	Result struct {
		v2Task
		Content []json.RawMessage `json:"content"`
	} `json:"result"`
	Error *v2Error `json:"error"`
}

func askV2(t *testing.T, srv *Server, ctx context.Context, body []byte) (v2Answer, bool) {
	t.Helper()
	resp, ok := srv.AnswerStoredTask(ctx, body, "")
	var a v2Answer
	if ok {
		if err := json.Unmarshal(resp, &a); err != nil {
			t.Fatalf("%s: %v", resp, err)
		}
	}
	return a, ok
}

// TestAnswerV2Tasks: on 2026-07-28 a client that lists the tasks
// extension gets a task for a tool that waits, reads it with tasks/get
// (working, then completed with the result inline), cancels another (the
// tool's context ends, the task reads cancelled), and reads stored tasks
// after a restart; only its owner reads a task; 2025-11-25 calls and calls
// without the extension are left to mcp-go.
func TestAnswerV2Tasks(t *testing.T) {
	records := taskRecords(t)
	release, stopped := make(chan struct{}), make(chan struct{}, 1)
	srv, err := New([]tools.Tool{waitingTool(release, stopped)}, Options{Name: "t", Version: "1", Tasks: records})
	if err != nil {
		t.Fatal(err)
	}
	ops := core.WithActor(t.Context(), core.Actor{Name: "ops", Scope: ScopeWrite})
	viewer := core.WithActor(t.Context(), core.Actor{Name: "viewer", Scope: ScopeWrite})
	call := v2Request("tools/call", `"name":"wait","arguments":{}`, tasksCaps)

	if _, ok := askV2(t, srv, ops, v2Request("tools/call", `"name":"wait","arguments":{}`, "")); ok {
		t.Error("a call without the tasks extension was not left to mcp-go")
	}
	if _, ok := srv.AnswerStoredTask(ops, []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wait","_meta":{"io.modelcontextprotocol/clientCapabilities":{`+tasksCaps+`}}}}`), ""); ok {
		t.Error("a 2025-11-25 call was answered as a 2026-07-28 task")
	}
	if _, ok := askV2(t, srv, core.WithActor(t.Context(), core.Actor{Name: "viewer", Scope: "read"}), call); ok {
		t.Error("a read-only caller's call of a write tool was run as a task")
	}

	created, ok := askV2(t, srv, ops, call)
	task := created.Result.v2Task
	if !ok || task.ResultType != "task" || task.Status != "working" || task.TaskID == "" || task.TTLMs == nil || task.CreatedAt == "" {
		t.Fatalf("tools/call: %v %+v", ok, created)
	}
	if rec, err := records.TaskRecord(t.Context(), task.TaskID); err != nil || rec.Owner != "key:ops" || rec.Tool != "wait" {
		t.Errorf("stored: %+v", rec)
	}
	get := v2Request("tasks/get", `"taskId":"`+task.TaskID+`"`, "")
	if got, _ := askV2(t, srv, ops, get); got.Result.ResultType != "complete" || got.Result.Status != "working" {
		t.Errorf("tasks/get while working: %+v", got)
	}
	if got, _ := askV2(t, srv, viewer, get); got.Error == nil || got.Error.Message != "task not found" {
		t.Errorf("another key's tasks/get: %+v", got)
	}
	close(release)
	var done v2Answer
	deadline := time.Now().Add(10 * time.Second)
	for done, _ = askV2(t, srv, ops, get); done.Result.Status == "working" && time.Now().Before(deadline); done, _ = askV2(t, srv, ops, get) {
		time.Sleep(10 * time.Millisecond) // polling, as a client does
	}
	var result struct {
		ResultType        string     `json:"resultType"`
		StructuredContent waitOutput `json:"structuredContent"`
	}
	json.Unmarshal(done.Result.Result, &result)
	if done.Result.Status != "completed" || result.ResultType != "complete" || !result.StructuredContent.OK {
		t.Fatalf("completed task: %+v %s", done.Result.v2Task, done.Result.Result)
	}
	if got, _ := askV2(t, srv, ops, v2Request("tasks/cancel", `"taskId":"`+task.TaskID+`"`, "")); got.Error == nil {
		t.Errorf("tasks/cancel of a completed task: %+v", got)
	}

	// A second tool run, cancelled: its context ends, the task reads cancelled.
	stop := make(chan struct{})
	srv2, _ := New([]tools.Tool{waitingTool(stop, stopped)}, Options{Name: "t", Version: "1", Tasks: records})
	created, _ = askV2(t, srv2, ops, call)
	id := created.Result.TaskID
	if got, _ := askV2(t, srv2, ops, v2Request("tasks/cancel", `"taskId":"`+id+`"`, "")); got.Error != nil || got.Result.ResultType != "complete" {
		t.Fatalf("tasks/cancel: %+v", got)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the tool did not stop")
	}
	if got, _ := askV2(t, srv2, ops, v2Request("tasks/get", `"taskId":"`+id+`"`, "")); got.Result.Status != "cancelled" {
		t.Errorf("tasks/get after tasks/cancel: %+v", got)
	}
	if got, _ := askV2(t, srv2, ops, v2Request("tasks/update", `"taskId":"`+id+`","inputResponses":{}`, "")); got.Error == nil {
		t.Errorf("tasks/update: %+v", got)
	}

	// After a restart: a new server on the same records.
	now := time.Now().UTC()
	saveRecord(t, records, core.TaskRecord{ID: "cut", Owner: "key:ops", Tool: "wait", CreatedAt: now, TTL: time.Hour, Status: "working", UpdatedAt: now})
	restarted, _ := New(nil, Options{Name: "t", Version: "1", Tasks: records})
	if got, _ := askV2(t, restarted, ops, get); got.Result.Status != "completed" || !strings.Contains(string(got.Result.Result), `"ok":true`) {
		t.Errorf("stored completed task: %+v %s", got.Result.v2Task, got.Result.Result)
	}
	if got, _ := askV2(t, restarted, ops, v2Request("tasks/get", `"taskId":"cut"`, "")); got.Result.Status != "failed" || got.Result.Error == nil || !strings.Contains(got.Result.Error.Message, "restarted") {
		t.Errorf("stored interrupted task: %+v", got)
	}
	if got, _ := askV2(t, restarted, viewer, get); got.Error == nil || got.Error.Message != "task not found" {
		t.Errorf("another key after the restart: %+v", got)
	}
}

// TestTasksExtensionListedOn20260728Only: server/discover (2026-07-28)
// lists the tasks extension as {}; initialize (2025-11-25) does not, where
// the tasks capability says it.
func TestTasksExtensionListedOn20260728Only(t *testing.T) {
	srv, err := New(nil, Options{Name: "t", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	caps := func(body string) map[string]any {
		resp, _ := json.Marshal(srv.MCP.HandleMessage(t.Context(), []byte(body)))
		var r struct {
			Result struct {
				Capabilities map[string]any `json:"capabilities"`
			} `json:"result"`
		}
		json.Unmarshal(resp, &r)
		if r.Result.Capabilities == nil {
			t.Fatalf("no capabilities: %s", resp)
		}
		return r.Result.Capabilities
	}
	modern := caps(string(v2Request("server/discover", "", "")))
	if ext, _ := modern["extensions"].(map[string]any); ext == nil || ext[tasksExtension] == nil {
		t.Errorf("server/discover: %v", modern)
	}
	legacy := caps(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
	if _, listed := legacy["extensions"]; listed || legacy["tasks"] == nil {
		t.Errorf("initialize: %v", legacy)
	}
}
