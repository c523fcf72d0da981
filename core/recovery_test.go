package core_test

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// TestRecoverAfterRestart: a call and its transfer left live by a killed
// process are ended at the next start with server_restart (the transfer
// canceled as a stop cancels it), announced with their webhooks once; a second start adds nothing.
func TestRecoverAfterRestart(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	svc := core.NewConfiguration(st, slog.New(slog.DiscardHandler))
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", WebhookURL: "http://127.0.0.1:9/hook"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	started := now.Add(-time.Minute)
	callID, _ := core.NewID()
	live := core.Call{ID: callID, Direction: core.DirectionInbound, Status: core.CallInProgress, AssistantID: a.ID,
		StartedAt: &started, CreatedAt: started, UpdatedAt: started}
	if err := st.CreateCall(ctx, live); err != nil {
		t.Fatal(err)
	}
	trID, _ := core.NewID()
	tr := core.Transfer{ID: trID, CallID: callID, Destination: "sip:desk@127.0.0.1", DestinationType: "sip", Status: core.TransferTrying,
		Attempt: 1, Attempts: []core.TransferAttempt{{Destination: "sip:desk@127.0.0.1", DestinationType: "sip", Status: core.TransferTrying}},
		Steps: []core.TransferStep{{Status: core.TransferRequested, At: now}, {Status: core.TransferTrying, SIPStatus: 100, At: now}}, CreatedAt: now, UpdatedAt: now}
	if err := st.SaveTransfer(ctx, tr); err != nil {
		t.Fatal(err)
	}
	doneID, _ := core.NewID()
	ended := now
	if err := st.CreateCall(ctx, core.Call{ID: doneID, Direction: core.DirectionInbound, Status: core.CallEnded, AssistantID: a.ID,
		EndReason: core.EndCallerHangup, EndedAt: &ended, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	start := func() int {
		calls := core.NewCalls(ctx, core.CallsConfig{}, st, st, core.NewBus(), slog.New(slog.DiscardHandler))
		n, err := calls.RecoverAfterRestart(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := start(); n != 1 {
		t.Fatalf("ended %d calls, want 1", n)
	}
	got, err := st.GetCall(ctx, callID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != core.CallEnded || got.EndReason != core.EndServerRestart || got.EndedAt == nil || len(got.Transfers) != 1 {
		t.Fatalf("call after recovery: %+v", got)
	}
	if gt := got.Transfers[0]; gt.Status != core.TransferCanceled || gt.Reason != core.TransferStoppedReason || gt.EndedAt == nil ||
		gt.Attempts[0].Status != core.TransferCanceled {
		t.Fatalf("transfer after recovery: %+v", gt)
	}
	if other, _ := st.GetCall(ctx, doneID); other.EndReason != core.EndCallerHangup {
		t.Fatalf("an ended call was touched: %+v", other)
	}
	events := func() []string {
		list, _, err := st.ListDeliveries(ctx, core.DeliveryFilter{CallID: callID, Page: core.Page{Limit: 100}})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range list {
			out = append(out, d.EventType)
		}
		slices.Sort(out)
		return out
	}
	want := []string{core.WebhookEndOfCallReport, core.WebhookStatusUpdate, core.WebhookTransferUpdate}
	if got := events(); !slices.Equal(got, want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	if n := start(); n != 0 || len(events()) != 3 {
		t.Fatalf("a second start ended %d calls, deliveries %v", n, events())
	}
}
