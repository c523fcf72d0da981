package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// taskWatch collects notifications/tasks/status as they arrive.
type taskWatch struct {
	mu       sync.Mutex
	messages []string
	changed  chan struct{}
}

func watchTasks(c *client.Client) *taskWatch {
	w := &taskWatch{changed: make(chan struct{}, 1)}
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != string(mcp.MethodNotificationTasksStatus) {
			return
		}
		msg, _ := n.Params.AdditionalFields["statusMessage"].(string)
		status, _ := n.Params.AdditionalFields["status"].(string)
		w.mu.Lock()
		w.messages = append(w.messages, status+": "+msg)
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	})
	return w
}

// waitFor waits until a notification's text contains s.
func (w *taskWatch) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		for _, m := range w.messages {
			if strings.Contains(m, s) {
				w.mu.Unlock()
				return
			}
		}
		w.mu.Unlock()
		select {
		case <-w.changed:
		case <-deadline:
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("no task status with %q; got %q", s, w.messages)
		}
	}
}

// callAsTask sends tools/call with params.task and returns the task the
// server created. mcp-go's client reads every tools/call answer as a
// CallToolResult, so the request goes through its transport.
func callAsTask(t *testing.T, c *client.Client, version, tool string, args any) mcp.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ttl := int64(600000)
	params := map[string]any{"name": tool, "arguments": args, "task": mcp.TaskParams{TTL: &ttl}}
	if version == "2026-07-28" {
		params["_meta"] = map[string]any{
			mcp.MetaKeyProtocolVersion:    version,
			mcp.MetaKeyClientInfo:         map[string]any{"name": "voicedock-e2e", "version": "1"},
			mcp.MetaKeyClientCapabilities: map[string]any{},
		}
	}
	resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(time.Now().UnixNano()), Method: string(mcp.MethodToolsCall),
		Params: params,
	})
	if err != nil {
		t.Fatalf("%s as a task: %v", tool, err)
	}
	if resp.Error != nil {
		t.Fatalf("%s as a task: %d %s", tool, resp.Error.Code, resp.Error.Message)
	}
	var created mcp.CreateTaskResult
	if err := json.Unmarshal(resp.Result, &created); err != nil || created.Task.TaskId == "" {
		t.Fatalf("%s as a task: %s (%v)", tool, resp.Result, err)
	}
	return created.Task
}

// waitForStep polls tasks/get, as a client does, until the task's
// statusMessage shows the transfer's step, within a deadline.
func waitForStep(t *testing.T, c *client.Client, id, step string) mcp.Task {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seen []string
	for {
		task := getTask(t, c, id)
		if strings.Contains(task.StatusMessage, step) {
			return task
		}
		if len(seen) == 0 || seen[len(seen)-1] != task.StatusMessage {
			seen = append(seen, task.StatusMessage)
		}
		if time.Now().After(deadline) {
			t.Fatalf("task never showed %q; saw %q", step, seen)
		}
		<-tick.C
	}
}

// waitForStatus polls tasks/get until the task has the status, within a
// deadline.
func waitForStatus(t *testing.T, c *client.Client, id string, status mcp.TaskStatus) mcp.Task {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		task := getTask(t, c, id)
		if task.Status == status {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task never became %s: %+v", status, task)
		}
		<-tick.C
	}
}

// taskLine is a phone line on the given protocol version.
func taskLine(t *testing.T, version string, targetPort int) *phoneLine {
	t.Helper()
	if version == "2026-07-28" {
		return modernPhoneLine(t, targetPort, nil)
	}
	return newPhoneLine(t, targetPort)
}

func getTask(t *testing.T, c *client.Client, id string) mcp.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := mcp.GetTaskRequest{}
	req.Params.TaskId = id
	res, err := c.GetTask(ctx, req)
	if err != nil {
		t.Fatalf("tasks/get: %v", err)
	}
	return res.Task
}

// TestTaskTransferCompletes runs transfer_call as a task with a sipp caller
// and target, on both protocol versions: the client gets the task at once,
// each NOTIFY moves the task's statusMessage on (tasks/get; on 2025-11-25
// also notifications/tasks/status), and tasks/result gives the transfer,
// which validates against the tool's output schema.
func TestTaskTransferCompletes(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "1000")
			line := taskLine(t, version, target.Port())
			w := watchTasks(line.c)
			caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", strings.TrimPrefix(ourNumber, "+"))
			callID := line.answered(t)

			task := callAsTask(t, line.c, version, "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber})
			if task.Status != mcp.TaskStatusWorking {
				t.Fatalf("new task: %+v", task)
			}
			// ringing lasts the target's ring_ms; trying may pass between two polls.
			for _, step := range []string{"ringing"} {
				if got := waitForStep(t, line.c, task.TaskId, "transfer to "+salesNumber+": "+step); got.Status != mcp.TaskStatusWorking {
					t.Errorf("task while %s: %+v", step, got)
				}
			}
			// tasks/get names the transfer, which get_call shows even when
			// the task is gone (a restart).
			gctx, gcancel := context.WithTimeout(t.Context(), 10*time.Second)
			greq := mcp.GetTaskRequest{}
			greq.Params.TaskId = task.TaskId
			gres, err := line.c.GetTask(gctx, greq)
			gcancel()
			if err != nil || gres.Meta == nil {
				t.Fatalf("tasks/get: %+v %v", gres, err)
			}
			obj, _ := gres.Meta.AdditionalFields["voicedock/task-object"].(map[string]any)
			if obj["call_id"] != callID || obj["transfer_id"] == nil {
				t.Errorf("tasks/get _meta: %v", gres.Meta.AdditionalFields)
			}
			if version == "2025-11-25" {
				for _, step := range []string{"requested", "trying", "ringing", "completed"} {
					w.waitFor(t, "transfer to "+salesNumber+": "+step)
				}
			}
			if version == "2026-07-28" {
				// mcp-go serves no tasks/result on 2026-07-28 (that version's
				// tasks extension moved the result into tasks/get, which
				// mcp-go v1.6.0 does not fill): the final statusMessage and
				// get_call tell the outcome.
				waitForStep(t, line.c, task.TaskId, "transfer to "+salesNumber+": completed (SIP 200)")
				// The task completes once the tool returned, after its last step.
				got := waitForStatus(t, line.c, task.TaskId, mcp.TaskStatusCompleted)
				if !strings.Contains(got.StatusMessage, "completed (SIP 200)") {
					t.Errorf("finished task: %+v", got)
				}
				if tr := lastTransfer(t, line, callID); tr["status"] != "completed" || tr["id"] != obj["transfer_id"] {
					t.Errorf("transfer on record: %v", tr)
				}
				caller.Wait(t)
				target.Wait(t)
				return
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			req := mcp.TaskResultRequest{}
			req.Params.TaskId = task.TaskId
			res, err := line.c.TaskResult(ctx, req)
			if err != nil {
				t.Fatalf("tasks/result: %v", err)
			}
			if res.IsError {
				t.Fatalf("transfer task failed: %+v", res.Content)
			}
			body, _ := json.Marshal(res.StructuredContent)
			var out struct {
				Transfer struct {
					Status    string `json:"status"`
					SIPStatus int    `json:"sip_status"`
				} `json:"transfer"`
			}
			json.Unmarshal(body, &out)
			if out.Transfer.Status != "completed" || out.Transfer.SIPStatus != 200 {
				t.Fatalf("task result: %s", body)
			}
			checkResultShape(t, "transfer_call", &mcp.CallToolResult{StructuredContent: res.StructuredContent}, nil)
			got := getTask(t, line.c, task.TaskId)
			if got.Status != mcp.TaskStatusCompleted || !strings.Contains(got.StatusMessage, "completed (SIP 200)") {
				t.Errorf("finished task: %+v", got)
			}
			caller.Wait(t)
			target.Wait(t)
		})
	}
}

// TestTaskTransferCancelKeepsCaller cancels a transfer task while the
// transferee has reported only 100 Trying, on both protocol versions: the
// transfer is recorded as canceled, the caller stays on the call with the
// assistant (in progress, no BYE), and only end_call hangs up.
func TestTaskTransferCancelKeepsCaller(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			line := taskLine(t, version, sipptest.FreePort(t))
			caller := sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
			callID := line.answered(t)

			task := callAsTask(t, line.c, version, "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber})
			waitForStep(t, line.c, task.TaskId, "transfer to "+salesNumber+": trying")
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			req := mcp.CancelTaskRequest{}
			req.Params.TaskId = task.TaskId
			res, err := line.c.CancelTask(ctx, req)
			if err != nil || res.Task.Status != mcp.TaskStatusCancelled {
				t.Fatalf("tasks/cancel: %+v %v", res, err)
			}
			// The cancellation reaches the transfer through the task's context:
			// wait until the canceled step is stored (it is logged after that).
			line.logs.waitFor(t, regexp.MustCompile(`msg="transfer step" call_id=`+regexp.QuoteMeta(callID)+` .*status=canceled`), 0, 20*time.Second)
			got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
			tr := got.structured["call"].(map[string]any)["transfers"].([]any)[0].(map[string]any)
			if s := field(got, "call", "status"); s != "in-progress" || tr["status"] != "canceled" || !strings.Contains(tr["reason"].(string), "cancelled the task") {
				t.Fatalf("after the cancelled task the call is %s, its transfer %v", s, tr)
			}
			select {
			case <-caller.Done():
				t.Fatal("the caller was hung up after the task was cancelled")
			default:
			}
			ended := mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
			if field(ended, "call", "end_reason") != "assistant_ended" {
				t.Errorf("end_call: %s", ended.json)
			}
			caller.Wait(t)
		})
	}
}

// TestTaskTestDestinationDialCancelled runs test_destination with dial as
// a task against a phone that rings until cancelled: the task shows the
// dialling step, and tasks/cancel stops the test call (the phone gets a
// CANCEL, which ends its sipp scenario).
func TestTaskTestDestinationDialCancelled(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_ring_cancel.xml", "", sipptest.Options{})
	line := newPhoneLine(t, target.Port())
	assistant := firstID(t, line.c, "list_assistants", "assistants")
	task := callAsTask(t, line.c, "2025-11-25", "test_destination",
		map[string]any{"destination": salesNumber, "assistant_id": assistant, "dial": true, "ring_timeout_seconds": 60})
	waitForStep(t, line.c, task.TaskId, "test call to "+salesNumber+": dialling")
	// "dialling" is reported before the INVITE is built and sent; a task
	// cancelled before it is sent places no call at all (right, but then
	// the phone never rings and its scenario waits for an INVITE until it
	// times out). Cancel once the phone rings: the server got its 180.
	line.logs.waitFor(t, regexp.MustCompile(`msg="INVITE response" .*call_id=test-.* status=180`), line.offset, 20*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := mcp.CancelTaskRequest{}
	req.Params.TaskId = task.TaskId
	if res, err := line.c.CancelTask(ctx, req); err != nil || res.Task.Status != mcp.TaskStatusCancelled {
		t.Fatalf("tasks/cancel: %+v %v", res, err)
	}
	target.Wait(t) // CANCEL, 487, ACK: long before the 60 s ring timeout
}
