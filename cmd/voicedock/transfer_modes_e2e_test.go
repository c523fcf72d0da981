package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// transferRecord is what get_call shows of a call's transfers.
type transferRecord struct {
	Status   string `json:"status"`
	Attempt  int    `json:"attempt"`
	Reason   string `json:"reason"`
	Attempts []struct {
		Destination string   `json:"destination"`
		Mode        string   `json:"mode"`
		ReferTo     string   `json:"refer_to"`
		Status      string   `json:"status"`
		SIPStatus   int      `json:"sip_status"`
		Reason      string   `json:"reason"`
		LegCallID   string   `json:"leg_call_id"`
		LegStatus   string   `json:"leg_status"`
		Bridged     bool     `json:"bridged"`
		CallerID    string   `json:"caller_id"`
		SIPHeaders  []string `json:"sip_headers"`
	} `json:"attempts"`
	Steps []struct {
		Status  string `json:"status"`
		Attempt int    `json:"attempt"`
	} `json:"steps"`
}

func callTransfers(t *testing.T, r toolResult) (string, []transferRecord) {
	t.Helper()
	var out struct {
		Call struct {
			Status    string           `json:"status"`
			Transfers []transferRecord `json:"transfers"`
		} `json:"call"`
	}
	if err := json.Unmarshal(r.json, &out); err != nil {
		t.Fatalf("get_call: %v: %s", err, r.json)
	}
	return out.Call.Status, out.Call.Transfers
}

// TestFallbackAfterBusy: the first destination is busy (the caller's side
// relays 486), the server tries the fallback without being asked again,
// and the caller reaches it. Both attempts are on the record, in the
// store, and the progress only grows across them.
func TestFallbackAfterBusy(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	rcv := newReceiver(t, "")
	line := newLineNoMessage(t, target.Port(), "VOICEDOCK_WEBHOOK_URL="+rcv.srv.URL)
	caller := sipptest.Start(t, "uac_transfer_busy_then_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	desk := "sip:desk@127.0.0.1:" + strconv.Itoa(target.Port())

	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "fallback_destinations": []string{desk}})
	if res.isError {
		t.Fatalf("transfer with a fallback: %s\n%s", res.text, line.logs)
	}
	msgs := progressMessages(steps)
	last := 0.0
	for i, s := range steps {
		p, _ := s["progress"].(float64)
		if p <= last || s["total"] != float64(10) {
			t.Errorf("progress step %d (%q) = %v of %v after %v", i, msgs[i], p, s["total"], last)
		}
		last = p
	}
	if last != 10 || !strings.Contains(strings.Join(msgs, "\n"), "(destination 2 of 2): requested") {
		t.Errorf("progress: %q", msgs)
	}
	caller.Wait(t)
	target.Wait(t)
	line.ended(t, callID)
	// The call has ended: this is the stored record.
	status, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if status != "transferred" || len(transfers) != 1 {
		t.Fatalf("call %s with %d transfers", status, len(transfers))
	}
	tr := transfers[0]
	if tr.Status != "completed" || tr.Attempt != 2 || len(tr.Attempts) != 2 {
		t.Fatalf("transfer on record: %+v", tr)
	}
	a, b := tr.Attempts[0], tr.Attempts[1]
	if a.Destination != salesNumber || a.Status != "failed" || a.SIPStatus != 486 || !strings.Contains(a.Reason, "busy") || a.Mode != "blind" {
		t.Errorf("first attempt: %+v", a)
	}
	if b.Destination != desk || b.ReferTo != desk || b.Status != "completed" || b.SIPStatus != 200 {
		t.Errorf("second attempt: %+v", b)
	}
	// The transfer-update webhooks tell the same story.
	rcv.waitFor(t, "transfer-update of the second attempt", func(es []receivedEvent) bool {
		var next, done bool
		for _, e := range es {
			next = next || (e.event == "transfer-update" && e.transferStatus == "requested" && e.attempt == 2 && e.attempts == 2)
			done = done || (e.event == "transfer-update" && e.transferStatus == "completed" && e.attempt == 2)
		}
		return next && done
	})
	var failed1, completed2 bool
	for _, s := range tr.Steps {
		failed1 = failed1 || (s.Status == "failed" && s.Attempt == 1)
		completed2 = completed2 || (s.Status == "completed" && s.Attempt == 2)
	}
	if !failed1 || !completed2 {
		t.Errorf("steps: %+v", tr.Steps)
	}
}

// TestFallbackPolicyFirst: a fallback the policy refuses stops the whole
// transfer before anything is sent, and names the field.
func TestFallbackPolicyFirst(t *testing.T) {
	t.Parallel()
	line := newPhoneLine(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_refer_reject.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "fallback_destinations": []string{"+449098790000"}})
	if res.errorCode() != "destination_not_allowed" || res.errorParam() != "fallback_destinations[0]" {
		t.Fatalf("refused fallback: %s", res.text)
	}
	if strings.Contains(line.logs.String(), "REFER sent") {
		t.Error("a REFER went out although a fallback was refused")
	}
	for _, bad := range []string{
		`{"call_id":"` + callID + `","destination":"` + salesNumber + `","sip_headers":{"Contact":"x"}}`,
		`{"call_id":"` + callID + `","destination":"` + salesNumber + `","sip_headers":{"X-A":"a\r\nVia: x"}}`,
		`{"call_id":"` + callID + `","destination":"` + salesNumber + `","fallback_destinations":["` + salesNumber + `"]}`,
		`{"call_id":"` + callID + `","destination":"` + salesNumber + `","mode":"consult"}`,
	} {
		if r := call(t, line.c, "transfer_call", bad); r.errorCode() != "invalid_request" {
			t.Errorf("%s: %s", bad, r.text)
		}
	}
	// The call is still there, then REFER works as before (603 here).
	res, _ = transfer(t, line.c, callID, salesNumber)
	if res.errorCode() != "transfer_failed" {
		t.Fatalf("transfer after refusals: %s", res.text)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// TestBlindTransferHeaders: sip_headers and the summary reach the caller's
// side in the Refer-To URI, escaped; the caller follows the URI without
// them (uac_transfer_headers.xml checks each).
func TestBlindTransferHeaders(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	line := newLineNoMessage(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_headers.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	res, _ := transferWith(t, line.c, map[string]any{
		"call_id": callID, "destination": salesNumber, "summary": "Billing question:\ncard declined",
		"sip_headers": map[string]string{"X-Account": "42", "User-to-User": "56a390f3d2b7310023a2;encoding=hex"},
	})
	if res.isError {
		t.Fatalf("transfer: %s\n%s", res.text, line.logs)
	}
	caller.Wait(t)
	target.Wait(t)
	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if got := transfers[0].Attempts[0].SIPHeaders; strings.Join(got, ",") != "User-to-User,X-Account,X-Transfer-Summary" {
		t.Errorf("headers on record: %v", got)
	}
}

// newModesLine is a running server whose assistant transfers to
// salesNumber (through the trunk at targetPort) in the given mode, with
// caller_id "caller" and the sip_header X-Account: 42; env is added to
// the server's environment.
func newModesLine(t *testing.T, targetPort int, mode string, env ...string) *phoneLine {
	t.Helper()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir(), env...)
	m, off := logs.waitFor(t, sipListening, 0, 20e9)
	line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
	a := mustCall(t, c, "create_assistant", `{"name":"Front desk","llm_config":{"tools":[{"type":"transfer_call","destinations":[
		{"type":"number","number":"`+salesNumber+`","description":"sales","mode":"`+mode+`","caller_id":"caller","sip_headers":{"X-Account":"42"}}]}]}}`)
	tr := mustCall(t, c, "configure_trunk", `{"name":"PBX","host":"127.0.0.1","port":`+strconv.Itoa(targetPort)+`}`)
	mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","assistant_id":"`+field(a, "assistant", "id")+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	return line
}

// TestBridgeTransfer: the server calls the human through the trunk (with
// the destination's header, the summary and the caller's number), holds
// both legs as a transferred call, and when the human hangs up it hangs up
// the caller; the record shows both legs.
func TestBridgeTransfer(t *testing.T) {
	t.Parallel()
	leg := sipptest.Start(t, "uas_transfer_leg.xml", "", sipptest.Options{}, "-set", "hangup", "leg")
	line := newModesLine(t, leg.Port(), "bridge")
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund"})
	if res.isError {
		t.Fatalf("bridge transfer: %s\n%s", res.text, line.logs)
	}
	checkProgress(t, steps, "completed", line.logs)
	leg.Wait(t)    // the human hung up...
	caller.Wait(t) // ...and the caller got our BYE
	if status, reason := line.ended(t, callID); status != "transferred" || reason != "transferred" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	status, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if status != "transferred" || len(transfers) != 1 || len(transfers[0].Attempts) != 1 {
		t.Fatalf("call %s, transfers %+v", status, transfers)
	}
	a := transfers[0].Attempts[0]
	if a.Mode != "bridge" || !a.Bridged || a.LegCallID == "" || a.LegStatus != "ended" || a.CallerID != "+15550100001" || a.Status != "completed" {
		t.Errorf("bridge attempt on record: %+v", a)
	}
}

// TestWarmTransferBusy: the human's phone is busy; the server drops its
// call, the caller comes off hold (and hears the fallback message once
// media is on), and the transfer fails with the reason while the call
// stays with the assistant.
func TestWarmTransferBusy(t *testing.T) {
	t.Parallel()
	leg := sipptest.Start(t, "uas_transfer_leg.xml", "", sipptest.Options{}, "-set", "answer", "busy")
	line := newModesLine(t, leg.Port(), "warm")
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund"})
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "busy") {
		t.Fatalf("busy warm transfer: %s", res.text)
	}
	if e := res.structured["error"].(map[string]any); e["sip_status"] != float64(486) {
		t.Errorf("error: %v", e)
	}
	checkProgress(t, steps, "failed", line.logs)
	leg.Wait(t)
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after a busy warm transfer the call is %s; the caller must stay with the assistant", s)
	}
	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if a := transfers[0].Attempts[0]; a.Mode != "warm" || a.LegStatus != "failed" || a.SIPStatus != 486 {
		t.Errorf("warm attempt on record: %+v", a)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// TestWarmTransferReplaces: the server calls the human first (the summary
// in X-Transfer-Summary), then REFERs the caller with a Replaces naming
// that call; the caller's INVITE with Replaces reaches the human's phone,
// which checks it names the consult call. The server ends both its legs.
func TestWarmTransferReplaces(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_warm_target.xml", "", sipptest.Options{Calls: 2})
	line := newModesLine(t, target.Port(), "warm")
	caller := sipptest.Start(t, "uac_transfer_replaces.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund"})
	if res.isError {
		t.Fatalf("warm transfer: %s\n%s", res.text, line.logs)
	}
	checkProgress(t, steps, "completed", line.logs)
	caller.Wait(t) // our BYE to the caller came
	target.Wait(t) // the consult call got our BYE too
	if status, reason := line.ended(t, callID); status != "transferred" || reason != "transferred" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	// The consult call's end is recorded once our BYE on it is answered,
	// which may be just after the target's sipp exits.
	got := line.calls(t).getCallUntil(t, callID, "for the consult call to end", 10*time.Second, func(r toolResult) bool {
		_, trs := callTransfers(t, r)
		return len(trs) > 0 && len(trs[0].Attempts) > 0 && trs[0].Attempts[0].LegStatus != "answered"
	})
	_, transfers := callTransfers(t, got)
	a := transfers[0].Attempts[0]
	if a.Mode != "warm" || a.Bridged || a.Status != "completed" || a.LegCallID == "" || a.LegStatus != "ended" ||
		a.ReferTo != "sip:human@127.0.0.1:"+strconv.Itoa(target.Port()) {
		t.Errorf("warm attempt on record: %+v", a)
	}
}

// TestWarmTransferBridgedWhenReferRefused: the caller's phone refuses the
// REFER (603), so the server bridges the caller and the human it already
// has on the line; when the caller's call is ended, the human's is too.
// (The human stays on the line until then: hanging up while the summary
// plays would fail the attempt, and TestBridgeTransfer has the human
// hang up a bridge.)
func TestWarmTransferBridgedWhenReferRefused(t *testing.T) {
	t.Parallel()
	leg := sipptest.Start(t, "uas_transfer_leg.xml", "", sipptest.Options{})
	line := newModesLine(t, leg.Port(), "warm")
	caller := sipptest.Start(t, "uac_refer_reject.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund"})
	if res.isError {
		t.Fatalf("warm transfer with a refused REFER: %s\n%s", res.text, line.logs)
	}
	checkProgress(t, steps, "completed", line.logs)
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	leg.Wait(t)
	caller.Wait(t)
	if status, reason := line.ended(t, callID); status != "transferred" || reason != "transferred" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	line.logs.waitFor(t, regexp.MustCompile(`msg="transfer leg ended" call_id=`+regexp.QuoteMeta(callID)), 0, 10*time.Second)
	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	tr := transfers[0]
	if a := tr.Attempts[0]; a.Mode != "warm" || !a.Bridged || a.Status != "completed" || a.LegStatus != "ended" || !strings.Contains(a.Reason, "declined the REFER") {
		t.Errorf("attempt on record: %+v", a)
	}
}

// TestWarmTransferNoAnswer: the human's phone rings past dial_timeout; the
// server CANCELs its call, the caller comes off hold, and the transfer
// fails saying so while the call stays with the assistant.
func TestWarmTransferNoAnswer(t *testing.T) {
	t.Parallel()
	leg := sipptest.Start(t, "uas_ring_cancel.xml", "", sipptest.Options{})
	line := newModesLine(t, leg.Port(), "warm")
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "dial_timeout": 5})
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "did not answer within 5s") {
		t.Fatalf("unanswered warm transfer: %s", res.text)
	}
	leg.Wait(t) // CANCEL, 487, ACK
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after an unanswered warm transfer the call is %s", s)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

// TestWarmTransferBridgedWithoutReplaces: the caller's INVITE did not list
// Replaces in Supported, so rather than risk a second call to the human
// the server bridges the caller to the call it has with them (ended from
// the caller's side here, which hangs up the human's leg).
func TestWarmTransferBridgedWithoutReplaces(t *testing.T) {
	t.Parallel()
	leg := sipptest.Start(t, "uas_transfer_leg.xml", "", sipptest.Options{})
	line := newModesLine(t, leg.Port(), "warm")
	caller := sipptest.Start(t, "uac_wait_bye.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, _ := transferWith(t, line.c, map[string]any{"call_id": callID, "destination": salesNumber, "summary": "Customer asks about a refund"})
	if res.isError {
		t.Fatalf("warm transfer: %s\n%s", res.text, line.logs)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	leg.Wait(t)
	caller.Wait(t)
	if strings.Contains(line.logs.String(), "REFER sent") {
		t.Error("a REFER went to a caller that does not support Replaces")
	}
	_, transfers := callTransfers(t, mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`))
	if a := transfers[0].Attempts[0]; !a.Bridged || a.Status != "completed" || !strings.Contains(a.Reason, "does not support Replaces") {
		t.Errorf("attempt on record: %+v", a)
	}
}
