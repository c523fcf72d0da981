package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

const (
	ourNumber   = "+31850835037"
	salesNumber = "+31612345678"
)

var sipListening = regexp.MustCompile(`msg="sip listening" addr=(\S+)`)

// phoneLine is a running server with one phone number whose assistant may
// transfer to salesNumber, through a trunk at the transfer target sipp.
type phoneLine struct {
	c       *client.Client
	logs    *syncBuffer
	sipAddr string
	offset  int
	watch   *callWatch // made by the first answered or ended
}

func newPhoneLine(t *testing.T, targetPort int, env ...string) *phoneLine {
	t.Helper()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(), env...)
	m, off := logs.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	line.configure(t, targetPort)
	return line
}

// configure sets up the assistant, the trunk at targetPort and the number.
func (p *phoneLine) configure(t *testing.T, targetPort int) {
	t.Helper()
	p.configureMessage(t, targetPort, "Connecting you to sales.")
}

// configureMessage is configure with the sales destination's message
// (none when ""; the caller hears it before each transfer).
func (p *phoneLine) configureMessage(t *testing.T, targetPort int, message string) {
	t.Helper()
	a := mustCall(t, p.c, "create_assistant", `{"name":"Front desk","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales","message":"`+message+`"},
		{"type":"sip","sip_uri":"sip:desk@127.0.0.1:`+strconv.Itoa(targetPort)+`","description":"the desk"}]}]}}`)
	tr := mustCall(t, p.c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(targetPort)+`}`)
	mustCall(t, p.c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
}

// answered waits for the server to answer the next call and returns its
// id, learnt from list_calls.
func (p *phoneLine) answered(t *testing.T) string {
	t.Helper()
	return p.calls(t).nextAnswered(t, 30*time.Second)
}

// ended waits for the call to end and returns its status and reason, from
// get_call.
func (p *phoneLine) ended(t *testing.T, callID string) (string, string) {
	t.Helper()
	return p.calls(t).ended(t, callID, 30*time.Second)
}

// calls is the line's watch on its calls, subscribed on first use.
func (p *phoneLine) calls(t *testing.T) *callWatch {
	t.Helper()
	if p.watch == nil {
		p.watch = watchCalls(t, p.c, p.logs)
	}
	return p.watch
}

// transfer calls transfer_call with a progress token and returns the
// result and the progress notifications received before it.
func transfer(t *testing.T, c *client.Client, callID, destination string) (toolResult, []map[string]any) {
	t.Helper()
	return transferWith(t, c, map[string]any{"call_id": callID, "destination": destination})
}

// transferWith is transfer with any transfer_call arguments.
func transferWith(t *testing.T, c *client.Client, args map[string]any) (toolResult, []map[string]any) {
	t.Helper()
	token := fmt.Sprintf("xfer-%d", time.Now().UnixNano())
	var mu sync.Mutex
	var steps []map[string]any
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != "notifications/progress" {
			return
		}
		if fmt.Sprint(n.Params.AdditionalFields["progressToken"]) != token {
			return
		}
		mu.Lock()
		steps = append(steps, n.Params.AdditionalFields)
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req := mcp.CallToolRequest{}
	req.Params.Name = "transfer_call"
	req.Params.Arguments = args
	req.Params.Meta = &mcp.Meta{ProgressToken: token}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("transfer_call: %v", err)
	}
	checkResultShape(t, "transfer_call", res, nil)
	out := toolResult{raw: res, isError: res.IsError}
	for _, content := range res.Content {
		if tc, ok := content.(mcp.TextContent); ok {
			out.text += tc.Text + "\n"
		}
	}
	out.json = res.RawStructuredContent
	if len(out.json) == 0 {
		out.json, _ = json.Marshal(res.StructuredContent)
	}
	json.Unmarshal(out.json, &out.structured)
	out.structured = withToolError(res, out.structured)
	mu.Lock()
	defer mu.Unlock()
	return out, append([]map[string]any(nil), steps...)
}

// checkProgress asserts what a client sees of a transfer: requested first,
// then steps that only move forward (the 202 may come after the first
// NOTIFY, so accepted may be skipped), ending in final.
func checkProgress(t *testing.T, steps []map[string]any, final string, logs *syncBuffer) {
	t.Helper()
	msgs := progressMessages(steps)
	if len(steps) < 2 || !strings.HasSuffix(msgs[0], ": requested") || !strings.Contains(msgs[len(msgs)-1], ": "+final) {
		t.Fatalf("progress %q, want requested ... %s\nserver log:\n%s", msgs, final, logs)
	}
	last := 0.0
	for i, s := range steps {
		p, _ := s["progress"].(float64)
		if p <= last || s["total"] != float64(5) {
			t.Errorf("progress step %d (%q) = %v of %v after %v", i, msgs[i], p, s["total"], last)
		}
		last = p
	}
}

func progressMessages(steps []map[string]any) []string {
	var out []string
	for _, s := range steps {
		msg, _ := s["message"].(string)
		out = append(out, msg)
	}
	return out
}

func TestInboundCallListedAndTransferred(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{})
	line := newLineNoMessage(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", strings.TrimPrefix(ourNumber, "+"))
	callID := line.answered(t)

	live := mustCall(t, line.c, "list_calls", `{"status":"in-progress"}`)
	calls, _ := live.structured["calls"].([]any)
	if len(calls) != 1 || calls[0].(map[string]any)["id"] != callID {
		t.Fatalf("list_calls: %s", live.json)
	}
	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	if field(got, "call", "status") != "in-progress" || field(got, "call", "agent_phone") != ourNumber || field(got, "call", "direction") != "inbound" {
		t.Fatalf("get_call: %s", got.json)
	}

	res, steps := transfer(t, line.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("transfer failed: %s", res.text)
	}
	checkProgress(t, steps, "completed", line.logs)
	caller.Wait(t)
	target.Wait(t)
	status, reason := line.ended(t, callID)
	if status != "transferred" || reason != "transferred" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	got = mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	tr := got.structured["call"].(map[string]any)["transfers"].([]any)[0].(map[string]any)
	if tr["status"] != "completed" || tr["sip_status"] != float64(200) || !strings.HasPrefix(tr["refer_to"].(string), "sip:"+salesNumber+"@127.0.0.1:") {
		t.Errorf("stored transfer: %v", tr)
	}
}

func TestUnknownNumberAndForbiddenSource(t *testing.T) {
	t.Parallel()
	line := newPhoneLine(t, sipptest.FreePort(t))
	unknown := sipptest.Start(t, "uac_expect_404.xml", line.sipAddr, sipptest.Options{}, "-s", "31201234567")
	unknown.Wait(t)
	foreign := sipptest.Start(t, "uac_expect_403.xml", line.sipAddr, sipptest.Options{IP: "127.0.0.2"}, "-s", strings.TrimPrefix(ourNumber, "+"))
	foreign.Wait(t)
	list := mustCall(t, line.c, "list_calls", `{}`)
	if n := list.structured["pagination"].(map[string]any)["total"]; n != float64(0) {
		t.Errorf("refused calls left records: %s", list.json)
	}
}
