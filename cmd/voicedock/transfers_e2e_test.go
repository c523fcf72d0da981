package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"

	"github.com/voicedock/voicedock/sip/sipptest"
)

var calledUser = strings.TrimPrefix(ourNumber, "+")

func callStatus(t *testing.T, c *client.Client, callID string) string {
	t.Helper()
	return field(mustCall(t, c, "get_call", `{"id":"`+callID+`"}`), "call", "status")
}

func TestBusyTargetThenSecondTransfer(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "100")
	line := newLineNoMessage(t, target.Port())
	caller := sipptest.Start(t, "uac_transfer_busy_then_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)

	res, steps := transfer(t, line.c, callID, salesNumber)
	if !res.isError || res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "busy") {
		t.Fatalf("busy transfer: %s", res.text)
	}
	if e := res.structured["error"].(map[string]any); e["sip_status"] != float64(486) {
		t.Errorf("busy transfer error: %v", e)
	}
	checkProgress(t, steps, "failed", line.logs)
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after a busy transfer the call is %s; the caller must stay connected", s)
	}
	res, steps = transfer(t, line.c, callID, salesNumber)
	if res.isError {
		t.Fatalf("second transfer: %s", res.text)
	}
	checkProgress(t, steps, "completed", line.logs)
	caller.Wait(t)
	target.Wait(t)
	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	transfers := got.structured["call"].(map[string]any)["transfers"].([]any)
	if len(transfers) != 2 || transfers[0].(map[string]any)["status"] != "failed" || transfers[1].(map[string]any)["status"] != "completed" {
		t.Errorf("transfers on record: %s", got.json)
	}
}

func TestReferRejected(t *testing.T) {
	t.Parallel()
	line := newLineNoMessage(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_refer_reject.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	res, _ := transfer(t, line.c, callID, salesNumber)
	if res.errorCode() != "transfer_failed" || res.structured["error"].(map[string]any)["sip_status"] != float64(603) {
		t.Fatalf("rejected REFER: %s", res.text)
	}
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after a refused REFER the call is %s", s)
	}
	ended := mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	if field(ended, "call", "status") != "ended" || field(ended, "call", "end_reason") != "assistant_ended" {
		t.Errorf("end_call: %s", ended.json)
	}
	caller.Wait(t)
}

func TestNoFinalNotifyTimesOut(t *testing.T) {
	t.Parallel()
	line := newLineNoMessage(t, sipptest.FreePort(t), "VOICEDOCK_TRANSFER_TIMEOUT=1s")
	caller := sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	res, steps := transfer(t, line.c, callID, salesNumber)
	if res.errorCode() != "transfer_failed" || !strings.Contains(res.text, "no final NOTIFY within 1s") {
		t.Fatalf("silent transferee: %s", res.text)
	}
	checkProgress(t, steps, "failed", line.logs)
	if s := callStatus(t, line.c, callID); s != "in-progress" {
		t.Fatalf("after a timed-out transfer the call is %s", s)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+callID+`"}`)
	caller.Wait(t)
}

func TestCallerHangsUpMidTransfer(t *testing.T) {
	t.Parallel()
	line := newLineNoMessage(t, sipptest.FreePort(t))
	caller := sipptest.Start(t, "uac_hangup_mid_transfer.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	callID := line.answered(t)
	res, _ := transfer(t, line.c, callID, salesNumber)
	if res.errorCode() != "call_not_active" || !strings.Contains(res.text, "hung up") {
		t.Fatalf("caller hung up mid-transfer: %s", res.text)
	}
	caller.Wait(t)
	status, reason := line.ended(t, callID)
	if status != "ended" || reason != "user_hangup" {
		t.Errorf("call ended %s/%s", status, reason)
	}
	got := mustCall(t, line.c, "get_call", `{"id":"`+callID+`"}`)
	tr := got.structured["call"].(map[string]any)["transfers"].([]any)[0].(map[string]any)
	if tr["status"] != "canceled" {
		t.Errorf("transfer on record: %v", tr)
	}
	if r := call(t, line.c, "transfer_call", `{"call_id":"`+callID+`","destination":"`+salesNumber+`"}`); r.errorCode() != "call_not_active" {
		t.Errorf("transfer of an ended call: %s", r.text)
	}
}

func TestCreateCallThroughDigestTrunk(t *testing.T) {
	t.Parallel()
	c, logs := stdioServerVersion(t, "2025-11-25", t.TempDir())
	logs.waitFor(t, sipListening, 0, 20e9)
	trunk := sipptest.Start(t, "uas_trunk_digest.xml", "", sipptest.Options{}, "-set", "user", "acme", "-set", "pass", "s3cret-digest")
	tr := mustCall(t, c, "configure_trunk", `{"name":"Carrier","host":"127.0.0.1","port":`+strconv.Itoa(trunk.Port())+`,"username":"acme","password":"s3cret-digest"}`)
	n := mustCall(t, c, "create_phone_number", `{"phone_number":"`+ourNumber+`","transfer_trunk_id":"`+field(tr, "trunk", "id")+`"}`)
	placed := mustCall(t, c, "create_call", `{"number_id":"`+field(n, "number", "id")+`","destination":"`+salesNumber+`"}`)
	if field(placed, "call", "status") != "in-progress" || field(placed, "call", "direction") != "outbound" {
		t.Fatalf("create_call: %s", placed.json)
	}
	ended := mustCall(t, c, "end_call", `{"call_id":"`+field(placed, "call", "id")+`"}`)
	if field(ended, "call", "status") != "ended" {
		t.Errorf("end_call: %s", ended.json)
	}
	trunk.Wait(t)
	if strings.Contains(logs.String(), "s3cret-digest") {
		t.Error("the trunk password appears in the log")
	}
}

// TestProgressArrivesEveryTime transfers many calls in a row over stdio,
// where mcp-go writes notifications and results from different goroutines,
// and checks every transfer's progress notifications reached the client
// before its result.
func TestProgressArrivesEveryTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		n       int
	}{{"2025-11-25", 100}, {"", 30}} {
		t.Run("protocol="+tc.version, func(t *testing.T) {
			t.Parallel()
			target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{Calls: tc.n, Timeout: 240e9}, "-set", "ring_ms", "20")
			c, logs := stdioServerVersion(t, tc.version, t.TempDir())
			m, off := logs.waitFor(t, sipListening, 0, 20e9)
			line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
			line.configureMessage(t, target.Port(), "") // many transfers: no message to wait through
			caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{Calls: tc.n, Timeout: 240e9}, "-s", calledUser, "-l", "1")
			for i := range tc.n {
				callID := line.answered(t)
				res, steps := transfer(t, line.c, callID, salesNumber)
				if res.isError {
					t.Fatalf("transfer %d: %s", i, res.text)
				}
				checkProgress(t, steps, "completed", line.logs)
			}
			caller.Wait(t)
			target.Wait(t)
		})
	}
}

// TestProgressOverHTTP runs transfers over streamable HTTP, where mcp-go
// streams a request's notifications on its POST before the result.
func TestProgressOverHTTP(t *testing.T) {
	t.Parallel()
	const n = 30
	for _, version := range []string{"", "2025-11-25"} {
		t.Run("protocol="+version, func(t *testing.T) {
			t.Parallel()
			target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{Calls: n, Timeout: 120e9}, "-set", "ring_ms", "20")
			// Each transfer costs a few requests (the helpers look the
			// call up with list_calls): more than the default 100 a
			// minute, which TestRateLimitOverHTTP is about, not this.
			url, logs := httpServer(t, t.TempDir(), "VOICEDOCK_RATE_LIMIT_PER_MINUTE=0")
			m, off := logs.waitFor(t, sipListening, 0, 20e9)
			c := httpClientVersion(t, url, version, nil)
			line := &phoneLine{c: c, logs: logs, sipAddr: m[1], offset: off}
			line.configureMessage(t, target.Port(), "") // many transfers: no message to wait through
			caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{Calls: n, Timeout: 120e9}, "-s", calledUser, "-l", "1")
			for i := range n {
				callID := line.answered(t)
				res, steps := transfer(t, line.c, callID, salesNumber)
				if res.isError {
					t.Fatalf("transfer %d: %s", i, res.text)
				}
				checkProgress(t, steps, "completed", line.logs)
			}
			caller.Wait(t)
			target.Wait(t)
		})
	}
}
