package core_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/voicedock/voicedock/core"
)

func TestDeclinedFollowsOnFailure(t *testing.T) { synctest.Test(t, testDeclinedFollowsOnFailure) }

// A human who declines (presses 2) is a failure on_failure covers: with
// back_to_assistant the fallback destination is not tried, and the caller
// hears on_failure_message.
func testDeclinedFollowsOnFailure(t *testing.T) {
	f, lm, dials := consultFixture(t)
	yes := true
	done := startTransfer(t, f, core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeBridge,
		FallbackDestinations: []string{"sip:desk@pbx.example.com"}, Summary: "Refund", RequireAccept: &yes,
		Routing: core.TransferRouting{OnFailure: core.OnFailureBackToAssistant, OnFailureMessage: "Sales said no."}})
	waitFor(t, func() bool { return slices.Contains(lm.log(), "say leg: "+core.DefaultAcceptPrompt) }, func() string { return fmt.Sprint(lm.log()) })
	lm.signals <- core.LegSignal{Digit: "2"}
	res := <-done
	if !core.HasCode(res.err, core.CodeTransferFailed) || !strings.Contains(res.tr.Reason, "back_to_assistant") {
		t.Fatalf("declined transfer = %+v, %v", res.tr, res.err)
	}
	if len(*dials) != 1 || res.tr.Attempts[0].Status != core.AttemptDeclined || res.tr.Attempts[1].Status != core.TransferCanceled {
		t.Errorf("%d dials, attempts %+v", len(*dials), res.tr.Attempts)
	}
	waitFor(t, func() bool { return slices.Contains(lm.log(), "say caller: Sales said no.") }, func() string { return fmt.Sprint(lm.log()) })
}
