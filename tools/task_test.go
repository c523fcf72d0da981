package tools

import (
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestTransferResultOfACanceledTransfer: a task whose own result was lost
// answers from the stored transfer as the tool would have: a transfer
// canceled with its call (a hang-up, the server stopping) is
// call_not_active, as core answers it; only one canceled while its call
// goes on leaves the caller connected. The stored answer said "the
// caller is still connected" of a call the stop had ended.
func TestTransferResultOfACanceledTransfer(t *testing.T) {
	at := time.Now()
	tr := core.Transfer{ID: "tr-1", CallID: "call-1", Destination: "+31612345678", Status: core.TransferCanceled,
		Reason: core.TransferStoppedReason, EndedAt: &at}
	for _, c := range []struct {
		callLive bool
		code     core.Code
		message  string
	}{
		{false, core.CodeCallNotActive, "transfer canceled: " + core.TransferStoppedReason},
		{true, core.CodeTransferFailed, "transfer to +31612345678 canceled: " + core.TransferStoppedReason + "; the caller is still connected"},
	} {
		_, err := TransferResult(tr, c.callLive)
		if !core.HasCode(err, c.code) {
			t.Fatalf("call live %v: %v, want %s", c.callLive, err, c.code)
		}
		if got := err.(*core.Error).Message; got != c.message {
			t.Errorf("call live %v: %q, want %q", c.callLive, got, c.message)
		}
	}
}
