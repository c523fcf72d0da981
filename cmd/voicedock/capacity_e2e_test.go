package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/sip/sipptest"
)

// TestTransfersBeyondCapacity: with VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT=1, a
// new INVITE while a transfer is in flight gets 503 with Retry-After, and
// a transfer asked for by a call answered before is refused `overloaded`
// with retry_after, before anything is stored or sent: that call stays up
// with no transfer on record. The transfer in flight is not lost (it is
// followed until its call ends), and once it has ended, the refused call
// can be transferred.
func TestTransfersBeyondCapacity(t *testing.T) {
	t.Parallel()
	target := sipptest.Start(t, "uas_target_answer.xml", "", sipptest.Options{}, "-set", "ring_ms", "50")
	line := newPhoneLine(t, target.Port(), "VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT=1", "VOICEDOCK_TRANSFER_TIMEOUT=60s")

	// The first caller accepts the REFER and never reports an outcome, so
	// its transfer holds the one slot until its call ends.
	silent := sipptest.Start(t, "uac_transfer_no_final.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	first := line.answered(t)
	// Both calls are answered before the first transfer starts: with every
	// transfer slot taken, a new INVITE is refused.
	caller := sipptest.Start(t, "uac_transfer_ok.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser)
	second := line.answered(t)
	firstDone := make(chan toolResult, 1)
	go func() {
		res, _ := transfer(t, line.c, first, salesNumber)
		firstDone <- res
	}()
	line.logs.waitFor(t, regexp.MustCompile(`msg="REFER sent" component=sip call_id=`+regexp.QuoteMeta(first)), line.offset, 20*time.Second)

	// A new caller is refused 503 with Retry-After while the one transfer
	// slot is taken: it would only wait for a transfer that cannot start.
	busy := sipptest.Start(t, "uac_expect_reject.xml", line.sipAddr, sipptest.Options{}, "-s", calledUser,
		"-set", "expect", "503", "-set", "retry_after", "yes")
	busy.Wait(t)

	refused := call(t, line.c, "transfer_call", `{"call_id":"`+second+`","destination":"`+salesNumber+`"}`)
	if !refused.isError || refused.errorCode() != "overloaded" || !strings.Contains(refused.text, "VOICEDOCK_MAX_TRANSFERS_IN_FLIGHT") {
		t.Fatalf("transfer beyond capacity: %s", refused.text)
	}
	if e := refused.structured["error"].(map[string]any); e["retry_after"] != float64(1) {
		t.Errorf("refusal carries no retry hint: %v", e)
	}
	got := mustCall(t, line.c, "get_call", `{"id":"`+second+`"}`)
	if c := got.structured["call"].(map[string]any); c["status"] != "in-progress" || c["transfers"] != nil && len(c["transfers"].([]any)) != 0 {
		t.Fatalf("the refused call changed: %s", got.json)
	}

	// The accepted transfer is still followed: it ends with its call.
	if s := field(mustCall(t, line.c, "get_call", `{"id":"`+first+`"}`), "call", "status"); s != "in-progress" {
		t.Fatalf("the call with the transfer in flight is %s", s)
	}
	mustCall(t, line.c, "end_call", `{"call_id":"`+first+`"}`)
	if res := <-firstDone; !res.isError {
		t.Fatalf("the transfer in flight when its call ended: %s", res.text)
	}
	ended := mustCall(t, line.c, "get_call", `{"id":"`+first+`"}`)
	if tr := ended.structured["call"].(map[string]any)["transfers"].([]any); len(tr) != 1 || tr[0].(map[string]any)["status"] != "canceled" {
		t.Fatalf("the transfer in flight on record: %s", ended.json)
	}
	silent.Wait(t)

	// The slot is free again: the refused call transfers now.
	if res, _ := transfer(t, line.c, second, salesNumber); res.isError {
		t.Fatalf("transfer once capacity is free: %s", res.text)
	}
	caller.Wait(t)
	target.Wait(t)
}
