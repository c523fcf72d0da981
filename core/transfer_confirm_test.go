package core_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/voicedock/voicedock/core"
)

// asker is a ConfirmFunc that records what it was asked.
type asker struct {
	mu     sync.Mutex
	asked  []core.Confirmation
	answer func(ctx context.Context) (bool, error)
}

func (a *asker) confirm(ctx context.Context, q core.Confirmation) (bool, error) {
	a.mu.Lock()
	a.asked = append(a.asked, q)
	a.mu.Unlock()
	return a.answer(ctx)
}

func (a *asker) questions() []core.Confirmation {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]core.Confirmation(nil), a.asked...)
}

func completes(f *fixture) {
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
}

func TestAdhocConfirmedByTheUser(t *testing.T) {
	// Ad-hoc transfers are off: the user's yes decides.
	f := newFixture(t, core.CallsConfig{})
	completes(f)
	a := &asker{answer: func(context.Context) (bool, error) { return true, nil }}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{
		CallID: f.callID, Destination: "+31201234567", RequestedBy: "stdio", Confirm: a.confirm, ConfirmVia: "elicitation",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != core.TransferCompleted || tr.ConfirmedBy != "elicitation" || tr.RequestedBy != "stdio" {
		t.Errorf("transfer %+v", tr)
	}
	qs := a.questions()
	if len(qs) != 1 {
		t.Fatalf("asked %+v", qs)
	}
	want := core.Confirmation{Destination: "+31201234567", Region: "NL", NumberType: "fixed_line", Assistant: "A"}
	if qs[0] != want {
		t.Errorf("asked %+v, want %+v", qs[0], want)
	}
	if msg := qs[0].Message(); msg != "Transfer the caller to +31201234567 (NL, fixed line)? It is not one of A's transfer destinations." {
		t.Errorf("message %q", msg)
	}
	c, err := f.calls.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Transfers) != 1 || c.Transfers[0].ConfirmedBy != "elicitation" {
		t.Errorf("stored transfers %+v", c.Transfers)
	}
}

// TestAdhocRefusedWithoutTheUsersYes runs on synctest's clock, so that
// the production bound on the user's answer is kept to the instant.
func TestAdhocRefusedWithoutTheUsersYes(t *testing.T) {
	tests := []struct {
		name   string
		answer func(ctx context.Context) (bool, error)
		reason string
		// bounded: the refusal comes when the bound ends, not at once.
		bounded bool
	}{
		{"decline", func(context.Context) (bool, error) { return false, nil }, "the user declined", false},
		{"error", func(context.Context) (bool, error) { return false, errors.New("client went away") }, "could not be asked", false},
		{"timeout", func(ctx context.Context) (bool, error) { <-ctx.Done(); return false, ctx.Err() }, "did not confirm the transfer to +31201234567 within 1m0s", true},
		// An asker that ignores ctx is not waited for past the bound (it
		// is by Shutdown, which has a bound of its own).
		{"stuck", func(context.Context) (bool, error) {
			time.Sleep(core.DefaultConfirmTimeout + time.Second)
			return true, nil
		}, "within 1m0s", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Ad-hoc transfers are on: the user's no still decides.
				f := newFixture(t, core.CallsConfig{AllowAdhocTransfers: true})
				completes(f)
				a := &asker{answer: tt.answer}
				start := time.Now()
				_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31201234567", Confirm: a.confirm}, nil)
				if !core.HasCode(err, core.CodeDestinationNotAllowed) || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("err %v, want destination_not_allowed with %q", err, tt.reason)
				}
				want := time.Duration(0)
				if tt.bounded {
					want = core.DefaultConfirmTimeout
				}
				if waited := time.Since(start); waited != want {
					t.Errorf("refused after %s, want %s", waited, want)
				}
				if len(a.questions()) != 1 {
					t.Errorf("asked %d times", len(a.questions()))
				}
				f.sip.mu.Lock()
				referTos := len(f.sip.referTos)
				f.sip.mu.Unlock()
				if referTos != 0 {
					t.Errorf("a refused transfer reached SIP")
				}
				c, err := f.calls.GetCall(t.Context(), f.callID)
				if err != nil {
					t.Fatal(err)
				}
				if c.Status != core.CallInProgress || len(c.Transfers) != 1 || c.Transfers[0].Status != core.TransferFailed ||
					!strings.Contains(c.Transfers[0].Reason, tt.reason) || c.Transfers[0].ConfirmedBy != "" {
					t.Errorf("call %+v transfers %+v", c, c.Transfers)
				}
				// The refusal is not an attempt, and the call can go on.
				if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}, nil); err != nil {
					t.Errorf("next transfer: %v", err)
				}
			})
		})
	}
}

func TestConfirmationIsOnlyForAdhocDestinations(t *testing.T) {
	f := newFixture(t, core.CallsConfig{AllowAdhocTransfers: true})
	a := &asker{answer: func(context.Context) (bool, error) { return true, nil }}
	// Denied types and emergency numbers are refused without asking.
	for _, dest := range []string{"+449098790000", "+31112"} {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: dest, Confirm: a.confirm}, nil)
		if !core.HasCode(err, core.CodeDestinationNotAllowed) && !core.HasCode(err, core.CodeInvalidRequest) {
			t.Errorf("%s: %v", dest, err)
		}
	}
	if qs := a.questions(); len(qs) != 0 {
		t.Fatalf("asked about refused destinations: %+v", qs)
	}
	// The assistant's own destinations are not asked about.
	completes(f)
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31612345678", Confirm: a.confirm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if qs := a.questions(); len(qs) != 0 || tr.ConfirmedBy != "" {
		t.Errorf("asked %+v; transfer %+v", qs, tr)
	}
}

func TestAssistantForbiddingAdhocIsNotAsked(t *testing.T) {
	f := newFixture(t, core.CallsConfig{AllowAdhocTransfers: true})
	c, err := f.calls.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateAssistant(t.Context(), c.AssistantID, []byte(`{"transfer_policy":{"allow_adhoc":false}}`)); err != nil {
		t.Fatal(err)
	}
	// A call keeps its assistant as it began: a new call sees the change.
	dec := f.calls.OfferCall(t.Context(), core.InboundInvite{SIPCallID: "c2", Called: "31850835037", Caller: "+31611122233", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if dec.CallID == "" {
		t.Fatalf("call refused: %+v", dec)
	}
	f.calls.CallAnswered(t.Context(), dec.CallID)
	a := &asker{answer: func(context.Context) (bool, error) { return true, nil }}
	_, err = f.calls.Transfer(t.Context(), core.TransferRequest{CallID: dec.CallID, Destination: "+31201234567", Confirm: a.confirm}, nil)
	if !core.HasCode(err, core.CodeDestinationNotAllowed) || !strings.Contains(err.Error(), "allow_adhoc is false") {
		t.Errorf("err %v", err)
	}
	if len(a.questions()) != 0 {
		t.Errorf("asked %+v", a.questions())
	}
}

func TestCallEndingWhileTheUserThinks(t *testing.T) {
	f := newFixture(t, core.CallsConfig{})
	completes(f)
	asked := make(chan struct{})
	release := make(chan struct{})
	a := &asker{answer: func(context.Context) (bool, error) {
		close(asked)
		<-release
		return true, nil
	}}
	done := make(chan error, 1)
	go func() {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "+31201234567", Confirm: a.confirm}, nil)
		done <- err
	}()
	<-asked
	// The call's lock is not held while the user thinks: the call can end.
	f.calls.CallEnded(t.Context(), f.callID, core.EndCallerHangup)
	close(release)
	if err := <-done; !core.HasCode(err, core.CodeCallNotActive) {
		t.Errorf("err %v", err)
	}
	if len(f.sip.referTos) != 0 {
		t.Error("a REFER went out for an ended call")
	}
}
