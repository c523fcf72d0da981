package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
)

// configureTransferLine stores what an inbound call needs to be
// transferred: an assistant that may transfer to sales (+31612345678), a
// trunk for the REFER's target, and the number calls come in on
// (+31850835037), through svc.
func configureTransferLine(t testing.TB, svc *core.Configuration) {
	t.Helper()
	ctx := t.Context()
	a, err := svc.CreateAssistant(ctx, core.AssistantConfig{Name: "A", LLMConfig: &core.LLMConfig{Tools: []core.Tool{{
		Type: "transfer_call", Destinations: []core.Destination{{Type: "number", Number: "+31612345678", Description: "sales"}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := svc.ConfigureTrunk(ctx, "", core.TrunkConfig{Name: "pbx", Host: "127.0.0.1", Port: 5070, Transport: "udp"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePhoneNumber(ctx, core.PhoneNumberConfig{PhoneNumber: "+31850835037", AssistantID: &a.ID, TransferTrunkID: &tr.ID}); err != nil {
		t.Fatal(err)
	}
}

// batchSetup is an answered inbound call whose transfer's REFER was
// accepted (202) and stored, with its store's call and transfer writes
// logged from there on, and its events; the NOTIFYs are the test's.
func batchSetup(t *testing.T) (*writeLog, *core.Calls, *core.Subscription, string) {
	t.Helper()
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	st := openStore(t)
	configureTransferLine(t, core.NewConfiguration(st, logger))
	log := &writeLog{Store: st}
	bus := core.NewBus()
	calls := core.NewCalls(ctx, core.CallsConfig{Policy: mustPolicy(t, core.PolicyConfig{AllowedCountries: []string{"*"}}),
		AllowAdhocTransfers: true, DefaultWebhookURL: "http://127.0.0.1:9/hook"}, st, log, bus, logger)
	sip := &scriptedSIP{calls: calls, refer: func(context.Context, string, string) (int, error) { return 202, nil }}
	calls.SetSignaling(sip)
	t.Cleanup(func() { calls.Shutdown(context.Background()) })
	dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: "c1", Called: "31850835037", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	calls.CallAnswered(ctx, dec.CallID)
	sub := bus.Subscribe(func(e core.Event) bool { return e.Call.ID == dec.CallID && e.Transfer != nil })
	t.Cleanup(sub.Close)
	go func() {
		_, _ = calls.Transfer(context.WithoutCancel(ctx), core.TransferRequest{CallID: dec.CallID, Destination: "+31612345678"}, nil)
	}()
	for _, want := range []string{core.TransferRequested, core.TransferAccepted} {
		if got := nextStep(t, sub); got != want {
			t.Fatalf("step %s, want %s", got, want)
		}
	}
	log.mu.Lock()
	log.writes = nil
	log.mu.Unlock()
	return log, calls, sub, dec.CallID
}

// nextStep waits for the next transfer event and returns its status.
func nextStep(t *testing.T, sub *core.Subscription) string {
	t.Helper()
	select {
	case e := <-sub.C:
		return e.Transfer.Status
	case <-time.After(5 * time.Second):
		t.Fatal("no transfer event")
		return ""
	}
}

func (w *writeLog) logged() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes)
}

// NOTIFYs reported together (trying and ringing) are one write: the
// transfer with both steps and the webhook rows of both; each step is
// announced once that write is done, in order, and get_call shows both.
func TestStepsReportedTogetherShareAWrite(t *testing.T) {
	log, calls, sub, id := batchSetup(t)
	// What was written when each step was published (the filter runs in
	// Publish).
	var atPublish []string
	watch := calls.Bus().Subscribe(func(e core.Event) bool {
		if e.Call.ID == id && e.Transfer != nil {
			atPublish = append(atPublish, e.Transfer.Status+": "+strings.Join(log.logged(), ","))
		}
		return false
	})
	defer watch.Close()
	calls.TransferProgress(t.Context(), id, core.ReferProgress{Status: 100}, core.ReferProgress{Status: 180})
	if got, want := log.logged(), []string{"transfer ringing"}; !slices.Equal(got, want) {
		t.Fatalf("writes %v, want %v", got, want)
	}
	for _, want := range []string{core.TransferTrying, core.TransferRinging} {
		if got := nextStep(t, sub); got != want {
			t.Fatalf("step %s, want %s", got, want)
		}
	}
	if want := []string{"trying: transfer ringing", "ringing: transfer ringing"}; !slices.Equal(atPublish, want) {
		t.Fatalf("writes when published %q, want %q", atPublish, want)
	}
	stored, err := log.Store.GetCall(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, s := range stored.Transfers[0].Steps {
		steps = append(steps, s.Status)
	}
	if want := []string{"requested", "accepted", "trying", "ringing"}; !slices.Equal(steps, want) {
		t.Fatalf("stored steps %v, want %v", steps, want)
	}
	rows, _, err := log.Store.ListDeliveries(t.Context(), core.DeliveryFilter{CallID: id, Page: core.Page{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	updates := 0
	for _, d := range rows {
		if d.EventType == core.WebhookTransferUpdate {
			updates++
		}
	}
	if updates != 4 { // requested, accepted, trying, ringing
		t.Fatalf("%d transfer-update rows, want 4", updates)
	}

	// The final NOTIFY alone: the completed step with the call's change.
	calls.TransferProgress(t.Context(), id, core.ReferProgress{Status: 200})
	if got := nextStep(t, sub); got != core.TransferCompleted {
		t.Fatalf("step %s, want completed", got)
	}
	if got, want := log.logged(), []string{"transfer ringing", "transfer completed with call transferred"}; !slices.Equal(got[:min(2, len(got))], want) {
		t.Fatalf("writes %v, want %v first", got, want)
	}
}

// A step left for the next write is stored by that NOTIFY's batch
// whatever the batch makes of the transfer: here the last report repeats
// the one before and changes nothing, and the step is still stored and
// then announced.
func TestStepLeftUnstoredIsStoredByItsBatch(t *testing.T) {
	log, calls, sub, id := batchSetup(t)
	calls.TransferProgress(t.Context(), id, core.ReferProgress{Status: 180}, core.ReferProgress{Status: 180})
	if got, want := log.logged(), []string{"transfer ringing"}; !slices.Equal(got, want) {
		t.Fatalf("writes %v, want %v", got, want)
	}
	if got := nextStep(t, sub); got != core.TransferRinging {
		t.Fatalf("step %s, want ringing", got)
	}
	c, err := calls.GetCall(t.Context(), id)
	if err != nil || c.Transfers[0].Status != core.TransferRinging {
		t.Fatalf("get_call %+v, %v", c.Transfers, err)
	}
}

// The 202 and the first NOTIFY come together (a UA sends the NOTIFY right
// after its 202): when the NOTIFY's report already waits for the call as
// the 202 is applied, the accepted step goes in the trying step's write.
// If the report takes the call first, accepted is implied and not stored
// (as before), so either way it is one write; without the batching the
// 202, which usually takes the lock first, was a write of its own.
func TestAcceptedWaitsForTheNotifyInHand(t *testing.T) {
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)
	st := openStore(t)
	configureTransferLine(t, core.NewConfiguration(st, logger))
	log := &writeLog{Store: st}
	bus := core.NewBus()
	calls := core.NewCalls(ctx, core.CallsConfig{Policy: mustPolicy(t, core.PolicyConfig{AllowedCountries: []string{"*"}}),
		AllowAdhocTransfers: true, DefaultWebhookURL: "http://127.0.0.1:9/hook"}, st, log, bus, logger)
	sip := &scriptedSIP{calls: calls}
	sip.refer = func(_ context.Context, callID, _ string) (int, error) {
		unlock := core.LockCall(calls, callID)
		go calls.TransferProgress(context.Background(), callID, core.ReferProgress{Status: 100})
		deadline := time.Now().Add(5 * time.Second)
		for core.ReportsWaiting(calls, callID) == 0 && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		unlock()
		return 202, nil
	}
	calls.SetSignaling(sip)
	t.Cleanup(func() { calls.Shutdown(context.Background()) })
	for i := range 5 {
		dec := calls.OfferCall(ctx, core.InboundInvite{SIPCallID: fmt.Sprintf("c%d", i), Called: "31850835037", Caller: "+31611122233",
			Source: netip.MustParseAddrPort("127.0.0.1:5099")})
		if dec.CallID == "" {
			t.Fatalf("call refused: %+v", dec)
		}
		calls.CallAnswered(ctx, dec.CallID)
		sub := bus.Subscribe(func(e core.Event) bool { return e.Call.ID == dec.CallID && e.Transfer != nil })
		log.mu.Lock()
		log.writes = nil
		log.mu.Unlock()
		go func() {
			_, _ = calls.Transfer(context.WithoutCancel(ctx), core.TransferRequest{CallID: dec.CallID, Destination: "+31612345678"}, nil)
		}()
		var steps []string
		for len(steps) == 0 || steps[len(steps)-1] != core.TransferTrying {
			steps = append(steps, nextStep(t, sub))
		}
		sub.Close()
		got := log.logged()
		if want := []string{"transfer requested", "transfer trying"}; !slices.Equal(got, want) {
			t.Fatalf("call %d: writes %v (steps %v), want %v", i, got, steps, want)
		}
		stored, err := st.GetCall(ctx, dec.CallID)
		if err != nil || stored.Transfers[0].Status != core.TransferTrying {
			t.Fatalf("stored %+v, %v", stored.Transfers, err)
		}
		calls.CallEnded(ctx, dec.CallID, core.EndCallerHangup)
	}
}
