package core_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/voicedock/voicedock/core"
)

// TestCallCommandLimit: a call takes CommandsPerMinute transfers and
// hang-ups, shared between them; the next is rate_limit_exceeded with
// retry_after and sends nothing; another call has its own budget; the
// limit goes with the call.
func TestCallCommandLimit(t *testing.T) {
	f := newFixture(t, core.CallsConfig{CommandsPerMinute: 3})
	f.sip.refer = func(context.Context, string, string) (int, error) { return 603, nil }
	ctx := t.Context()

	// A refused REFER leaves the caller connected: three transfers go out.
	for i := range 3 {
		_, err := f.calls.Transfer(ctx, core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) {
			t.Fatalf("transfer %d: %v", i+1, err)
		}
	}
	_, err := f.calls.Transfer(ctx, core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil)
	e := core.AsError(err)
	if e == nil || e.Code != core.CodeRateLimitExceeded || e.Param != "call_id" || e.RetryAfter < 1 || e.RetryAfter > 20 {
		t.Fatalf("fourth transfer: %+v", e)
	}
	// end_call shares the call's budget.
	if _, err := f.calls.EndCall(ctx, f.callID); !core.HasCode(err, core.CodeRateLimitExceeded) {
		t.Fatalf("end_call over the limit: %v", err)
	}
	f.sip.mu.Lock()
	referred, hungUp := len(f.sip.referTos), len(f.sip.hungUp)
	f.sip.mu.Unlock()
	if referred != 3 || hungUp != 0 {
		t.Fatalf("sent %d REFERs and %d BYEs; the refused commands must send nothing", referred, hungUp)
	}
	c, err := f.calls.GetCall(ctx, f.callID)
	if err != nil || len(c.Transfers) != 3 || c.Status != core.CallInProgress {
		t.Fatalf("call after the refusals: %+v %v", c, err)
	}

	// Another call has its own budget.
	dec := f.calls.OfferCall(ctx, core.InboundInvite{SIPCallID: "c2", Called: "31850835037", Caller: "+31611122244", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("second call refused: %+v", dec)
	}
	f.calls.CallAnswered(ctx, dec.CallID)
	if ended, err := f.calls.EndCall(ctx, dec.CallID); err != nil || ended.Live() {
		t.Fatalf("end_call on another call: %+v %v", ended, err)
	}

	// When the call ends its limiter goes with it: what is left is the
	// answer for a call that is not live.
	f.calls.CallEnded(ctx, f.callID, core.EndCallerHangup)
	if _, err := f.calls.Transfer(ctx, core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil); !core.HasCode(err, core.CodeCallNotActive) {
		t.Fatalf("transfer on the ended call: %v", err)
	}
}

// TestCallCommandsUnlimitedByDefault: CallsConfig's zero value sets no
// limit (cmd sets VOICEDOCK_CALL_COMMANDS_PER_MINUTE's default).
func TestCallCommandsUnlimitedByDefault(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	f.sip.refer = func(context.Context, string, string) (int, error) { return 603, nil }
	for i := range 15 {
		if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil); !core.HasCode(err, core.CodeTransferFailed) {
			t.Fatalf("transfer %d: %v", i+1, err)
		}
	}
}
