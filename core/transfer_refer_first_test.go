package core_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// The REFER does not wait for the requested step's report: a client's
// progress notification may wait for room in its session's queue.
func TestReferDoesNotWaitForTheFirstStepReport(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	st := openStore(t)
	configureTransferLine(t, core.NewConfiguration(st, logger))
	calls := core.NewCalls(ctx, core.CallsConfig{Policy: mustPolicy(t, core.PolicyConfig{AllowedCountries: []string{"*"}})}, st, st, core.NewBus(), logger)
	referred := make(chan struct{})
	sip := &scriptedSIP{calls: calls}
	sip.refer = func(_ context.Context, callID, _ string) (int, error) {
		close(referred)
		go calls.TransferProgress(context.Background(), callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	calls.SetSignaling(sip)
	t.Cleanup(func() { calls.Shutdown(context.Background()) })
	dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: "c1", Called: "31850835037", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	calls.CallAnswered(ctx, dec.CallID)
	var steps []string
	got, err := calls.Transfer(ctx, core.TransferRequest{CallID: dec.CallID, Destination: "+31612345678"}, func(s core.Transfer) {
		if s.Status == core.TransferRequested {
			select { // the report of the first step waits for the REFER
			case <-referred:
			case <-time.After(5 * time.Second):
				t.Error("no REFER while the requested step was being reported")
			}
		}
		steps = append(steps, s.Status)
	})
	if err != nil || got.Status != core.TransferCompleted {
		t.Fatalf("transfer %s, %v", got.Status, err)
	}
	if steps[0] != core.TransferRequested || steps[len(steps)-1] != core.TransferCompleted {
		t.Fatalf("steps reported %v: want requested first, completed last", steps)
	}
}
