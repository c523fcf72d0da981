package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// extTaskEvent is a line of clients/ext-tasks-client.mjs.
type extTaskEvent struct {
	Execution string `json:"execution"`
	Task      *struct {
		TaskID        string `json:"taskId"`
		Status        string `json:"status"`
		StatusMessage string `json:"statusMessage"`
	} `json:"task"`
	Outcome     json.RawMessage `json:"outcome"`
	Cancelled   string          `json:"cancelled"`
	AfterCancel *struct {
		Kind   string `json:"kind"`
		Result struct {
			ResultType    string `json:"resultType"`
			Status        string `json:"status"`
			StatusMessage string `json:"statusMessage"`
		} `json:"result"`
	} `json:"after_cancel"`
	Error string `json:"error"`
}

// httpPhoneLine is a phone line served over streamable HTTP, configured
// with mcp-go's client on 2025-11-25; url is its MCP endpoint.
func httpPhoneLine(t *testing.T, targetPort int) (*phoneLine, string) {
	t.Helper()
	url, logs := httpServer(t, t.TempDir())
	c := httpClientVersion(t, url, "2025-11-25", nil)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, targetPort)
	return line, url
}

// runExtTasks runs clients/ext-tasks-client.mjs with the tool and its
// arguments and returns its events.
func runExtTasks(t *testing.T, url, tool string, args map[string]any, extra ...string) []extTaskEvent {
	t.Helper()
	events, out, err := extTasksClient(t, url, tool, args, extra...)
	if err != nil {
		t.Fatalf("ext-tasks-client: %v\n%s", err, out)
	}
	return events
}

// extTasksClient is runExtTasks returning the failure (safe to call from
// any goroutine).
func extTasksClient(t *testing.T, url, tool string, args map[string]any, extra ...string) ([]extTaskEvent, []byte, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	body, _ := json.Marshal(args)
	out, err := runNode(t, env, append([]string{"ext-tasks-client.mjs", "--url", url, "--tool", tool, "--args", string(body)}, extra...)...)
	var events []extTaskEvent
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var ev extTaskEvent
		if json.Unmarshal(line, &ev) == nil {
			events = append(events, ev)
		}
	}
	t.Logf("ext-tasks-client:\n%s", out)
	return events, out, err
}

// TestSDKExtTasksTransferCompletes runs transfer_call as a task of the
// 2026-07-28 tasks extension with the official client and ext-tasks, a
// sipp caller and a target that rings: the client gets a task (not an
// immediate result), sees the transfer's steps as the task's
// statusMessage as the NOTIFYs arrive, and the task completes with the
// transfer's result.
func TestSDKExtTasksTransferCompletes(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "1500")
	line, url := httpPhoneLine(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	events := runExtTasks(t, url, "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber})
	if len(events) == 0 || events[0].Execution != "TaskExecution" {
		t.Fatalf("transfer_call did not run as a task: %+v", events)
	}
	var steps []string
	var outcome json.RawMessage
	for _, ev := range events {
		if ev.Task != nil {
			steps = append(steps, ev.Task.Status+": "+ev.Task.StatusMessage)
		}
		if ev.Outcome != nil {
			outcome = ev.Outcome
		}
	}
	joined := strings.Join(steps, "\n")
	if !strings.Contains(joined, "working: transfer to "+salesNumber+": ringing") {
		t.Errorf("the task never showed the ringing step:\n%s", joined)
	}
	if !strings.Contains(steps[len(steps)-1], "completed: transfer to "+salesNumber+": completed (SIP 200)") {
		t.Errorf("last state: %s", steps[len(steps)-1])
	}
	var o struct {
		Result struct {
			IsError           bool `json:"isError"`
			StructuredContent struct {
				Transfer struct {
					Status    string `json:"status"`
					SIPStatus int    `json:"sip_status"`
				} `json:"transfer"`
			} `json:"structuredContent"`
		} `json:"result"`
	}
	json.Unmarshal(outcome, &o)
	if o.Result.IsError || o.Result.StructuredContent.Transfer.Status != "completed" || o.Result.StructuredContent.Transfer.SIPStatus != 200 {
		t.Errorf("outcome: %s", outcome)
	}
	caller.Wait(t)
	target.Wait(t)
}

// TestSDKExtTasksTransferCancelKeepsCaller cancels a transfer task of the
// 2026-07-28 tasks extension (official client and ext-tasks) while the
// transferee has reported only 100 Trying: the server answers the task
// cancelled, the transfer is recorded canceled, and the caller stays on
// the call with the assistant until end_call.
func TestSDKExtTasksTransferCancelKeepsCaller(t *testing.T) {
	t.Parallel()
	line, url := httpPhoneLine(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	events := runExtTasks(t, url, "transfer_call", map[string]any{"call_id": callID, "destination": salesNumber}, "--cancel-at", "trying")
	var after *extTaskEvent
	for i := range events {
		if events[i].AfterCancel != nil {
			after = &events[i]
		}
	}
	if len(events) == 0 || events[0].Execution != "TaskExecution" {
		t.Fatalf("transfer_call did not run as a task: %+v", events)
	}
	if after == nil || after.AfterCancel.Kind != "result" || after.AfterCancel.Result.ResultType != "complete" || after.AfterCancel.Result.Status != "cancelled" {
		t.Fatalf("tasks/get after tasks/cancel: %+v", after)
	}
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
}

// TestSDKExtTasksTestDestinationDialCancelled runs test_destination with
// dial as a task of the 2026-07-28 tasks extension (official client and
// ext-tasks) against a phone that rings until cancelled: the task shows
// the dialling step, and tasks/cancel, sent once the phone rings, stops
// the test call (the phone gets a CANCEL, which ends its sipp scenario).
func TestSDKExtTasksTestDestinationDialCancelled(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_ring_cancel.xml", "", sipptest.Options{})
	line, url := httpPhoneLine(t, target.Port())
	assistant := firstID(t, line.c, "list_assistants", "assistants")
	ringing := filepath.Join(t.TempDir(), "ringing")
	type run struct {
		events []extTaskEvent
		out    []byte
		err    error
	}
	done := make(chan run, 1)
	go func() {
		events, out, err := extTasksClient(t, url, "test_destination",
			map[string]any{"destination": salesNumber, "assistant_id": assistant, "dial": true, "ring_timeout_seconds": 60},
			"--cancel-at", "test call to "+salesNumber+": dialling", "--cancel-when-file", ringing)
		done <- run{events, out, err}
	}()
	// "dialling" is reported before the INVITE is sent: the client cancels
	// once the phone rings (the server got its 180), as a person would.
	line.logs.waitFor(t, regexp.MustCompile(`msg="INVITE response" .*call_id=test-.* status=180`), line.offset, 60*time.Second)
	if err := os.WriteFile(ringing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("ext-tasks-client: %v\n%s", r.err, r.out)
	}
	events := r.events
	if len(events) == 0 || events[0].Execution != "TaskExecution" {
		t.Fatalf("test_destination did not run as a task: %+v", events)
	}
	var after *extTaskEvent
	for i := range events {
		if events[i].AfterCancel != nil {
			after = &events[i]
		}
	}
	if after == nil || after.AfterCancel.Result.Status != "cancelled" {
		t.Fatalf("tasks/get after tasks/cancel: %+v", after)
	}
	target.Wait(t) // CANCEL, 487, ACK: long before the 60 s ring timeout
}
