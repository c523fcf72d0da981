package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// modernPhoneLine is newPhoneLine on protocol 2026-07-28, whose client
// answers input requests with e (nil: a client without the elicitation
// capability).
func modernPhoneLine(t *testing.T, targetPort int, e *elicitor, env ...string) *phoneLine {
	t.Helper()
	stderr := &syncBuffer{}
	tr := transport.NewStdioWithOptions(binary, baseEnv(t.TempDir(), env...), []string{"serve", "--transport", "stdio"},
		transport.WithCommandStderrWriter(stderr))
	if err := tr.Start(t.Context()); err != nil {
		t.Fatalf("start stdio server: %v", err)
	}
	opts := []client.ClientOption{client.WithProtocolVersion("2026-07-28")}
	if e != nil {
		opts = append(opts, client.WithElicitationHandler(e))
	}
	c := client.NewClient(tr, opts...)
	t.Cleanup(func() { c.Close() })
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("start client: %v", err)
	}
	initialize(t, c, stderr)
	m, off := stderr.waitFor(t, sipListening, 0, 20*time.Second)
	line := &phoneLine{c: c, logs: stderr, sipAddr: m[1], offset: off}
	line.configure(t, targetPort)
	return line
}

// TestSDKRoundTripConfirmAccepted: on 2026-07-28 an ad-hoc destination is
// put to the user with an input-required round trip (ad-hoc transfers are
// off, so only the user's yes allows it); they say yes, and the REFER goes
// out and is followed to the target.
func TestSDKRoundTripConfirmAccepted(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	e := &elicitor{answer: answerWith(mcp.ElicitationResponseActionAccept, map[string]any{"confirm": true})}
	line := modernPhoneLine(t, target.Port(), e)
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, _ := transfer(t, line.c, callID, adhocNumber)
	if res.isError {
		t.Fatalf("confirmed transfer: %s\nserver log:\n%s", res.text, line.logs)
	}
	qs := e.questions()
	if len(qs) != 1 || !strings.HasPrefix(qs[0].Message, "Transfer the caller to +31201234567") {
		t.Fatalf("asked %d times: %+v", len(qs), qs)
	}
	caller.Wait(t)
	target.Wait(t)
	tr := lastTransfer(t, line, callID)
	if tr["status"] != "completed" || tr["confirmed_by"] != "elicitation" {
		t.Errorf("transfer on record: %v", tr)
	}
}

// TestSDKRoundTripConfirmRefused: a decline, or the call coming back
// without the answer, refuses with destination_not_allowed, and no REFER
// is sent; the question itself records nothing.
func TestSDKRoundTripConfirmRefused(t *testing.T) {
	t.Parallel()
	e := &elicitor{answer: answerWith(mcp.ElicitationResponseActionDecline, nil)}
	line := modernPhoneLine(t, sipptest.FreePort(t), e, "VOICEDOCK_ALLOW_ADHOC_TRANSFERS=true")
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "4000")
	callID := line.answered(t)

	res, steps := transfer(t, line.c, callID, adhocNumber)
	if res.errorCode() != "destination_not_allowed" || !strings.Contains(res.text, "the user declined") || len(steps) != 0 {
		t.Errorf("declined transfer: %s %v", res.text, steps)
	}

	// The call comes back with requestState but no answer: refused too.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	first := rawToolCall(t, ctx, line.c, map[string]any{"name": "transfer_call", "arguments": map[string]any{"call_id": callID, "destination": adhocNumber}})
	if first["resultType"] != "input_required" || first["requestState"] == nil {
		t.Fatalf("first round: %v", first)
	}
	if n := len(lastTransfers(t, line, callID)); n != 1 {
		t.Fatalf("the question recorded a transfer: %d on record", n)
	}
	second := rawToolCall(t, ctx, line.c, map[string]any{"name": "transfer_call", "arguments": map[string]any{"call_id": callID, "destination": adhocNumber},
		"requestState": first["requestState"], "inputResponses": map[string]any{}})
	text, _ := json.Marshal(second["content"])
	if second["isError"] != true || !strings.Contains(string(text), "destination_not_allowed: the user could not be asked") {
		t.Errorf("second round without an answer: %v", second)
	}
	caller.Wait(t)
	if strings.Contains(caller.Traces(), "REFER sip:") {
		t.Errorf("a REFER reached the caller:\n%s", caller.Traces())
	}
}

// TestSDKRoundTripWithoutElicitationIsThePolicys: a 2026-07-28 client
// without the elicitation capability is never asked; the policy decides.
func TestSDKRoundTripWithoutElicitationIsThePolicys(t *testing.T) {
	t.Parallel()
	line := modernPhoneLine(t, sipptest.FreePort(t), nil)
	caller := sipptest.Start(t, "uac_call_hangup.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser, "-d", "3000")
	callID := line.answered(t)
	res, _ := transfer(t, line.c, callID, adhocNumber)
	if res.errorCode() != "destination_not_allowed" || !strings.Contains(res.text, "VOICEDOCK_ALLOW_ADHOC_TRANSFERS") {
		t.Errorf("transfer without elicitation: %s", res.text)
	}
	caller.Wait(t)
}

func lastTransfers(t *testing.T, line *phoneLine, callID string) []any {
	t.Helper()
	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	transfers, _ := got.structured["call"].(map[string]any)["transfers"].([]any)
	return transfers
}

// rawToolCall sends tools/call as given, with the _meta a 2026-07-28
// client that can be asked carries, and returns the raw result: mcp-go's
// client would answer the input request itself.
func rawToolCall(t *testing.T, ctx context.Context, c *client.Client, params map[string]any) map[string]any {
	t.Helper()
	params["_meta"] = map[string]any{
		mcp.MetaKeyProtocolVersion:    "2026-07-28",
		mcp.MetaKeyClientInfo:         map[string]any{"name": "voicedock-e2e", "version": "1"},
		mcp.MetaKeyClientCapabilities: map[string]any{"elicitation": map[string]any{}},
	}
	resp, err := c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(time.Now().UnixNano()), Method: string(mcp.MethodToolsCall), Params: params,
	})
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	if resp.Error != nil {
		t.Fatalf("tools/call: %d %s", resp.Error.Code, resp.Error.Message)
	}
	var out map[string]any
	if err := json.Unmarshal(resp.Result, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
