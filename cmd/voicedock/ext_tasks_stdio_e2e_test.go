package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

var extRequestID atomic.Int64

// extRequest sends one 2026-07-28 request as it is on c's transport (the
// tasks extension's messages, which mcp-go's client does not know),
// listing the tasks extension in the client's capabilities when ext.
func extRequest(t *testing.T, c *client.Client, method string, params map[string]any, ext bool) (json.RawMessage, *mcp.JSONRPCErrorDetails) {
	t.Helper()
	caps := map[string]any{}
	if ext {
		caps["extensions"] = map[string]any{"io.modelcontextprotocol/tasks": map[string]any{}}
	}
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "raw", "version": "1"},
		"io.modelcontextprotocol/clientCapabilities": caps,
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId("ext-" + strconv.FormatInt(extRequestID.Add(1), 10)), Method: method, Params: params,
	})
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return resp.Result, resp.Error
}

// extTask is a task of the tasks extension, as tasks/get shows it.
type extTask struct {
	ResultType    string `json:"resultType"`
	TaskID        string `json:"taskId"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage"`
	Meta          struct {
		Object map[string]string `json:"voicedock/task-object"`
	} `json:"_meta"`
	Result struct {
		ResultType        string `json:"resultType"`
		IsError           bool   `json:"isError"`
		StructuredContent struct {
			Transfer struct {
				ID        string `json:"id"`
				Status    string `json:"status"`
				SIPStatus int    `json:"sip_status"`
			} `json:"transfer"`
		} `json:"structuredContent"`
	} `json:"result"`
}

func extGetTask(t *testing.T, c *client.Client, id string) extTask {
	t.Helper()
	res, rpcErr := extRequest(t, c, "tasks/get", map[string]any{"taskId": id}, false)
	if rpcErr != nil {
		t.Fatalf("tasks/get: %+v", rpcErr)
	}
	var task extTask
	if err := json.Unmarshal(res, &task); err != nil || task.ResultType != "complete" {
		t.Fatalf("tasks/get: %s %v", res, err)
	}
	return task
}

// TestTaskExtensionOverStdioAndRestart runs transfer_call as a task of the
// 2026-07-28 tasks extension over stdio with a sipp caller and target: the
// call answers with the task at once, tasks/get shows the ringing step
// and then the completed task with the transfer inline; after a restart
// of the server on the same data directory, tasks/get answers the same
// from the store.
func TestTaskExtensionOverStdioAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "1000")
	c, logs := stdioServerVersion(t, "2026-07-28", dir)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, rpcErr := extRequest(t, c, "tools/call", map[string]any{"name": "transfer_call", "arguments": map[string]any{"call_id": callID, "destination": salesNumber}}, true)
	var created extTask
	if rpcErr != nil || json.Unmarshal(res, &created) != nil || created.ResultType != "task" || created.Status != "working" {
		t.Fatalf("tools/call: %s %+v", res, rpcErr)
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seen []string
	task := extGetTask(t, c, created.TaskID)
	for task.Status == "working" && time.Now().Before(deadline) {
		if len(seen) == 0 || seen[len(seen)-1] != task.StatusMessage {
			seen = append(seen, task.StatusMessage)
		}
		<-tick.C
		task = extGetTask(t, c, created.TaskID)
	}
	if !strings.Contains(strings.Join(seen, "\n"), "transfer to "+salesNumber+": ringing (SIP 180)") {
		t.Errorf("the task never showed the ringing step: %q", seen)
	}
	check := func(when string, task extTask) {
		t.Helper()
		tr := task.Result.StructuredContent.Transfer
		if task.Status != "completed" || task.StatusMessage != "transfer to "+salesNumber+": completed (SIP 200)" ||
			task.Result.ResultType != "complete" || task.Result.IsError || tr.Status != "completed" || tr.SIPStatus != 200 ||
			task.Meta.Object["call_id"] != callID || task.Meta.Object["transfer_id"] != tr.ID {
			t.Fatalf("%s: %+v", when, task)
		}
	}
	check("finished task", task)
	caller.Wait(t)
	target.Wait(t)
	c.Close()

	c2, _ := stdioServerVersion(t, "2026-07-28", dir)
	check("after the restart", extGetTask(t, c2, created.TaskID))
	if _, rpcErr := extRequest(t, c2, "tasks/get", map[string]any{"taskId": "9b2f4c1e-0000-4000-8000-000000000000"}, false); rpcErr == nil {
		t.Error("tasks/get of an unknown task answered")
	}
}
