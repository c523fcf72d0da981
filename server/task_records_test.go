package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// taskRecords is the SQLite store the server keeps its tasks in, in a
// fresh file: the server saves records from its tasks' goroutines.
func taskRecords(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "vd.db"), make([]byte, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// saveRecord stores r as a record the server did not make (one from
// before a restart).
func saveRecord(t *testing.T, st *sqlite.Store, r core.TaskRecord) {
	t.Helper()
	if err := st.SaveTaskRecord(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

// TestAnswerStoredTask: a stored task that no run of this process holds
// is answered from its record, to its owner only, until its ttl passes;
// other messages are left to mcp-go.
func TestAnswerStoredTask(t *testing.T) {
	records := taskRecords(t)
	srv, err := New(nil, Options{Name: "t", Version: "1", Tasks: records})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	saveRecord(t, records, core.TaskRecord{ID: "t1", Owner: "key:ops", Tool: "create_call", CreatedAt: now, TTL: time.Hour,
		Status: "completed", Result: json.RawMessage(`{"content":[{"type":"text","text":"done"}]}`), UpdatedAt: now})
	saveRecord(t, records, core.TaskRecord{ID: "old", Owner: "key:ops", Tool: "create_call", CreatedAt: now.Add(-2 * time.Hour), TTL: time.Hour, Status: "completed", UpdatedAt: now})
	saveRecord(t, records, core.TaskRecord{ID: "cut", Owner: "local", Tool: "test_trunk", CreatedAt: now, Status: "working", UpdatedAt: now})
	ops := core.WithActor(t.Context(), core.Actor{Name: "ops"})
	ask := func(ctx context.Context, method, id string) (string, bool) {
		resp, ok := srv.AnswerStoredTask(ctx, []byte(`{"jsonrpc":"2.0","id":7,"method":"`+method+`","params":{"taskId":"`+id+`"}}`), "")
		return string(resp), ok
	}
	if got, ok := ask(ops, "tasks/get", "t1"); !ok || !strings.Contains(got, `"status":"completed"`) || !strings.Contains(got, `"id":7`) {
		t.Errorf("tasks/get: %v %s", ok, got)
	}
	if got, ok := ask(ops, "tasks/result", "t1"); !ok || !strings.Contains(got, `"text":"done"`) {
		t.Errorf("tasks/result: %v %s", ok, got)
	}
	if got, ok := ask(core.WithActor(t.Context(), core.Actor{Name: "viewer"}), "tasks/get", "t1"); !ok || !strings.Contains(got, "task not found") {
		t.Errorf("another key: %v %s", ok, got)
	}
	if got, ok := ask(ops, "tasks/get", "old"); !ok || !strings.Contains(got, "task has expired") {
		t.Errorf("expired: %v %s", ok, got)
	}
	// The local user, on stdio or the socket alike; a task nothing ended.
	if got, ok := ask(core.WithActor(t.Context(), core.Actor{Name: "socket"}), "tasks/get", "cut"); !ok || !strings.Contains(got, `"status":"failed"`) || !strings.Contains(got, "restarted") {
		t.Errorf("interrupted task: %v %s", ok, got)
	}
	if _, ok := ask(ops, "tasks/get", "unknown"); ok {
		t.Error("an unknown id was not left to mcp-go")
	}
	if _, ok := ask(ops, "tasks/cancel", "t1"); ok {
		t.Error("tasks/cancel was not left to mcp-go")
	}
	if _, ok := srv.AnswerStoredTask(ops, []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`), ""); ok {
		t.Error("tools/list was answered")
	}
}
