package core_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/voicedock/voicedock/core"
)

// The transfer timers, on synctest's clock: each fires when it should,
// not a moment before, and the tests take no time.

// TestWarmLegKeptPastTheGraceIsHungUp: a human's phone that does not end
// the call replaced by the caller's (RFC 3891) is hung up by the server
// 5 s (legGrace) after the transfer completed, not before.
func TestWarmLegKeptPastTheGraceIsHungUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const legGrace = 5 * time.Second
		f, _, dials := modesFixture(t, 0)
		f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
			go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
			return 202, nil
		}
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm}, nil)
		if err != nil || tr.Status != core.TransferCompleted {
			t.Fatalf("warm transfer = %+v, %v", tr, err)
		}
		leg := (*dials)[0].CallID
		time.Sleep(legGrace - time.Millisecond)
		synctest.Wait()
		if slices.Contains(f.sip.hangups(), leg) {
			t.Fatal("the human's leg was hung up before the grace ended")
		}
		time.Sleep(time.Millisecond)
		waitFor(t, func() bool { return slices.Contains(f.sip.hangups(), leg) }, func() string { return fmt.Sprint(f.sip.hangups()) })
	})
}

// TestWarmDialTimeout: a destination that rings past the request's
// dial_timeout fails its attempt at that moment, and the caller, taken
// off hold, hears the fallback message.
func TestWarmDialTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, media, _ := modesFixture(t, 0)
		var dialled time.Time
		f.sip.dial = func(ctx context.Context, d core.OutboundDial) error {
			dialled = time.Now()
			<-ctx.Done() // ringing, never answered
			f.calls.CallEnded(context.Background(), d.CallID, core.EndNoAnswer)
			return &core.Error{Code: core.CodeUnavailable, Message: "cancelled", SIPStatus: 487}
		}
		tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Mode: core.ModeWarm, Routing: core.TransferRouting{DialTimeout: 20}}, nil)
		if !core.HasCode(err, core.CodeTransferFailed) || !strings.Contains(tr.Reason, "did not answer within 20s") {
			t.Fatalf("transfer = %+v, %v", tr, err)
		}
		if waited := tr.Attempts[0].EndedAt.Sub(dialled); waited < 20*time.Second || waited > 20*time.Second+time.Millisecond {
			t.Errorf("the attempt failed %s after the dial, want 20s", waited)
		}
		want := []string{"say caller: Connecting you to sales.", "hold caller", "unhold caller", "say caller: " + core.DefaultFallbackMessage}
		waitFor(t, func() bool { return slices.Equal(media.log(), want) }, func() string { return fmt.Sprint(media.log()) })
	})
}
