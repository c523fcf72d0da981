package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/sip/sipptest"
)

// taskResult asks tasks/result for the task.
func taskResult(t *testing.T, c *client.Client, id string) (*mcp.TaskResultResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req := mcp.TaskResultRequest{}
	req.Params.TaskId = id
	return c.TaskResult(ctx, req)
}

// tryGetTask is tasks/get returning the error instead of failing.
func tryGetTask(t *testing.T, c *client.Client, id string) (*mcp.GetTaskResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := mcp.GetTaskRequest{}
	req.Params.TaskId = id
	return c.GetTask(ctx, req)
}

// checkCompletedTransferTask asserts that the task reads as the completed
// transfer transferID of callID: tasks/get shows the final step with the
// SIP code and names the transfer, tasks/result gives transfer_call's
// result for it.
func checkCompletedTransferTask(t *testing.T, c *client.Client, id, callID, transferID string) {
	t.Helper()
	got, err := tryGetTask(t, c, id)
	if err != nil {
		t.Fatalf("tasks/get: %v", err)
	}
	if got.Status != mcp.TaskStatusCompleted || got.StatusMessage != "transfer to "+salesNumber+": completed (SIP 200)" {
		t.Errorf("tasks/get: %+v", got.Task)
	}
	if got.Meta == nil {
		t.Fatalf("tasks/get names no transfer: %+v", got)
	}
	if obj, _ := got.Meta.AdditionalFields["voicedock/task-object"].(map[string]any); obj["call_id"] != callID || obj["transfer_id"] != transferID {
		t.Errorf("tasks/get _meta: %v", got.Meta.AdditionalFields)
	}
	res, err := taskResult(t, c, id)
	if err != nil {
		t.Fatalf("tasks/result: %v", err)
	}
	body, _ := json.Marshal(res.StructuredContent)
	var out struct {
		Transfer struct {
			ID        string `json:"id"`
			Status    string `json:"status"`
			SIPStatus int    `json:"sip_status"`
		} `json:"transfer"`
	}
	json.Unmarshal(body, &out)
	if res.IsError || out.Transfer.ID != transferID || out.Transfer.Status != "completed" || out.Transfer.SIPStatus != 200 {
		t.Fatalf("tasks/result: %s %+v", body, res.Content)
	}
	checkResultShape(t, "transfer_call", &mcp.CallToolResult{StructuredContent: res.StructuredContent}, nil)
}

// runTransferTask runs transfer_call as a task on line with a sipp caller
// and target, until the task completed, and returns the task's id, the
// call's id and the transfer's id.
func runTransferTask(t *testing.T, line *phoneLine, target *sipptest.Process) (string, string, string) {
	t.Helper()
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", strings.TrimPrefix(ourNumber, "+"))
	callID := line.answered(t)
	task := callAsTask(t, line.c, "2025-11-25", "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber})
	waitForStep(t, line.c, task.TaskId, "transfer to "+salesNumber+": completed (SIP 200)")
	// The tool's result follows its last step.
	if _, err := taskResult(t, line.c, task.TaskId); err != nil {
		t.Fatalf("tasks/result: %v", err)
	}
	caller.Wait(t)
	target.Wait(t)
	tr := lastTransfer(t, line, callID)
	return task.TaskId, callID, tr["id"].(string)
}

// TestTaskSurvivesRestart runs a transfer as a task over stdio with a
// sipp caller and target, restarts the server (a new process on the same
// data directory) and reads the task from a new client: tasks/get shows
// the transfer's final step and SIP code, tasks/result the transfer.
func TestTaskSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	c, logs := stdioServerVersion(t, "2025-11-25", dir)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())
	id, callID, transferID := runTransferTask(t, line, target)
	c.Close()

	c2, _ := stdioServerVersion(t, "2025-11-25", dir)
	checkCompletedTransferTask(t, c2, id, callID, transferID)
	if _, err := tryGetTask(t, c2, "9b2f4c1e-0000-4000-8000-000000000000"); err == nil {
		t.Error("tasks/get of an unknown task answered")
	}
}

// TestTaskOverHTTPNewSessionAndRestart runs a transfer as a task over
// streamable HTTP (2025-11-25, sessions) with a sipp caller and target,
// then reads it from a new session of the same key, from another key
// (refused: not found), and after a restart of the server process.
func TestTaskOverHTTPNewSessionAndRestart(t *testing.T) {
	t.Parallel()
	const viewerKey = "k-task-viewer-7d1e0c5a9b"
	dir := t.TempDir()
	// tasks/get is polled: no request limit.
	env := []string{"VOICEDOCK_API_KEYS=ops:" + testKey + ",viewer:" + viewerKey + ":read", "VOICEDOCK_RATE_LIMIT_PER_MINUTE=0"}
	ops := map[string]string{"Authorization": "Bearer " + testKey}
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	url, logs, proc := httpServerProcess(t, dir, env...)
	c := httpClientVersion(t, url, "2025-11-25", ops)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())
	id, callID, transferID := runTransferTask(t, line, target)
	checkCompletedTransferTask(t, c, id, callID, transferID) // mcp-go's own answer

	// A client that reconnects gets a new session; mcp-go holds the task
	// for the first one only.
	checkCompletedTransferTask(t, httpClientVersion(t, url, "2025-11-25", ops), id, callID, transferID)
	other := httpClientVersion(t, url, "2025-11-25", map[string]string{"Authorization": "Bearer " + viewerKey})
	if got, err := tryGetTask(t, other, id); err == nil || !strings.Contains(err.Error(), "task not found") {
		t.Errorf("another key read the task: %+v %v", got, err)
	}

	if err := proc.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	proc.Wait()
	url2, _, _ := httpServerProcess(t, dir, env...)
	checkCompletedTransferTask(t, httpClientVersion(t, url2, "2025-11-25", ops), id, callID, transferID)
	other = httpClientVersion(t, url2, "2025-11-25", map[string]string{"Authorization": "Bearer " + viewerKey})
	if got, err := tryGetTask(t, other, id); err == nil || !strings.Contains(err.Error(), "task not found") {
		t.Errorf("another key read the task after the restart: %+v %v", got, err)
	}
}

// TestTaskRestartMidTransfer stops the server while a transfer task waits
// on the phone network (the transferee reported only 100 Trying): the
// shutdown ends the call and its transfer, and a new client reads the
// task as ended with that stored outcome (the transfer canceled, the
// tool's coded error), not as working forever or unknown.
func TestTaskRestartMidTransfer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, logs := stdioServerVersion(t, "2025-11-25", dir)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))
	sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	task := callAsTask(t, c, "2025-11-25", "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber})
	waitForStep(t, c, task.TaskId, "transfer to "+salesNumber+": trying")
	c.Close()
	// The client's Close returns once the server has exited. Its shutdown
	// waited for the task's own result to be stored before it closed the
	// store (the stop's log goes to the stderr the client closed): a task
	// answered after the restart from that result, not from its transfer.
	checkTaskResultStored(t, dir, task.TaskId, "transfer canceled: "+core.TransferStoppedReason)

	c2, _ := stdioServerVersion(t, "2025-11-25", dir)
	got, err := tryGetTask(t, c2, task.TaskId)
	if err != nil {
		t.Fatalf("tasks/get: %v", err)
	}
	if got.Status != mcp.TaskStatusCompleted || !strings.HasPrefix(got.StatusMessage, "transfer to "+salesNumber+": canceled") {
		t.Errorf("tasks/get after the restart: %+v", got.Task)
	}
	res, err := taskResult(t, c2, task.TaskId)
	if err != nil {
		t.Fatalf("tasks/result: %v", err)
	}
	text := ""
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			text = tc.Text
		}
	}
	if !res.IsError || !strings.Contains(text, "transfer canceled: the server stopped during the transfer") {
		t.Errorf("tasks/result after the restart: %v %q", res.IsError, text)
	}
	checkResultShape(t, "transfer_call", &mcp.CallToolResult{Content: res.Content, StructuredContent: res.StructuredContent, IsError: true}, nil)
}

// checkTaskResultStored reads the task's record in the database of the
// data directory, whose server has exited, and checks the tool's own
// result is stored, with the text want.
func checkTaskResultStored(t *testing.T, dir, taskID, want string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "voicedock.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var status string
	var result sql.NullString
	if err := db.QueryRowContext(t.Context(), `SELECT status, result FROM tasks WHERE id = ?`, taskID).Scan(&status, &result); err != nil {
		t.Fatalf("task %s in the store: %v", taskID, err)
	}
	if status != "completed" || !strings.Contains(result.String, want) {
		t.Errorf("task %s stored %s with result %q, want completed with the tool's %q", taskID, status, result.String, want)
	}
}

// TestTaskKilledMidTransferHTTP kills the server process (no shutdown)
// while a transfer task started over HTTP waits on the phone network: the
// tool never returned, so after the restart the task answers from the
// stored transfer, which the restart's recovery canceled with its call:
// the task completed with transfer_call's call_not_active error, as the
// tool answers a transfer whose call ended under it. (It answered
// transfer_failed and "the caller is still connected", of a call the
// restart had ended.)
func TestTaskKilledMidTransferHTTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"VOICEDOCK_API_KEYS=ops:" + testKey, "VOICEDOCK_RATE_LIMIT_PER_MINUTE=0"}
	ops := map[string]string{"Authorization": "Bearer " + testKey}
	url, logs, proc := httpServerProcess(t, dir, env...)
	c := httpClientVersion(t, url, "2025-11-25", ops)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, sipptest.FreePort(t))
	sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	task := callAsTask(t, c, "2025-11-25", "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber})
	waitForStep(t, c, task.TaskId, "transfer to "+salesNumber+": trying")
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	proc.Wait()

	url2, _, _ := httpServerProcess(t, dir, env...)
	c2 := httpClientVersion(t, url2, "2025-11-25", ops)
	got, err := tryGetTask(t, c2, task.TaskId)
	if err != nil {
		t.Fatalf("tasks/get: %v", err)
	}
	if got.Status != mcp.TaskStatusCompleted || !strings.HasPrefix(got.StatusMessage, "transfer to "+salesNumber+": canceled") {
		t.Errorf("tasks/get after the restart: %+v", got.Task)
	}
	res, err := taskResult(t, c2, task.TaskId)
	if err != nil {
		t.Fatalf("tasks/result: %v", err)
	}
	text := ""
	if len(res.Content) > 0 {
		if tc, ok := res.Content[0].(mcp.TextContent); ok {
			text = tc.Text
		}
	}
	if !res.IsError || text != "call_not_active: transfer canceled: "+core.TransferStoppedReason {
		t.Errorf("tasks/result after the restart: %v %q", res.IsError, text)
	}
	checkResultShape(t, "transfer_call", &mcp.CallToolResult{Content: res.Content, StructuredContent: res.StructuredContent, IsError: true}, nil)
}
