package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// adhocNumber is a Dutch fixed line that no assistant lists.
const adhocNumber = "+31201234567"

// elicitor is an MCP client's elicitation handler: it records what it was
// asked and answers with answer.
type elicitor struct {
	mu     sync.Mutex
	asked  []mcp.ElicitationParams
	answer func(mcp.ElicitationParams) (*mcp.ElicitationResult, error)
}

func (e *elicitor) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	e.mu.Lock()
	e.asked = append(e.asked, req.Params)
	e.mu.Unlock()
	return e.answer(req.Params)
}

func (e *elicitor) questions() []mcp.ElicitationParams {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]mcp.ElicitationParams(nil), e.asked...)
}

func answerWith(action mcp.ElicitationResponseAction, content any) func(mcp.ElicitationParams) (*mcp.ElicitationResult, error) {
	return func(mcp.ElicitationParams) (*mcp.ElicitationResult, error) {
		return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: action, Content: content}}, nil
	}
}

// elicitingPhoneLine is newPhoneLine with a client that declares the
// elicitation capability (protocol 2025-11-25, where the server asks with
// elicitation/create).
func elicitingPhoneLine(t *testing.T, targetPort int, e *elicitor, env ...string) *phoneLine {
	t.Helper()
	stderr := &syncBuffer{}
	tr := transport.NewStdioWithOptions(binary, baseEnv(t.TempDir(), env...), []string{"serve", "--transport", "stdio"},
		transport.WithCommandStderrWriter(stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatalf("start stdio server: %v", err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion("2025-11-25"), client.WithElicitationHandler(e))
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("start client: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = "2025-11-25"
	req.Params.ClientInfo = mcp.Implementation{Name: "voicedock-e2e", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatalf("initialize: %v\nserver stderr:\n%s", err, stderr)
	}
	m, off := stderr.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: stderr, sipAddr: m[1], offset: off}
	line.configure(t, targetPort)
	return line
}

func lastTransfer(t *testing.T, line *phoneLine, callID string) map[string]any {
	t.Helper()
	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	transfers, _ := got.structured["call"].(map[string]any)["transfers"].([]any)
	if len(transfers) == 0 {
		t.Fatalf("no transfers on record: %s", got.json)
	}
	return transfers[len(transfers)-1].(map[string]any)
}

// TestAdhocTransferConfirmedByElicitation: ad-hoc transfers are off, the
// user says yes, and the REFER goes out and is followed to the target.
func TestAdhocTransferConfirmedByElicitation(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	e := &elicitor{answer: answerWith(mcp.ElicitationResponseActionAccept, map[string]any{"confirm": true})}
	line := elicitingPhoneLine(t, target.Port(), e)
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transfer(t, line.c, callID, adhocNumber)
	if res.isError {
		t.Fatalf("confirmed transfer: %s\nserver log:\n%s", res.text, line.logs)
	}
	checkProgress(t, steps, "completed", line.logs)
	qs := e.questions()
	if len(qs) != 1 {
		t.Fatalf("asked %d times", len(qs))
	}
	if want := "Transfer the caller to +31201234567 (NL, fixed line)? It is not one of Front desk's transfer destinations."; qs[0].Message != want {
		t.Errorf("asked %q, want %q", qs[0].Message, want)
	}
	schema, _ := qs[0].RequestedSchema.(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	if c, _ := props["confirm"].(map[string]any); c["type"] != "boolean" {
		t.Errorf("requested schema %v", qs[0].RequestedSchema)
	}
	caller.Wait(t)
	target.Wait(t)
	tr := lastTransfer(t, line, callID)
	if tr["status"] != "completed" || tr["confirmed_by"] != "elicitation" || tr["requested_by"] == nil {
		t.Errorf("transfer on record: %v", tr)
	}
	if res.structured["transfer"].(map[string]any)["confirmed_by"] != "elicitation" {
		t.Errorf("result: %s", res.json)
	}
}

// TestAdhocTransferDeclinedByElicitation: ad-hoc transfers are on, the user
// says no (or cancels, or unticks confirm): refused, and nothing reaches
// the wire.
func TestAdhocTransferDeclinedByElicitation(t *testing.T) {
	t.Parallel()
	target := sipptest.FreePort(t)
	answers := []func(mcp.ElicitationParams) (*mcp.ElicitationResult, error){
		answerWith(mcp.ElicitationResponseActionDecline, nil),
		answerWith(mcp.ElicitationResponseActionCancel, nil),
		answerWith(mcp.ElicitationResponseActionAccept, map[string]any{"confirm": false}),
	}
	var n int
	var mu sync.Mutex
	e := &elicitor{answer: func(p mcp.ElicitationParams) (*mcp.ElicitationResult, error) {
		mu.Lock()
		defer mu.Unlock()
		a := answers[n%len(answers)]
		n++
		return a(p)
	}}
	line := elicitingPhoneLine(t, target, e, "VOICEDOCK_ALLOW_ADHOC_TRANSFERS=true")
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "3000")
	callID := line.answered(t)

	for range answers {
		res, steps := transfer(t, line.c, callID, adhocNumber)
		if !res.isError || res.errorCode() != "destination_not_allowed" || !strings.Contains(res.text, "the user declined") {
			t.Errorf("declined transfer: %s", res.text)
		}
		if len(steps) != 0 {
			t.Errorf("a declined transfer reported progress: %v", progressMessages(steps))
		}
	}
	if got := len(e.questions()); got != len(answers) {
		t.Errorf("asked %d times, want %d", got, len(answers))
	}
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after declined transfers the call is %s", s)
	}
	caller.Wait(t)
	if strings.Contains(caller.Traces(), "REFER sip:") {
		t.Errorf("a REFER reached the caller:\n%s", caller.Traces())
	}
	tr := lastTransfer(t, line, callID)
	if tr["status"] != "failed" || tr["refer_to"] != nil || tr["confirmed_by"] != nil || !strings.Contains(tr["reason"].(string), "the user declined") {
		t.Errorf("transfer on record: %v", tr)
	}
}

// TestAdhocWithoutElicitationIsThePolicys: a client without the capability
// is never asked; the policy decides (ad-hoc transfers off: refused).
func TestAdhocWithoutElicitationIsThePolicys(t *testing.T) {
	t.Parallel()
	target := sipptest.FreePort(t)
	line := newPhoneLine(t, target)
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "3000")
	callID := line.answered(t)
	res, _ := transfer(t, line.c, callID, adhocNumber)
	if !res.isError || res.errorCode() != "destination_not_allowed" || !strings.Contains(res.text, "VOICEDOCK_ALLOW_ADHOC_TRANSFERS") {
		t.Errorf("transfer without elicitation: %s", res.text)
	}
	caller.Wait(t)
	if strings.Contains(caller.Traces(), "REFER sip:") {
		t.Errorf("a REFER reached the caller:\n%s", caller.Traces())
	}
}
