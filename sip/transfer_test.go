package sip

import (
	"context"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// TestTransferFollowedToTarget: the transferee accepts the REFER, really
// calls the target (a second sipp), relays 100/180/200 in NOTIFYs, and the
// UA leaves the call with BYE once the transfer completed.
func TestTransferFollowedToTarget(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	h := startUA(t, rec, nil)
	rec.hangUpOnSuccess(h.ua)
	target := startSipp(t, "uas_target_answer.xml", "")
	caller := startSipp(t, "uac_transfer_ok.xml", h.addr, "-s", "+31201234567")
	id := rec.expect(t, "answered").callID

	status, err := h.ua.Refer(context.Background(), id, "sip:+31207654321@"+target.addr())
	if err != nil || status != 202 {
		t.Fatalf("Refer = %d, %v; want 202, nil", status, err)
	}
	rec.expectProgress(t, id, 100, "Trying")
	rec.expectProgress(t, id, 180, "Ringing")
	rec.expectProgress(t, id, 200, "OK")
	rec.expectEnded(t, id, core.EndAssistantHangup)
	caller.wait(t)
	target.wait(t)
	if n := rec.endedCount(id); n != 1 {
		t.Errorf("CallEnded reported %d times", n)
	}
}
