package core_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicedock/voicedock/core"
	"github.com/voicedock/voicedock/store/sqlite"
)

// TestTransferSlotsAreGivenBack: whatever ends a transfer (completed,
// busy, REFER refused, timed out, the caller hanging up) gives its slot
// back, so that a capacity of one never leaks.
func TestTransferSlotsAreGivenBack(t *testing.T) {
	for name, refer := range map[string]func(f *fixture) func(ctx context.Context, callID, _ string) (int, error){
		"completed": func(f *fixture) func(ctx context.Context, callID, _ string) (int, error) {
			return func(ctx context.Context, callID, _ string) (int, error) {
				go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
				return 202, nil
			}
		},
		"busy": func(f *fixture) func(ctx context.Context, callID, _ string) (int, error) {
			return func(ctx context.Context, callID, _ string) (int, error) {
				go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 486})
				return 202, nil
			}
		},
		"refused": func(f *fixture) func(ctx context.Context, callID, _ string) (int, error) {
			return func(ctx context.Context, callID, _ string) (int, error) { return 603, nil }
		},
		"timed out": func(f *fixture) func(ctx context.Context, callID, _ string) (int, error) {
			return func(ctx context.Context, callID, _ string) (int, error) { return 202, nil }
		},
		"hung up": func(f *fixture) func(ctx context.Context, callID, _ string) (int, error) {
			return func(ctx context.Context, callID, _ string) (int, error) {
				go f.calls.CallEnded(ctx, callID, core.EndCallerHangup)
				return 202, nil
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, core.CallsConfig{MaxTransfersInFlight: 1, TransferTimeout: 200 * time.Millisecond})
			f.sip.refer = refer(f)
			if _, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "sip:desk@pbx.example.com"}, nil); core.HasCode(err, core.CodeOverloaded) {
				t.Fatalf("refused with nothing in flight: %v", err)
			}
			if n := f.calls.TransfersInFlight(); n != 0 {
				t.Fatalf("%d transfers in flight after the transfer ended", n)
			}
		})
	}
}

// TestTransferBeyondCapacity: with one transfer in flight and a capacity
// of one, another call's transfer is refused overloaded with a retry hint,
// and neither call nor store changes; the transfer in flight goes on to
// its outcome, after which the refused one succeeds.
func TestTransferBeyondCapacity(t *testing.T) {
	f := newFixture(t, core.CallsConfig{MaxTransfersInFlight: 1})
	second := f.calls.OfferCall(t.Context(), core.InboundInvite{SIPCallID: "c2", Called: "31850835037", Caller: "+31611122244", Source: netip.MustParseAddrPort("127.0.0.1:5099")})
	if second.CallID == "" {
		t.Fatalf("second call refused: %+v", second)
	}
	f.calls.CallAnswered(t.Context(), second.CallID)

	referred := make(chan struct{})
	release := make(chan struct{})
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		if callID == f.callID {
			close(referred)
			go func() {
				<-release
				f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
			}()
			return 202, nil
		}
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	first := make(chan error, 1)
	go func() {
		_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: f.callID, Destination: "sip:desk@pbx.example.com"}, nil)
		first <- err
	}()
	select {
	case <-referred:
	case <-time.After(10 * time.Second):
		t.Fatal("the first transfer sent no REFER")
	}

	_, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: second.CallID, Destination: "sip:desk@pbx.example.com"}, nil)
	if !core.HasCode(err, core.CodeOverloaded) || core.AsError(err).RetryAfter < 1 {
		t.Fatalf("transfer beyond capacity: %v", err)
	}
	c, err := f.calls.GetCall(t.Context(), second.CallID)
	if err != nil || c.Status != core.CallInProgress || len(c.Transfers) != 0 {
		t.Fatalf("refused call changed: %+v %v", c, err)
	}

	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the transfer in flight: %v", err)
	}
	tr, err := f.calls.Transfer(t.Context(), core.TransferRequest{CallID: second.CallID, Destination: "sip:desk@pbx.example.com"}, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("transfer once a slot is free: %+v %v", tr, err)
	}
}

// stalledStore is the SQLite store too far behind to take a transfer's
// first write while stalled is set: the write waits for its deadline, as
// one queued behind an overload does.
type stalledStore struct {
	*sqlite.Store
	stalled atomic.Bool
}

func (s *stalledStore) SaveTransfer(ctx context.Context, t core.Transfer, out ...core.WebhookDelivery) error {
	if s.stalled.Load() && t.Status == core.TransferRequested {
		<-ctx.Done()
		return fmt.Errorf("save transfer %s: %w", t.ID, ctx.Err())
	}
	return s.Store.SaveTransfer(ctx, t, out...)
}

// TestTransferRefusedWhileTheStoreIsBehind: a transfer whose first write
// is not taken within its deadline is refused overloaded with a retry
// hint, not failed as an internal error: no REFER was sent, nothing was
// stored, the call is as it was, its slot is given back, and new calls
// are refused for a while. Once the store keeps up, the retry succeeds.
func TestTransferRefusedWhileTheStoreIsBehind(t *testing.T) {
	var store *stalledStore
	f := newFixtureWrapped(t, core.CallsConfig{MaxTransfersInFlight: 4}, core.NewBus(), func(st *sqlite.Store) core.CallStore {
		store = &stalledStore{Store: st}
		return store
	})
	core.SetStoreTimeout(f.calls, 50*time.Millisecond)
	f.sip.refer = func(ctx context.Context, callID, _ string) (int, error) {
		go f.calls.TransferProgress(ctx, callID, core.ReferProgress{Status: 200})
		return 202, nil
	}
	req := core.TransferRequest{CallID: f.callID, Destination: "+31612345678"}

	store.stalled.Store(true)
	_, err := f.calls.Transfer(t.Context(), req, nil)
	store.stalled.Store(false)
	e := core.AsError(err)
	if e == nil || e.Code != core.CodeOverloaded || e.RetryAfter != 1 || e.Param != "call_id" {
		t.Fatalf("got %v (%+v), want overloaded on call_id with retry_after 1", err, e)
	}
	if len(f.sip.referTos) != 0 {
		t.Fatalf("a REFER was sent: %v", f.sip.referTos)
	}
	c, err := f.calls.GetCall(t.Context(), f.callID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != core.CallInProgress || len(c.Transfers) != 0 {
		t.Fatalf("the call changed: status %s, %d transfers", c.Status, len(c.Transfers))
	}
	if n := f.calls.TransfersInFlight(); n != 0 {
		t.Fatalf("%d transfers in flight after the refusal", n)
	}
	if f.calls.AdmitCall() {
		t.Fatal("a new call was admitted right after a transfer the store could not take")
	}

	tr, err := f.calls.Transfer(t.Context(), req, nil)
	if err != nil || tr.Status != core.TransferCompleted {
		t.Fatalf("the retry: %v, %+v", err, tr)
	}
}
